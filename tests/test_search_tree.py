"""Beam search, DVTS and MCTS find the best path under a toy scorer; best-of-N does not."""

import pytest
import torch
from search_toys import PrefixScorer, ToyPolicy

from testtime.search import beam_search, dvts, mcts

TARGET = "1\n0\n1\n1\n0\n0\n=$"  # 6 binary steps: 1 of 64 paths


def _hit(results):
    return [r.best() == TARGET for r in results]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_finds_target(seed):
    policy, prm = ToyPolicy("01", 6), PrefixScorer(TARGET)
    res = beam_search(policy, prm, ["Q:"] * 4, n=8, beam_width=4,
                      generator=torch.Generator().manual_seed(seed))
    assert all(_hit(res))
    assert all(max(r.scores) == 1.0 for r in res)
    # cost: every generated token once, plus the prompt once
    for r in res:
        assert r.cost.policy_tokens >= len(TARGET)
        assert r.cost.prompt_tokens == 2
        assert r.cost.policy_flops == pytest.approx(10.0 * (r.cost.policy_tokens + 2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dvts_and_mcts_find_target(seed):
    policy, prm = ToyPolicy("01", 6), PrefixScorer(TARGET)
    g = torch.Generator().manual_seed(seed)
    assert all(_hit(dvts(policy, prm, ["Q:"] * 4, n=16, beam_width=8, generator=g)))
    assert all(_hit(mcts(policy, prm, ["Q:"] * 4, simulations=12, expand=8, generator=g)))
    res = mcts(policy, prm, ["Q:"] * 2, simulations=12, expand=8, rollout=True, generator=g)
    assert all(_hit(res))


def test_best_of_n_usually_misses_at_equal_budget():
    policy = ToyPolicy("01", 6)
    g = torch.Generator().manual_seed(0)
    outs = policy.sample(["Q:"] * 400, generator=g)  # 8 samples x 50 problems
    hits = sum(any(o.text == TARGET for o in outs[i : i + 8]) for i in range(0, 400, 8))
    assert hits / 50 < 0.3  # 1 - (63/64)^8 = 0.12 in expectation


def test_search_argument_errors():
    policy, prm = ToyPolicy(), PrefixScorer(TARGET)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(policy, prm, ["Q:"], n=6, beam_width=4, generator=g)
    with pytest.raises(ValueError, match="n="):
        dvts(policy, prm, ["Q:"], n=0, generator=g)
    with pytest.raises(ValueError, match="simulations"):
        mcts(policy, prm, ["Q:"], simulations=0, generator=g)
