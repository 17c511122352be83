"""The tiny reasoner: task generation, format, verifiers, pass@k, sampling helpers."""

import itertools
import random
from math import comb

import numpy as np
import pytest
import torch

from testtime.models import GPTConfig, TinyGPT
from testtime.reasoning import (
    BLOCK_SIZE,
    EOS_ID,
    LEVELS,
    PAD_ID,
    PROMPT_LEN,
    TOKENIZER,
    Problem,
    check_step,
    correctness,
    decode_completions,
    encode_examples,
    encode_prompts,
    evaluate,
    first_error,
    format_prompt,
    generated_tokens,
    is_correct,
    make_problems,
    parse_answer,
    pass_at_k,
    pass_at_k_by_level,
    reasoner_config,
    reduce_at,
    sample_continuations,
    sample_solutions,
    solve,
    split_of,
    split_steps,
    step_labels,
    target_completion,
    train_reasoner,
)


def brute_eval(expr: str) -> int:
    # Python's own precedence on the integers, then mod 10 (a ring, so it commutes)
    return eval(expr) % 10  # noqa: S307 - digits and +-* only


def test_evaluate_matches_python_and_solution_ends_in_answer():
    rng = random.Random(0)
    for level in range(1, 9):
        for _ in range(50):
            p = make_problems(1, level, seed=rng.getrandbits(32), split="any")[0]
            assert p.answer == brute_eval(p.expr) == evaluate(p.expr)
            lines = solve(p.expr)
            assert len(lines) == level and lines[-1] == str(p.answer)
            assert all(evaluate(line) == p.answer for line in lines)
            lengths = [len(line) for line in lines]
            assert lengths == [2 * (level - i) + 1 for i in range(1, level + 1)]


def test_canonical_order_and_reduce_at():
    assert solve("3+4*2-5") == ["3+8-5", "1-5", "6"]
    assert solve("2-3-4") == ["9-4", "5"]  # left to right, not 2-(3-4)
    assert reduce_at("3+4*2-5", 2) == "3+4*7"
    assert evaluate("3+") is None and evaluate("33") is None and evaluate("") is None
    with pytest.raises(ValueError, match="i="):
        reduce_at("3+4", 1)


def test_make_problems_is_deterministic_and_respects_split():
    a = make_problems(20, seed=3, split="test")
    b = make_problems(20, seed=3, split="test")
    assert a == b and len(a) == 20 * len(LEVELS)
    assert [p.level for p in a] == sorted(p.level for p in a)
    assert all(split_of(p.expr) == "test" for p in a)
    train = make_problems(20, seed=3, split="train")
    assert all(split_of(p.expr) == "train" for p in train)
    assert {p.expr for p in a}.isdisjoint({p.expr for p in train})
    fraction = np.mean([split_of(p.expr) == "test" for p in make_problems(500, 5, split="any")])
    assert 0.12 < fraction < 0.28
    assert make_problems(5, seed=1) != make_problems(5, seed=2)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="split="):
        make_problems(1, split="dev")
    with pytest.raises(ValueError, match="level="):
        make_problems(1, 9)
    with pytest.raises(ValueError, match="n="):
        make_problems(0)
    with pytest.raises(ValueError, match="size="):
        reasoner_config("huge")
    with pytest.raises(ValueError, match="k="):
        pass_at_k(4, 1, 5)


def test_prompt_format_and_sft_targets():
    problems = make_problems(2, seed=0)
    prompts = encode_prompts(problems)
    assert prompts.shape == (len(problems), PROMPT_LEN)
    assert TOKENIZER.decode(prompts[0]).strip() == problems[0].expr
    x, y = encode_examples(problems)
    assert x.shape == y.shape and x.shape[1] <= BLOCK_SIZE
    for i, p in enumerate(problems):
        target = TOKENIZER.decode([t for t in y[i].tolist() if t != -100])
        assert target == target_completion(p)
        assert (y[i, : PROMPT_LEN - 1] == -100).all()
        # the model input is the sequence shifted by one
        seq = TOKENIZER.encode(format_prompt(p.expr) + target)
        assert x[i, : len(seq) - 1].tolist() == seq[:-1]
    # the longest problem fits in the block
    longest = Problem("1+" * 8 + "1", 9, 8)
    x, _ = encode_examples([longest])
    assert x.shape[1] + 1 == BLOCK_SIZE


def test_verifiers_on_constructed_cases():
    p = Problem("3+4*2-5", 6, 3)
    good = "3+8-5\n1-5\n6$"
    assert is_correct(p, good) and first_error(p, good) is None
    assert step_labels(p, good) == [True, True, True]
    assert split_steps(good) == ["3+8-5\n", "1-5\n", "6$"]
    # precedence broken at step 0: 3+4 reduced before 4*2
    assert first_error(p, "7*2-5\n4-5\n9$") == 0 and not is_correct(p, "7*2-5\n4-5\n9$")
    # arithmetic slip at step 1, then locally valid steps: the prefix labels stay False
    assert step_labels(p, "3+8-5\n2-5\n7$") == [True, False, False]
    # a wrong route that lands on the right answer: outcome right, process wrong
    lucky = "3+8-5\n2-6\n6$"  # 2-6 has the right value but is no reduction
    assert is_correct(p, lucky) and first_error(p, lucky) == 1
    # reducing 8-5 first is a valid step too: 3+(8-5) has the same value
    assert first_error(p, "3+8-5\n3+3\n6$") is None
    # skipping a step (two operations at once) is invalid
    assert first_error(p, "1-5\n6$") == 0
    # a valid reduction in a non-canonical order is valid
    assert check_step("1*2+3*3", "1*2+9\n") and check_step("1*2+3*3", "2+3*3\n")
    # stopping early, or not stopping at the answer
    assert first_error(p, "3+8-5$") == 0 and parse_answer("3+8-5$") is None
    assert first_error(p, "3+8-5\n1-5\n6\n") == 2
    # a cut-off completion: the unterminated tail is the invalid step, no answer
    assert first_error(p, "3+8-5\n1-") == 1 and parse_answer("3+8-5\n1-") is None
    # a valid unfinished prefix has no error yet
    assert first_error(p, "3+8-5\n") is None and not is_correct(p, "3+8-5\n")
    assert parse_answer("6$") == 6 and parse_answer("x$") is None and parse_answer("") is None


def test_canonical_solutions_pass_every_verifier():
    for p in make_problems(30, range(1, 9), seed=5, split="any"):
        c = target_completion(p)
        assert is_correct(p, c) and first_error(p, c) is None


def test_pass_at_k_matches_brute_force_enumeration():
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))
                brute = np.mean([any(i < c for i in s) for s in subsets])
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)
                assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    # stable where the binomials are huge
    assert pass_at_k(2000, 1, 1) == pytest.approx(1 / 2000)
    assert 0.0 < pass_at_k(10_000, 3, 100) < 1.0


def test_pass_at_k_by_level_and_correctness():
    problems = [Problem("1+1", 2, 1), Problem("1+1*1", 2, 2)]
    completions = [["2$", "3$", "2$", "1\n"], ["3$", "3$", "3$", "2$"]]
    corr = correctness(problems, completions)
    assert corr.tolist() == [[True, False, True, False], [False, False, False, True]]
    by = pass_at_k_by_level(problems, corr, [1, 4])
    assert by[1][1] == pytest.approx(0.5) and by[2][1] == pytest.approx(0.25)
    assert by[1][4] == 1.0 and by[2][4] == 1.0
    assert generated_tokens(completions) == sum(len(c) for cs in completions for c in cs)


def _tiny_model() -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=BLOCK_SIZE,
                             n_layer=1, n_head=2, n_embd=16)).eval()


def test_sampling_helpers_are_reproducible_and_consistent_with_generate():
    model = _tiny_model()
    problems = make_problems(2, (1, 3), seed=0)
    a = sample_solutions(model, problems, 3, generator=torch.Generator().manual_seed(1))
    b = sample_solutions(model, problems, 3, generator=torch.Generator().manual_seed(1))
    assert a == b and len(a) == 4 and all(len(cs) == 3 for cs in a)
    # the same as one call of TinyGPT.generate on the repeated prompts
    prompts = encode_prompts(problems).repeat_interleave(3, dim=0)
    tokens = model.generate(prompts, BLOCK_SIZE - PROMPT_LEN,
                            generator=torch.Generator().manual_seed(1),
                            stop_tokens=[EOS_ID], pad_token=PAD_ID)
    assert [c for cs in a for c in cs] == decode_completions(tokens)
    # chunked batches give the same samples when the generator is consumed the same way
    greedy = sample_solutions(model, problems, 2, temperature=0)
    assert greedy == sample_solutions(model, problems, 2, temperature=0, batch_size=3)
    for cs in a:
        for c in cs:
            assert len(c) <= BLOCK_SIZE - PROMPT_LEN and ("$" not in c or c.endswith("$"))


def test_sample_continuations_stop_at_one_step():
    model = _tiny_model()
    p = Problem("3+4*2-5", 6, 3)
    prefixes = ["", "3+8-5\n", "3+8-5\n1-5\n", "3+8-5\n"]
    new = sample_continuations(model, [p] * 4, prefixes, generator=torch.Generator().manual_seed(0))
    assert len(new) == 4
    for text in new:
        assert text.count("\n") + text.count("$") <= 1
        assert text == "" or text[-1] in "\n$" or len(text) >= 1
    greedy = sample_continuations(model, [p] * 4, prefixes, temperature=0)
    assert greedy[1] == greedy[3]
    with pytest.raises(ValueError, match="until="):
        sample_continuations(model, [p], [""], until="line")


def test_sft_is_reproducible_and_learns():
    from testtime.reasoning.sft import build_model

    config = reasoner_config("small")
    config["model"].update(n_layer=1, n_head=2, n_embd=16)
    config["recipe"].update(steps=40, batch_size=16, warmup=5)
    a = train_reasoner(config, progress=False)
    b = train_reasoner(config, progress=False)
    for name, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][name]), name
    losses = a["losses"]
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])
    build_model(config).load_state_dict(a["state_dict"])


def test_sizes_make_a_larger_model():
    from testtime.reasoning.sft import build_model

    small = build_model(reasoner_config("small")).num_params()
    large = build_model(reasoner_config("large")).num_params()
    assert large >= 3 * small
    assert reasoner_config("small")["model"]["block_size"] == BLOCK_SIZE


def test_numbers_of_several_digits(monkeypatch):
    from testtime.reasoning import task

    assert task.tokenize_expr("3+4*2") == ([3, 4, 2], ["+", "*"])
    monkeypatch.setattr(task, "MOD", 100)  # the parser, solver and verifier read MOD at call time
    assert task.tokenize_expr("37+4*8-15") == ([37, 4, 8, 15], ["+", "*", "-"])
    for bad in ("07+1", "100", "3++4", "+3", "3+", "", "3 + 4"):
        assert task.tokenize_expr(bad) is None, bad
    assert task.render([37, 4, 8, 15], ["+", "*", "-"]) == "37+4*8-15"
    assert solve("37+4*8-15") == ["37+32-15", "69-15", "54"]
    assert evaluate("99*9+5") == (99 * 9 + 5) % 100 == 96
    p = Problem("37+4*8-15", 54, 3)
    assert is_correct(p, "37+32-15\n69-15\n54$") and parse_answer("54$") == 54
    assert first_error(p, "37+32-15\n59-15\n44$") == 1  # a carry dropped
    assert first_error(p, "37+32-15\n69-15\n54\n") == 2  # the answer must end the completion
    assert check_step("37+32-15", "37+17\n")  # any order that keeps the value is valid
    assert not check_step("37-32+15", "37-47\n")  # 37-(32+15) changes the value
    rng = random.Random(0)
    for _ in range(200):
        expr = task.random_expr(4, rng)
        nums, ops = task.tokenize_expr(expr)
        assert all(b < task.MUL_LIMIT for op, b in zip(ops, nums[1:]) if op == "*")
        assert evaluate(expr) == eval(expr) % 100 and solve(expr)[-1] == str(evaluate(expr))  # noqa: S307
