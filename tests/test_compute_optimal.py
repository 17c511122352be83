"""Compute-optimal scaling: difficulty bins, per-bin choice, FLOPs exchange rate, revisions."""

import itertools

import numpy as np
import pytest
import torch
from search_toys import PrefixScorer, ToyPolicy

from testtime.search.compute_optimal import (
    apply_choice,
    assign_bins,
    choose_per_bin,
    compute_optimal_curve,
    fixed_curve,
    inference_flops,
    largest_drop,
    matched_budget,
    matched_multiplier,
    oracle_difficulty,
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
    costs = np.array([1.0, 2.0, 3.0, 10.0])
    choice = choose_per_bin(acc, bins, costs, budget=3.0, n_bins=B)
    assert (costs[choice] <= 3.0).all()
    best = max(apply_choice(acc, bins, np.array(c))
               for c in itertools.product(range(3), repeat=B))
    assert apply_choice(acc, bins, choice) == pytest.approx(best)
    assert (choose_per_bin(acc, bins, costs, budget=0.5, n_bins=B) == -1).all()
    with pytest.raises(ValueError, match="accuracy"):
        choose_per_bin(acc[:, :5], bins, costs, 3.0, B)


def test_compute_optimal_beats_fixed_on_the_selection_split():
    rng = np.random.default_rng(2)
    acc = rng.random((6, 80))
    bins = rng.integers(0, 4, 80)
    costs = np.array([1, 2, 4, 1, 2, 4], dtype=float)
    budgets = [1, 2, 4]
    co, choices = compute_optimal_curve(acc, bins, acc, bins, costs, budgets, 4)
    assert choices.shape == (3, 4)
    for family in ([0, 1, 2], [3, 4, 5]):
        assert (co >= fixed_curve(acc, costs, family, budgets) - 1e-12).all()
    # a budget below every cost gives NaN, not a silent zero
    assert np.isnan(fixed_curve(acc, costs, [2], [1.0])[0])


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
