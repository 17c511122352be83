"""The fallible teacher SFT imitates: exact when its error rates are zero, slips at the stated
rate, misconceptions where stated, and a level-by-level accuracy that falls with the level."""

import random

import pytest

from testtime.reasoning import teacher
from testtime.reasoning.task import apply_digit_op, digits, make_problems, next_op, solve, tokenize_expr


def test_without_errors_the_teacher_writes_the_canonical_solution(monkeypatch):
    monkeypatch.setattr(teacher, "SLIP", 0.0)
    monkeypatch.setattr(teacher, "MISCONCEPTION_RATE", 0.0)
    rng = random.Random(0)
    for p in make_problems(20, seed=1, split="any"):
        assert teacher.teacher_solve(p.expr, rng) == solve(p.expr)


def test_slips_and_misconceptions_happen_at_their_rates():
    rng = random.Random(0)
    misconceived = sorted(teacher.MISCONCEPTIONS)
    assert len(misconceived) == teacher.N_MISCONCEPTIONS
    for n_ops in (1, 4):  # the other operations on the line are what distracts
        wrong = sum(teacher.teacher_digit(3, "+", 4, n_ops, rng) != 7 for _ in range(20000))
        assert wrong / 20000 == pytest.approx(teacher.SLIP * (n_ops - 1), abs=0.01)
    x, y = misconceived[0]
    written = [teacher.teacher_digit(x, "*", y, 1, rng) for _ in range(20000)]
    believed = (apply_digit_op(x, "*", y) + 5) % 10
    assert sum(d == believed for d in written) / 20000 == pytest.approx(
        teacher.MISCONCEPTION_RATE, abs=0.015)
    assert set(written) == {believed, apply_digit_op(x, "*", y)}  # no slips on top


def test_each_step_reduces_the_canonical_operation_and_only_its_result_can_be_wrong():
    rng = random.Random(1)
    for p in make_problems(50, (2, 5), seed=2, split="any"):
        line = p.expr
        for written in teacher.teacher_solve(p.expr, rng):
            nums, ops = tokenize_expr(line)
            i = next_op(line)
            new_nums, new_ops = tokenize_expr(written)
            assert new_ops == ops[:i] + ops[i + 1 :]
            assert new_nums[:i] + new_nums[i + 1 :] == nums[:i] + nums[i + 2 :]
            assert len(digits(new_nums[i])) == 2
            line = written
    with pytest.raises(ValueError, match="expr="):
        teacher.teacher_step("37", rng)


def test_accuracy_falls_with_the_level_from_easy_to_hard():
    accuracy = [teacher.teacher_accuracy(level, n=600) for level in (1, 3, 6)]
    assert accuracy[0] > 0.92 and accuracy[2] < 0.2
    assert accuracy[0] > accuracy[1] > accuracy[2]
