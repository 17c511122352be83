"""Compute-optimal scaling: difficulty bins, per-bin choice, FLOPs exchange rate, revisions."""

import itertools

import numpy as np
import pytest
import torch
from search_toys import PrefixScorer, ToyPolicy

from testtime.search.compute_optimal import (
    apply_choice,
    assign_bins,
    best_affordable,
    choose_per_bin,
    compute_optimal_curve,
    cross_fit,
    inference_flops,
    largest_drop,
    matched_budget,
    matched_multiplier,
    oracle_difficulty,
    paired_gap,
    per_problem_accuracy,
    predicted_difficulty,
    pretraining_flops,
    quantile_edges,
    sequential_revisions,
)
from testtime.search.voting import selection_accuracy


def test_difficulty_from_samples():
    correct = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(oracle_difficulty(correct), [0.0, 0.75, 1.0])
    scores = np.array([[0.9, 0.7], [0.2, 0.0]])
    np.testing.assert_allclose(predicted_difficulty(scores), [0.2, 0.9])
    with pytest.raises(ValueError, match="correct"):
        oracle_difficulty(np.zeros(3))


def test_quantile_bins_equal_counts_and_ties():
    rng = np.random.default_rng(0)
    d = rng.random(1000)
    bins = assign_bins(d, quantile_edges(d, 5))
    np.testing.assert_array_equal(np.bincount(bins, minlength=5), [200] * 5)
    assert (np.diff(bins[np.argsort(d)]) >= 0).all()  # monotone in difficulty
    # ties (many never-solved problems) stay in one bin
    d = np.array([0.0, 0.1, 0.2, 1.0, 1.0, 1.0, 1.0, 1.0])
    bins = assign_bins(d, quantile_edges(d, 4))
    assert len(set(bins[d == 1.0])) == 1
    with pytest.raises(ValueError, match="n_bins"):
        quantile_edges(d, 0)


def test_per_problem_accuracy_matches_selection_accuracy():
    g = torch.Generator().manual_seed(0)
    answers = [[int(x) for x in torch.randint(4, (10,), generator=g)] for _ in range(30)]
    scores = [torch.rand(10, generator=g).tolist() for _ in range(30)]
    truths = [int(x) for x in torch.randint(4, (30,), generator=g)]
    for method in ("majority", "weighted", "best_of_n"):
        mine = per_problem_accuracy(method, answers, truths, 4, scores=scores, repeats=3,
                                    generator=torch.Generator().manual_seed(1))
        ref = selection_accuracy(method, answers, truths, 4, scores=scores, repeats=3,
                                 generator=torch.Generator().manual_seed(1))
        assert mine.shape == (30,)
        assert mine.mean() == pytest.approx(ref)


def test_choose_per_bin_is_best_assignment_by_brute_force():
    rng = np.random.default_rng(1)
    S, P, B = 4, 60, 3
    acc = rng.random((S, P))
    bins = rng.integers(0, B, P)
    choice = choose_per_bin(acc, bins, B)
    best = max(apply_choice(acc, bins, np.array(c))
               for c in itertools.product(range(S), repeat=B))
    assert apply_choice(acc, bins, choice) == pytest.approx(best)
    with pytest.raises(ValueError, match="accuracy"):
        choose_per_bin(acc[:, :5], bins, B)
    with pytest.raises(ValueError, match="min_gain_se"):
        choose_per_bin(acc, bins, B, min_gain_se=-1.0)


def test_choose_per_bin_departs_from_the_default_only_on_evidence():
    rng = np.random.default_rng(3)
    P = 200
    bins = np.arange(P) % 2
    # strategy 0 is the better default; strategy 1 is perfect on bin 1 and useless on bin 0
    acc = np.stack([np.full(P, 0.8), (bins == 1).astype(float)])
    acc[1, bins == 1] -= 0.1 * (rng.random(100) < 0.5)
    assert list(choose_per_bin(acc, bins, 2, min_gain_se=2.0)) == [0, 1]
    # pure noise: the guard keeps the default everywhere, the plain argmax does not
    noise = (rng.random((5, P)) < 0.5).astype(float)
    guarded = choose_per_bin(noise, bins, 2, min_gain_se=3.0)
    assert (guarded == np.argmax(noise.mean(axis=1))).all()
    # an empty bin keeps the default
    assert choose_per_bin(acc, np.zeros(P, dtype=int), 3)[2] == np.argmax(acc.mean(axis=1))


def test_best_affordable_spends_the_budget():
    costs = np.array([1.0, 2.0, 4.0, 1.5, 3.0, 6.0])
    families = [[0, 1, 2], [3, 4, 5]]
    assert list(best_affordable(costs, families, 3.0)) == [1, 4]
    assert list(best_affordable(costs, families, 1.2)) == [0, -1]
    assert list(best_affordable(costs, families, 100.0)) == [2, 5]


def test_cross_fit_scores_each_choice_on_the_other_split():
    # bin 1 favours strategy 1 on split A only, so A's choice is scored on B where it is wrong
    P = 40
    bins = np.arange(P) % 2
    acc_a = np.stack([np.full(P, 0.6), np.where(bins == 1, 1.0, 0.0)])
    acc_b = np.stack([np.full(P, 0.6), np.zeros(P)])
    both = cross_fit(acc_a, (bins, bins), acc_b, (bins, bins), 2)
    assert both.shape == (2 * P,)
    np.testing.assert_allclose(both[:P], 0.6)                            # B's choice on A
    np.testing.assert_allclose(both[P:], np.where(bins == 1, 0.0, 0.6))  # A's choice on B


def test_compute_optimal_curve_and_paired_gap():
    rng = np.random.default_rng(2)
    acc_a, acc_b = rng.random((6, 50)), rng.random((6, 40))
    bins_a, bins_b = rng.integers(0, 3, 50), rng.integers(0, 3, 40)
    costs = np.array([1, 2, 4, 2, 4, 8], dtype=float)
    families = [[0, 1, 2], [3, 4, 5]]
    optimal, fixed = compute_optimal_curve(acc_a, (bins_a, bins_a), acc_b, (bins_b, bins_b),
                                           costs, families, [0.5, 1.0, 4.0], 3)
    assert optimal.shape == (3, 90) and fixed.shape == (3, 2, 90)
    assert np.isnan(optimal[0]).all() and np.isnan(fixed[1, 1]).all()
    # only one family is affordable at budget 1: the choice can only be that strategy
    np.testing.assert_allclose(optimal[1], fixed[1, 0])
    np.testing.assert_allclose(fixed[2, 1], np.concatenate([acc_a[4], acc_b[4]]))
    gap, se = paired_gap(np.array([1.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, 0.0]))
    assert gap == pytest.approx(0.5) and se == pytest.approx(np.sqrt(1 / 3) / 2)
    with pytest.raises(ValueError, match="problems"):
        paired_gap(np.ones(1), np.ones(1))


def test_flops_exchange_rate():
    N, M, D, d, Q = 1e6, 8.0, 1e9, 100.0, 1e5
    assert pretraining_flops(N, D) == 6 * N * D and inference_flops(N, d) == 2 * N * d
    budget = matched_budget(pretraining_flops(M * N, D), pretraining_flops(N, D),
                            inference_flops(M * N, d), Q)
    R = Q * d / D
    assert budget / inference_flops(N, d) == pytest.approx(matched_multiplier(M, R))
    assert matched_multiplier(M, 1e12) == pytest.approx(M)  # inference-heavy: just M
    with pytest.raises(ValueError, match="r="):
        matched_multiplier(M, 0.0)


def test_largest_drop():
    assert largest_drop([0.5, 0.6, 0.7, 0.1, 0.05]) == 2
    assert largest_drop([0.9, 0.2]) == 0
    with pytest.raises(ValueError, match="step_scores"):
        largest_drop([0.5])


def test_revisions_fix_the_flagged_step_and_beat_parallel_samples():
    target = "1\n0\n1\n1\n0\n=$"
    policy, scorer = ToyPolicy("01", 5), PrefixScorer(target)
    prompts = [f"q{i}" for i in range(20)]

    def hit_rate(chains, revisions):
        res = sequential_revisions(policy, scorer, prompts, chains=chains, revisions=revisions,
                                   generator=torch.Generator().manual_seed(0))
        assert all(len(r.completions) == chains * revisions for r in res)
        assert all(r.cost.policy_tokens > 0 and r.cost.verifier_tokens > 0 for r in res)
        return np.mean([target in r.completions for r in res]), res

    sequential, res = hit_rate(1, 12)
    parallel, _ = hit_rate(12, 1)
    assert sequential >= 0.9 > 0.6 > parallel
    # a revision keeps the verified prefix: attempt t+1 starts with attempt t's correct steps
    a, b = res[0].completions[0], res[0].completions[1]
    keep = largest_drop([0.5] + scorer.score_steps([""], [a.splitlines(True)])[0])
    assert b.startswith("".join(a.splitlines(True)[:keep]))


def test_grow_depth_preserves_the_function():
    from testtime.models import GPTConfig, TinyGPT
    from testtime.reasoning.sft import grow_depth

    torch.manual_seed(0)
    source = TinyGPT(GPTConfig(vocab_size=16, block_size=12, n_layer=2, n_head=2, n_embd=16))
    grown = TinyGPT(GPTConfig(vocab_size=16, block_size=12, n_layer=5, n_head=2, n_embd=16))
    grow_depth(grown, source)
    x = torch.randint(16, (3, 12))
    torch.testing.assert_close(grown(x)[0], source(x)[0])
    # the new blocks keep random input weights, so they can learn
    assert grown.blocks[1].mlp.fc.weight.abs().sum() > 0
    assert grown.blocks[1].mlp.proj.weight.abs().sum() == 0
    with pytest.raises(ValueError, match="cannot grow"):
        grow_depth(source, grown)
