import math
from collections import Counter

import pytest
import torch

from testtime.models import GPTConfig, TinyGPT
from testtime.search.speculative import (
    NGramTable,
    acceptance_distribution,
    prompt_lookup_draft,
    speculative_generate,
    truncate_state,
)


def tiny(vocab: int = 6, seed: int = 0) -> TinyGPT:
    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=vocab, block_size=64, n_layer=2, n_head=2, n_embd=32)).eval()


def test_prompt_lookup_copies_what_followed_the_latest_match():
    assert prompt_lookup_draft([1, 2, 3, 4, 9, 1, 2], k=2) == [3, 4]
    assert prompt_lookup_draft([5, 1, 7, 5, 1, 8, 5, 1], k=3) == [8, 5, 1]  # latest match wins
    assert prompt_lookup_draft([1, 2, 3], k=2) == []


def test_ngram_table_drafts_the_most_frequent_chain():
    table = NGramTable(n=3)
    for seq in ([1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 4]):
        table.add(seq)
    assert table.draft([0, 1, 2], k=3) == [3, 4]  # (3, 4) was never followed by anything
    with pytest.raises(ValueError, match="n="):
        NGramTable(n=1)


@pytest.mark.parametrize("seed", range(5))
def test_acceptance_rule_is_lossless_for_any_draft_distribution(seed):
    gen = torch.Generator().manual_seed(seed)
    p = torch.rand(3, 7, generator=gen).softmax(-1)
    q = torch.rand(3, 7, generator=gen).pow(3)
    q = q / q.sum(-1, keepdim=True)
    torch.testing.assert_close(acceptance_distribution(p, q), p)
    onehot = torch.nn.functional.one_hot(torch.tensor([2, 0, 6]), 7).float()
    torch.testing.assert_close(acceptance_distribution(p, onehot), p)


@pytest.mark.parametrize("drafter", ["lookup", "constant"])
def test_greedy_speculative_equals_greedy(drafter):
    model = tiny()
    prompt = [1, 2, 3, 1, 2, 3, 1]
    draft = (lambda ctx, k: prompt_lookup_draft(ctx, k)) if drafter == "lookup" else (
        lambda ctx, k: [2] * k)
    out, stats = speculative_generate(model, prompt, 30, draft, k=4, temperature=0.0)
    greedy = model.generate(torch.tensor([prompt]), 30, temperature=0)[0, len(prompt):].tolist()
    assert out == greedy
    assert stats.generated == 30 and stats.accepted <= stats.drafted


def test_accepting_drafts_saves_forward_passes():
    model = tiny()
    prompt = [1, 2]
    greedy = model.generate(torch.tensor([prompt]), 20, temperature=0)[0].tolist()
    oracle = lambda ctx, k: greedy[len(ctx) : len(ctx) + k]  # noqa: E731 - a perfect drafter
    out, stats = speculative_generate(model, prompt, 18, oracle, k=5)
    assert out == greedy[2:20]
    assert stats.acceptance_rate == 1.0 and stats.forward_passes == 1 + math.ceil(18 / 6)


def test_speculative_sampling_preserves_the_target_distribution():
    """Chi-square test of the first two sampled tokens against their exact probabilities."""
    vocab, n = 4, 3000
    model = tiny(vocab, seed=1)
    prompt = [0, 1]
    with torch.no_grad():
        p1 = model(torch.tensor([prompt]))[0][0, -1].softmax(-1)
        seconds = model(torch.tensor([[*prompt, a] for a in range(vocab)]))[0][:, -1].softmax(-1)
    exact = (p1[:, None] * seconds).flatten()
    gen = torch.Generator().manual_seed(0)
    counts = Counter()
    for _ in range(n):
        out, _ = speculative_generate(model, prompt, 2, lambda ctx, k: [ctx[-1]] * k, k=2,
                                      temperature=1.0, generator=gen)
        counts[out[0] * vocab + out[1]] += 1
    observed = torch.tensor([counts[i] for i in range(vocab * vocab)], dtype=torch.float)
    expected = exact * n
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    # 15 degrees of freedom: the 0.999 quantile of chi-square is 37.7
    assert chi2 < 37.7, chi2
    # the test has power against the typical bug, accepting drafts too often: moving 10% of
    # the mass onto the drafted path (1, 1) would fail it
    draft_path = torch.zeros(vocab * vocab)
    draft_path[1 * vocab + 1] = 1.0
    biased = (0.9 * exact + 0.1 * draft_path) * n
    assert float(((biased - expected) ** 2 / expected).sum()) > 37.7


def test_truncate_state_rolls_back_the_cache():
    model = tiny()
    x = torch.randint(0, 6, (1, 12))
    _, state = model.step(x)
    short = truncate_state(state, 8)
    logits, _ = model.step(x[:, 8:], short)
    full, _ = model(x)
    torch.testing.assert_close(logits, full[:, 8:], atol=1e-5, rtol=1e-4)


def test_bad_arguments_are_rejected():
    model = tiny()
    with pytest.raises(ValueError, match="k="):
        speculative_generate(model, [1], 3, lambda c, k: [], k=0)
    with pytest.raises(ValueError, match="temperature="):
        speculative_generate(model, [1], 3, lambda c, k: [], temperature=-1)


def test_exact_early_stopping_never_changes_the_vote():
    from testtime.search.early_stop import early_stopping_vote
    from testtime.search.voting import majority_vote

    gen = torch.Generator().manual_seed(0)
    saved = 0
    for _ in range(300):
        probs = torch.rand(4, generator=gen).pow(3)
        answers = torch.multinomial(probs / probs.sum(), 16, replacement=True, generator=gen).tolist()
        answers = [None if a == 3 else a for a in answers]
        result = early_stopping_vote(answers, rule="exact", batch=4)
        assert result.answer == majority_vote(answers)
        saved += 16 - result.used
    assert saved > 0


def test_margin_and_verifier_rules_stop_early():
    from testtime.search.early_stop import early_stopping_vote

    answers = [7, 7, 7, 2, 7, 7, 2, 2]
    assert early_stopping_vote(answers, rule="margin", margin=2, batch=2).used == 2
    scores = [0.1, 0.95] + [0.0] * 6
    assert early_stopping_vote(answers, rule="verifier", scores=scores, batch=2).used == 2
    assert early_stopping_vote([None, None], rule="exact").answer is None
    with pytest.raises(ValueError, match="rule="):
        early_stopping_vote(answers, rule="sometimes")
    with pytest.raises(ValueError, match="scores"):
        early_stopping_vote(answers, rule="verifier")
