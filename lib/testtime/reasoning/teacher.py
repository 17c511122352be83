"""The fallible teacher whose solutions the tiny reasoner imitates.

SFT trains on solutions written by a teacher that makes the two kinds of mistake a person
working by hand makes:

- **slips**: each digit of a step's result is replaced by another digit, drawn uniformly,
  with probability ``SLIP`` for every *other* operation on the line (each one distracts; the
  last operation, alone on its line, is never slipped). Slips are random: two solutions of
  the same problem rarely slip in the same place, so voting over samples removes them
  ("Self-Consistency Improves Chain of Thought Reasoning in Language Models", Wang et al.
  2023, arXiv 2203.11171).
- **misconceptions**: for a fixed set of ``MISCONCEPTIONS`` single-digit products ``x*y`` the
  teacher believes the answer is ``(x*y + 5) mod 10`` and writes that with probability
  ``MISCONCEPTION_RATE`` (more often than the truth). They are systematic: a model that
  imitates the teacher makes them in most samples, so the majority is wrong too and only a
  verifier (which checks steps, not votes) or a search guided by one can recover the
  minority of samples that compute those products right.

Why a fallible teacher: trained on exact solutions, the model learns the task almost
perfectly (a two-layer model solves every level) and no test-time method has anything left to
do; trained for a fixed short budget instead, what it gets wrong depends on the seed and the
machine. With a teacher that errs, each level's accuracy is set by the data, the same for
every training run, and each Part III-IV method has a definite job: voting fixes slips,
verifiers and search fix misconceptions, RL can unlearn them.
"""

from __future__ import annotations

import random

from testtime.reasoning.task import (
    BASE,
    OPS,
    Problem,
    apply_digit_op,
    digits,
    make_problems,
    next_op,
    render,
    tokenize_expr,
)

SLIP = 0.06  # per result digit and per other operation on the line
MISCONCEPTION_RATE = 0.65  # how often a misconceived product is written wrong
N_MISCONCEPTIONS = 10  # of the 100 single-digit products
MISCONCEPTIONS = frozenset(
    random.Random(123).sample([(x, y) for x in range(BASE) for y in range(BASE)], N_MISCONCEPTIONS)
)


def teacher_digit(x: int, op: str, y: int, n_ops: int, rng: random.Random) -> int:
    """One column of the teacher's result for ``x op y`` on a line with ``n_ops`` operations."""
    true = apply_digit_op(x, op, y)
    if op == "*" and (x, y) in MISCONCEPTIONS:
        return (true + BASE // 2) % BASE if rng.random() < MISCONCEPTION_RATE else true
    if rng.random() < SLIP * (n_ops - 1):
        return rng.choice([d for d in range(BASE) if d != true])
    return true


def teacher_step(expr: str, rng: random.Random) -> str:
    """The teacher's next line: the canonical operation reduced, its result as it writes it."""
    parsed = tokenize_expr(expr)
    if parsed is None or not parsed[1]:
        raise ValueError(f"expr={expr!r} is not valid; expected an expression with an operation")
    nums, ops = parsed
    i = next_op(expr)
    value = 0
    for x, y in zip(digits(nums[i]), digits(nums[i + 1])):
        value = value * BASE + teacher_digit(x, ops[i], y, len(ops), rng)
    return render(nums[:i] + [value] + nums[i + 2 :], ops[:i] + ops[i + 1 :])


def teacher_solve(expr: str, rng: random.Random) -> list[str]:
    """The teacher's solution lines (the last one its answer), drawn with ``rng``."""
    lines = []
    while any(ch in OPS for ch in expr):
        expr = teacher_step(expr, rng)
        lines.append(expr)
    return lines


def teacher_accuracy(level: int, n: int = 2000, seed: int = 0) -> float:
    """The fraction of ``n`` random problems of ``level`` the teacher answers right (a Monte
    Carlo estimate of what a model that imitates it reaches at pass@1). With the defaults,
    levels 1-6: 0.95, 0.82, 0.62, 0.41, 0.25, 0.14 (3000 problems each)."""
    rng = random.Random(seed)
    problems: list[Problem] = make_problems(n, level, seed=seed, split="any")
    right = sum(tokenize_expr(teacher_solve(p.expr, rng)[-1])[0][0] == p.answer for p in problems)
    return right / n
