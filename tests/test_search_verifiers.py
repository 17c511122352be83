"""Math-Shepherd Monte-Carlo step labels match the oracle step verifier on constructed cases."""

import math

import pytest
import torch

from testtime.reasoning import (
    NL,
    PROMPT_LEN,
    Problem,
    evaluate,
    first_error,
    format_prompt,
    is_correct,
    solve,
    split_steps,
    step_labels,
    target_completion,
)
from testtime.search import Completion, aggregate, mc_step_labels, outcome_labels
from testtime.search.verifiers import LabelledSolution, ValueModel, Verifier, train_value_model


class OraclePolicy:
    """Continues any prefix with the canonical solution of its last line: right from a
    correct prefix, wrong (with prob. 1 if the error changed the value) from a wrong one.
    With ``p_fail`` it instead ends with a wrong answer, so soft labels fall below 1."""

    flops_per_token = 1.0

    def __init__(self, p_fail: float = 0.0) -> None:
        self.p_fail = p_fail

    def count_tokens(self, text):
        return len(text)

    def sample(self, prefixes, *, generator, step=False, cost=None, **kw):
        out = []
        for prefix in prefixes:
            last = prefix.rstrip("\n").rsplit("\n", 1)[-1].strip()
            lines = solve(last) if any(op in last for op in "+-*") else [last]
            if float(torch.rand((), generator=generator)) < self.p_fail:
                lines = lines[:-1] + [f"{(int(lines[-1]) + 1) % 100:02d}"]
            text = aligned(lines)
            out.append(Completion(text, len(text), True))
        return out


def aligned(lines: list[str]) -> str:
    """Solution lines in the model's format: right-aligned, newlines, ``$`` at the end."""
    return NL.join(line.rjust(PROMPT_LEN - 1) for line in lines) + "$"


def corrupt(problem: Problem, at: int) -> str:
    """The canonical solution with step ``at`` replaced by a same-length line of another
    value (so every later step is wrong in value too)."""
    lines = solve(problem.expr)
    line = lines[at]
    bad = line[:-1] + str((int(line[-1]) + 5) % 10)  # the last number's units digit + 5
    assert evaluate(bad) != evaluate(line)
    later = solve(bad)[: len(lines) - at - 1] if len(bad) > 2 else []
    return aligned(lines[:at] + [bad] + later)


CASES = [Problem(e, evaluate(e), e.count("+") + e.count("-") + e.count("*"))
         for e in ("37+45*12-08", "19*09-21*03+32")]


@pytest.mark.parametrize("p_fail", [0.0, 0.5])
def test_mc_labels_match_oracle(p_fail):
    prompts, completions, rows = [], [], []
    for prob in CASES:
        for at in [None, 0, 1, 2]:
            good = target_completion(prob)
            completions.append(good if at is None else corrupt(prob, at))
            prompts.append(format_prompt(prob.expr))
            rows.append(prob)
    soft = mc_step_labels(OraclePolicy(p_fail), prompts, completions,
                          lambda r, c: is_correct(rows[r], c), rollouts=16,
                          generator=torch.Generator().manual_seed(0))
    for prob, comp, labels in zip(rows, completions, soft):
        oracle = step_labels(prob, comp)
        assert len(labels) == len(oracle) == len(split_steps(comp))
        hard = [x > 0 for x in labels]
        assert hard == oracle, (comp, labels, oracle)
        if p_fail == 0.5 and first_error(prob, comp) is None:
            assert 0.2 < labels[0] < 0.8  # soft label: the fraction of good rollouts


def test_aggregate_and_outcome_labels():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s, "last") == 0.8 and aggregate(s, "min") == 0.5
    assert aggregate(s, "prod") == pytest.approx(0.36)
    with pytest.raises(ValueError, match="how"):
        aggregate(s, "max")
    data = outcome_labels(["p"], ["1+2\n3$"], [True])
    assert data[0].labels == [1.0, 1.0]


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread (and a loaded machine makes 2 threads spin)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_value_model_learns_and_scores_step_ends(one_thread):
    from testtime.models import GPTConfig, TinyGPT
    from testtime.reasoning import TOKENIZER

    torch.manual_seed(0)
    lm = TinyGPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=64, n_layer=1, n_head=2,
                           n_embd=32))
    vm = ValueModel.from_lm(lm)
    # rule to learn: a step is good iff its line starts with an even digit
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(64):
        d = torch.randint(10, (3,), generator=g).tolist()
        comp = f"{d[0]}+1\n{d[1]}+2\n{d[2]}$"
        ok, labels = True, []
        for x in d:
            ok = ok and x % 2 == 0
            labels.append(float(ok))
        data += outcome_labels(["  5\n"], [comp], [True])
        data[-1].labels = labels
    train_value_model(vm, data, TOKENIZER, steps=150, lr=3e-3, generator=g, progress=False)
    ver = Verifier(vm, TOKENIZER)
    steps = [["2+1\n", "4+2\n", "6$"], ["3+1\n", "4+2\n", "6$"]]
    scores = ver.score_steps(["  5\n", "  5\n"], steps)
    assert len(scores[0]) == 3
    assert min(scores[0]) > 0.6 and max(scores[1]) < 0.4
    assert ver.score(["  5\n"], ["2+1\n4+2\n6$"], aggregation="min")[0] > 0.6


def _tiny_lm(seed):
    from testtime.models import GPTConfig, TinyGPT
    from testtime.reasoning import TOKENIZER

    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=64, n_layer=1,
                             n_head=2, n_embd=16)).eval()


def test_implicit_value_model_is_a_log_ratio():
    from testtime.search.verifiers import ImplicitValueModel

    lm = _tiny_lm(0)
    ids = torch.randint(10, (2, 12), generator=torch.Generator().manual_seed(0))
    full = ImplicitValueModel.from_lm(lm, prompt_len=4)
    torch.testing.assert_close(full(ids), torch.zeros(2, 12))  # pi = ref at the start
    assert full.flops_per_token() == 2 * lm.flops_per_token()
    sharp = ImplicitValueModel.from_lm(lm, full=False, prompt_len=4)
    assert sharp.flops_per_token() == lm.flops_per_token()
    assert [n for n, p in sharp.named_parameters() if p.requires_grad] == ["bias", "sharpness"]
    with torch.no_grad():
        sharp.sharpness.fill_(0.5)
        sharp.bias.fill_(0.2)
        logits = lm(ids[:, :-1])[0]
        t = ids[:, 1:, None]
        r = (torch.log_softmax(logits * math.exp(0.5), -1) - torch.log_softmax(logits, -1))
        r = r.gather(-1, t)[..., 0]
        r[:, :3] = 0.0  # tokens 1..3 belong to the prompt
        expect = 0.2 + torch.cat([torch.zeros(2, 1), r.cumsum(1)], 1)
        torch.testing.assert_close(sharp(ids), expect)
        assert torch.all(sharp(ids)[:, :4] == 0.2)


def test_sharpened_prm_learns_to_prefer_likely_steps(one_thread):
    from testtime.reasoning import TOKENIZER
    from testtime.search.verifiers import ImplicitValueModel

    lm = _tiny_lm(1)
    prompt = "  5\n"
    good, bad = [], []
    with torch.no_grad():
        for d in range(10):  # good step: the reference's most likely digit, bad: its least
            ids = torch.tensor([TOKENIZER.encode(prompt + f"{d}+")])
            logits = lm(ids)[0][0, -1, :]
            digits = [TOKENIZER.encode(str(k))[0] for k in range(10)]
            order = sorted(range(10), key=lambda k: -float(logits[digits[k]]))
            good.append(f"{d}+{order[0]}\n")
            bad.append(f"{d}+{order[-1]}\n")
    data = [LabelledSolution(prompt, c, [y]) for c, y in
            [(c, 1.0) for c in good] + [(c, 0.0) for c in bad]]
    vm = ImplicitValueModel.from_lm(lm, full=False, prompt_len=len(TOKENIZER.encode(prompt)))
    train_value_model(vm, data, TOKENIZER, steps=60, batch_size=16, lr=0.05,
                      generator=torch.Generator().manual_seed(0), progress=False)
    assert vm.sharpness.item() > 0.1
    ver = Verifier(vm, TOKENIZER)
    sg = ver.score([prompt] * 10, good)
    sb = ver.score([prompt] * 10, bad)
    assert sum(a > b for a, b in zip(sg, sb)) >= 9


def test_prm_config_keeps_the_default_key():
    from testtime.search.trained import SEARCH_PRM, verifier_config

    default = verifier_config("prm")
    assert "levels" not in default["recipe"] and "head" not in default["recipe"]
    assert verifier_config("prm", **SEARCH_PRM)["recipe"]["head"] == "sharpened"
    with pytest.raises(ValueError, match="head"):
        verifier_config("prm", head="mlp")
    with pytest.raises(ValueError, match="levels"):
        verifier_config("prm", levels=[0, 9])
    with pytest.raises(ValueError, match="overrides"):
        verifier_config("orm", head="implicit")


def test_checker_and_hybrid_labels():
    from testtime.search.trained import checker_step_labels
    from testtime.search.verifiers import hybrid_step_labels

    rows, comps = [], []
    for prob in CASES:
        for at in [None, 0, 1, 2]:
            rows.append(prob)
            comps.append(target_completion(prob) if at is None else corrupt(prob, at))
    comps[-1] = comps[-1][:-3]  # a cut-off completion: its unterminated tail is a wrong step
    labels = checker_step_labels(rows, comps)
    assert labels == [[float(x) for x in step_labels(p, c)] for p, c in zip(rows, comps)]
    assert labels[0] == [1.0, 1.0, 1.0] and labels[2] == [1.0, 0.0, 0.0]
    mc = [[0.5] * len(ls) for ls in labels]
    assert hybrid_step_labels(mc, labels)[2] == [0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match="shape"):
        hybrid_step_labels([[0.5]], [[1.0, 1.0]])
    with pytest.raises(ValueError, match="length"):
        checker_step_labels(rows, comps[:-1])


def test_prm_label_and_view_options():
    from testtime.search.trained import STEP_PRM, verifier_config

    default = verifier_config("prm")
    assert "view" not in default["recipe"] and default["recipe"]["label"] == "soft"
    step = verifier_config("prm", **STEP_PRM)["recipe"]
    assert step["label"] == "checker" and step["view"] == "markov"
    assert verifier_config("prm", label="hybrid")["recipe"]["label"] == "hybrid"
    with pytest.raises(ValueError, match="label"):
        verifier_config("prm", label="human")
    with pytest.raises(ValueError, match="view"):
        verifier_config("prm", view="tree")
    with pytest.raises(ValueError, match="label"):
        verifier_config("prm", view="markov")  # MC labels are prefix values, not verdicts


def test_markov_rows_and_verifier():
    from testtime.reasoning import TOKENIZER
    from testtime.search.markov_prm import MarkovVerifier, markov_rows, states
    from testtime.search.trained import checker_step_labels, state_prompt
    from testtime.search.verifiers import ImplicitValueModel

    prob = CASES[1]
    good = target_completion(prob)
    bad = corrupt(prob, 1)
    prompt = format_prompt(prob.expr)
    assert states(prompt, split_steps(good)) == [prob.expr] + solve(prob.expr)[:-1]
    first = solve(prob.expr)[0]
    assert states(prompt + first.rjust(PROMPT_LEN - 1) + NL, ["x"]) == [first]
    labels = checker_step_labels([prob, prob], [good, bad])
    rows = markov_rows([prompt] * 2, [good, bad], labels, state_prompt)
    steps_bad = split_steps(bad)
    assert len(rows) == len(split_steps(good)) + 2  # the bad one stops at its first error
    assert rows[-1].prompt == state_prompt(split_steps(bad)[0][:-1])
    assert rows[-1].completion == steps_bad[1] and rows[-1].labels == [0.0]
    assert [r.labels[0] for r in rows[:-1]] == [1.0] * (len(rows) - 1)
    with pytest.raises(ValueError, match="labels"):
        markov_rows([prompt], [good], [[1.0]], state_prompt)

    lm = _tiny_lm(2)
    sharp = ImplicitValueModel.from_lm(lm, full=False, prompt_len=len(prompt))
    with torch.no_grad():
        sharp.sharpness.fill_(0.7)
        sharp.bias.fill_(1.0)
    ver = MarkovVerifier(sharp, TOKENIZER, state_prompt)
    assert ver.flops_per_token == 3 * lm.flops_per_token()
    local = ver.local_scores([prompt] * 2, [split_steps(good), steps_bad])
    values = ver.score_steps([prompt] * 2, [split_steps(good), steps_bad])
    for lo, va in zip(local, values):
        assert va == pytest.approx([math.prod(lo[: i + 1]) for i in range(len(lo))])
    # each local score is the model's score of the step read after its state alone
    alone = Verifier(sharp, TOKENIZER)
    expect = [alone.score([state_prompt(s)], [st])[0]
              for s, st in zip(states(prompt, steps_bad), steps_bad)]
    # two float32 forward passes of the same tokens in differently padded batches: they
    # differ by a few ulps of a probability near 0.7 (1.2e-7 measured with 2 threads), so
    # 1e-5 leaves a wide margin and still catches a wrong state or step (>1e-3 apart)
    assert local[1] == pytest.approx(expect, abs=1e-5)
    # a leading empty step asks for the bare prompt's value (sequential_revisions does): it is
    # no move, so it is valid (1.0), and the steps after it are judged from the same states
    assert states(prompt, [""] + steps_bad)[1:] == states(prompt, steps_bad)
    with_empty = ver.score_steps([prompt], [[""] + steps_bad])[0]
    assert with_empty[0] == 1.0 and with_empty[1:] == pytest.approx(values[1], abs=1e-6)
    assert ver.score_steps([prompt] * 2, [[""], []]) == [[0.0], [0.0]]  # no step: no answer
    assert ver.score([prompt] * 3, [good, bad, ""]) == pytest.approx(
        [values[0][-1], values[1][-1], 0.0])
    read, step_tokens = ver.tokens_read([prompt], [split_steps(good)])
    assert step_tokens == len(good) and step_tokens < read <= 3 * step_tokens
    with pytest.raises(ValueError, match="read_factor"):
        MarkovVerifier(sharp, TOKENIZER, state_prompt, read_factor=0)


def test_markov_verifier_memo_gives_the_same_scores():
    from testtime.reasoning import TOKENIZER
    from testtime.search.markov_prm import MarkovVerifier
    from testtime.search.trained import state_prompt
    from testtime.search.verifiers import ImplicitValueModel

    sharp = ImplicitValueModel.from_lm(_tiny_lm(3), full=False, prompt_len=len(format_prompt("01")))
    ver = MarkovVerifier(sharp, TOKENIZER, state_prompt, memo_size=4)
    prompts = [format_prompt(p.expr) for p in CASES]
    steps = [split_steps(target_completion(p)) for p in CASES]
    first = ver.score_steps(prompts, steps)
    assert ver.score_steps(prompts[:1], [steps[0][:2]])[0] == pytest.approx(first[0][:2])
    with torch.no_grad():
        sharp.bias.fill_(-1.0)
    ver.clear_memo()
    assert ver.score_steps(prompts, steps)[0][0] < first[0][0]
