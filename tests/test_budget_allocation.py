"""Budget allocation across difficulty bins (testtime.search.budget_allocation)."""

import itertools

import numpy as np
import pytest

from testtime.search.budget_allocation import (
    allocate_budget,
    allocation_value,
    bin_means,
    pareto_front,
    uniform_choice,
)


def brute_force(acc, cost, w, budget):
    best, key = None, None
    for combo in itertools.product(range(acc.shape[0]), repeat=acc.shape[1]):
        c = sum(w[k] * cost[s, k] for k, s in enumerate(combo))
        if c > budget * (1 + 1e-12):
            continue
        a = sum(w[k] * acc[s, k] for k, s in enumerate(combo))
        if key is None or (-a, c) < key:
            best, key = combo, (-a, c)
    return best, key


def test_allocation_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        S, K = int(rng.integers(2, 7)), int(rng.integers(1, 4))
        acc = rng.random((S, K)).round(2)
        cost = rng.integers(1, 6, (S, K)).astype(float)
        w = rng.random(K) + 0.1
        w /= w.sum()
        budget = float(rng.uniform(1, 5))
        choice = allocate_budget(acc, cost, w, budget)
        want, key = brute_force(acc, cost, w, budget)
        if want is None:
            assert (choice == -1).all()
            continue
        assert allocation_value(acc, w, choice) == pytest.approx(-key[0])
        assert allocation_value(cost, w, choice) == pytest.approx(key[1])
        assert allocation_value(cost, w, choice) <= budget + 1e-9


def test_allocation_moves_compute_to_the_bin_that_gains():
    # bin 0 is solved by the cheap strategy; bin 1 gains from the dear one
    acc = np.array([[1.0, 0.2], [1.0, 0.6]])
    cost = np.array([[1.0, 1.0], [3.0, 3.0]])
    w = np.array([0.5, 0.5])
    assert uniform_choice(acc, cost, w, 2.0) == 0  # the dear strategy everywhere costs 3
    assert list(allocate_budget(acc, cost, w, 2.0)) == [0, 1]  # mean cost exactly 2


def test_pareto_front_and_ties():
    acc = np.array([0.5, 0.5, 0.4, 0.9, 0.8])
    cost = np.array([2.0, 1.0, 1.0, 5.0, 6.0])
    assert list(pareto_front(acc, cost)) == [1, 3]
    # an exact tie in accuracy and cost keeps the lower index
    assert list(pareto_front(np.array([0.3, 0.3]), np.array([1.0, 1.0]))) == [0]


def test_uniform_and_bin_means():
    vals = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    bins = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(bin_means(vals, bins, 3)[:, :2], [[0.5, 1.0], [0.0, 0.5]])
    assert np.isnan(bin_means(vals, bins, 3)[:, 2]).all()
    acc, cost = np.array([[0.5, 0.5], [0.9, 0.9]]), np.array([[1.0, 1.0], [4.0, 4.0]])
    w = np.array([0.5, 0.5])
    assert uniform_choice(acc, cost, w, 0.5) == -1
    assert uniform_choice(acc, cost, w, 3.9) == 0
    assert uniform_choice(acc, cost, w, 4.0) == 1


def test_bad_input():
    with pytest.raises(ValueError, match="weights"):
        allocate_budget(np.ones((2, 3)), np.ones((2, 3)), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="same"):
        allocate_budget(np.ones((2, 3)), np.ones((3, 3)), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="n_bins"):
        bin_means(np.ones((1, 2)), np.zeros(2, int), 0)
    with pytest.raises(ValueError, match="-1"):
        allocation_value(np.ones((2, 2)), np.ones(2), np.array([-1, 0]))


def test_slack_takes_the_cheapest_near_best():
    acc = np.array([[0.50, 0.50], [0.52, 0.52], [0.70, 0.70]])
    cost = np.array([[1.0, 1.0], [4.0, 4.0], [9.0, 9.0]])
    w = np.array([0.5, 0.5])
    assert list(allocate_budget(acc, cost, w, 4.9)) == [1, 1]
    assert list(allocate_budget(acc, cost, w, 4.9, slack=0.03)) == [0, 0]
    assert uniform_choice(acc, cost, w, 5.0) == 1
    assert uniform_choice(acc, cost, w, 5.0, slack=0.03) == 0
    assert uniform_choice(acc, cost, w, 10.0, slack=0.03) == 2  # 0.70 is far above the rest
    rng = np.random.default_rng(1)
    for _ in range(30):  # with slack: never more expensive, never worse than best - slack
        a, c = rng.random((5, 3)).round(2), rng.integers(1, 6, (5, 3)).astype(float)
        w3, budget = np.full(3, 1 / 3), float(rng.uniform(1, 5))
        plain = allocate_budget(a, c, w3, budget)
        if (plain < 0).any():
            continue
        lax = allocate_budget(a, c, w3, budget, slack=0.05)
        assert allocation_value(c, w3, lax) <= allocation_value(c, w3, plain) + 1e-12
        assert allocation_value(a, w3, lax) >= allocation_value(a, w3, plain) - 0.05 - 1e-12
    with pytest.raises(ValueError, match="slack"):
        allocate_budget(acc, cost, w, 5.0, slack=-1.0)
