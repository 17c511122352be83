"""The tiny reasoner: task generation, format, verifiers, pass@k, sampling helpers."""

import itertools
import random
import re
from math import comb

import numpy as np
import pytest
import torch

from testtime.models import GPTConfig, TinyGPT
from testtime.reasoning import (
    BLOCK_SIZE,
    EOS,
    EOS_ID,
    LEVELS,
    MAX_OPS,
    NL,
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
from testtime.reasoning.task import apply_op, tokenize_expr


def brute_eval(expr: str) -> int:
    # each column on its own: Python's precedence on that column's digits, then mod 10 (a
    # ring, so reducing at the end commutes with every operation)
    numbers = re.findall(r"\d\d", expr)
    columns = []
    for k in range(2):
        column_expr = re.sub(r"\d\d", "{}", expr.strip()).format(*(n[k] for n in numbers))
        columns.append(eval(column_expr) % 10)  # noqa: S307 - digits and +-* only
    return 10 * columns[0] + columns[1]


def test_evaluate_matches_python_column_by_column_and_solution_ends_in_answer():
    rng = random.Random(0)
    for level in range(1, MAX_OPS + 1):
        for _ in range(50):
            p = make_problems(1, level, seed=rng.getrandbits(32), split="any")[0]
            assert p.answer == brute_eval(p.expr) == evaluate(p.expr)
            lines = solve(p.expr)
            assert len(lines) == level and lines[-1] == f"{p.answer:02d}"
            assert all(evaluate(line) == p.answer for line in lines)
            assert [len(line) for line in lines] == [3 * (level - i) + 2 for i in range(1, level + 1)]


def test_column_arithmetic_and_canonical_order():
    assert apply_op(37, "+", 45) == 72 and apply_op(37, "*", 45) == 25
    assert apply_op(3, "-", 45) == 68  # 0-4 -> 6, 3-5 -> 8: no borrow between columns
    with pytest.raises(ValueError, match="op="):
        apply_op(3, "/", 4)
    assert solve("37+45*12-08") == ["37+40-08", "77-08", "79"]
    assert solve("20-30-40") == ["90-40", "50"]  # left to right, not 20-(30-40)
    assert reduce_at("37+45*12-08", 2) == "37+45*14"
    assert tokenize_expr("  37+08") == ([37, 8], ["+"])  # alignment padding is not part of it
    for bad in ("7+08", "370+08", "37++08", "+37", "37+", "", "37 +08", "3a"):
        assert tokenize_expr(bad) is None and evaluate(bad) is None, bad
    with pytest.raises(ValueError, match="i="):
        reduce_at("37+08", 1)


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
    answers = {p.answer for p in make_problems(2000, 3, seed=0, split="any")}
    assert len(answers) == 100  # every value below MOD is an answer


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="split="):
        make_problems(1, split="dev")
    with pytest.raises(ValueError, match="level="):
        make_problems(1, MAX_OPS + 1)
    with pytest.raises(ValueError, match="n="):
        make_problems(0)
    with pytest.raises(ValueError, match="size="):
        reasoner_config("huge")
    with pytest.raises(ValueError, match="k="):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="line="):
        format_prompt("01+" * (MAX_OPS + 1) + "01")


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
        # every line, prompt and solution, is right-aligned to the same width
        lines = (format_prompt(p.expr) + target).split(NL)
        assert {len(line) for line in lines} == {PROMPT_LEN - 1, PROMPT_LEN}
        assert [line.strip(" $") for line in lines] == [p.expr, *solve(p.expr)]
    # the longest problem fits in the block
    longest = Problem("01+" * MAX_OPS + "01", 7, MAX_OPS)
    x, _ = encode_examples([longest])
    assert x.shape[1] + 1 == BLOCK_SIZE


def test_verifiers_on_constructed_cases():
    p = Problem("37+45*12-08", 79, 3)
    good = target_completion(p)
    assert is_correct(p, good) and first_error(p, good) is None
    assert step_labels(p, good) == [True, True, True]
    assert [s.strip() for s in split_steps(good)] == ["37+40-08", "77-08", "79$"]

    def completion(*lines: str) -> str:  # aligned the way the model writes
        return "".join(f"{line.rjust(PROMPT_LEN - 1)}{NL}" for line in lines[:-1]) + (
            lines[-1].rjust(PROMPT_LEN - 1) + EOS if not lines[-1].endswith(NL) else lines[-1])

    # precedence broken at step 0: 37+45 reduced before 45*12
    assert first_error(p, completion("72*12-08", "24-08", "26")) == 0
    # a slip at step 1, then locally valid steps: the prefix labels stay False
    assert step_labels(p, completion("37+40-08", "78-08", "70")) == [True, False, False]
    # a wrong route that lands on the right answer: outcome right, process wrong
    lucky = completion("37+40-08", "78-09", "79")  # 78-09 has the right value, no reduction
    assert is_correct(p, lucky) and first_error(p, lucky) == 1
    # reducing 40-08 first is a valid step too: 37+(40-08) has the same value
    assert first_error(p, completion("37+40-08", "37+42", "79")) is None
    # skipping a step (two operations at once) is invalid
    assert first_error(p, completion("77-08", "79")) == 0
    # a valid reduction in a non-canonical order is valid
    assert check_step("11*22+33*04", "11*22+02\n") and check_step("11*22+33*04", "22+33*04\n")
    # stopping early, or not stopping at the answer
    assert first_error(p, completion("37+40-08")) == 0
    assert parse_answer(completion("37+40-08")) is None
    assert first_error(p, completion("37+40-08", "77-08", "79\n")) == 2
    # a cut-off completion: the unterminated tail is the invalid step, no answer
    cut = completion("37+40-08", "77-08\n")[:-3]
    assert first_error(p, cut) == 1 and parse_answer(cut) is None
    # a valid unfinished prefix has no error yet
    prefix = completion("37+40-08\n")
    assert first_error(p, prefix) is None and not is_correct(p, prefix)
    assert parse_answer("79$") == 79 and parse_answer("  79$") == 79
    assert parse_answer("7$") is None and parse_answer("x$") is None and parse_answer("") is None


def test_canonical_solutions_pass_every_verifier():
    for p in make_problems(30, range(1, MAX_OPS + 1), seed=5, split="any"):
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
    problems = [Problem("01+01", 2, 1), Problem("01+01*01", 2, 2)]
    completions = [["02$", "03$", "02$", "01\n"], ["03$", "03$", "03$", "02$"]]
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
    p = Problem("37+45*12-08", 79, 3)
    first, second = (line.rjust(PROMPT_LEN - 1) + NL for line in solve(p.expr)[:2])
    prefixes = ["", first, first + second, first]
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
