"""Spending one total budget across difficulty bins: a strategy (and its size) per bin.

"Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling Model
Parameters" (Snell, Lee, Xu, Kumar 2024, arXiv 2408.03314) picks, per difficulty bin, the
strategy that is best *at a given budget per question* (eq. 1; ``compute_optimal``). When the
budget is a total over many questions, compute can also move between bins: easy questions
that one sample already solves give their share to the hard ones. With per-bin accuracies
``a[s, k]`` and mean costs ``c[s, k]`` of strategy ``s`` in bin ``k`` (holding a fraction
``w_k`` of the questions), the allocation is the multiple-choice knapsack

    max_{s_1..s_K}  sum_k w_k a[s_k, k]   subject to   sum_k w_k c[s_k, k] <= B.

We solve it exactly: a strategy that is no better and no cheaper than another in the same bin
can never be needed, so only each bin's Pareto front is enumerated (a handful of strategies
per bin for the course's sizes). A *uniform* allocation uses one strategy for every question.

Accuracies measured on a finite held-out split are noisy, and the best of many noisy options
is biased upwards. ``slack`` applies the one-standard-error rule of model selection
(Breiman et al. 1984, *Classification and Regression Trees*; Hastie, Tibshirani, Friedman,
*The Elements of Statistical Learning*, section 7.10): take the *cheapest* option whose
accuracy is within ``slack`` (e.g. one standard error) of the best. ``slack=0`` is the plain
maximum.
"""

from __future__ import annotations

import itertools

import numpy as np

from testtime.runtime import check_positive


def bin_means(values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-bin means of per-problem ``values`` ``(S, P)`` (e.g. accuracy or FLOPs of S
    strategies on P problems): shape ``(S, n_bins)``, NaN for an empty bin."""
    check_positive("n_bins", n_bins)
    values, bins = np.atleast_2d(np.asarray(values, float)), np.asarray(bins)
    if values.shape[1] != len(bins):
        raise ValueError(f"values has {values.shape[1]} problems but bins has {len(bins)}")
    out = np.full((values.shape[0], n_bins), np.nan)
    for k in range(n_bins):
        if (bins == k).any():
            out[:, k] = values[:, bins == k].mean(axis=1)
    return out


def pareto_front(accuracy: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Indices of the strategies that no other beats on both accuracy and cost: sorted by
    cost, each strictly more accurate than every cheaper one (ties: the lower index)."""
    accuracy, costs = np.asarray(accuracy, float), np.asarray(costs, float)
    order = np.lexsort((np.arange(len(costs)), -accuracy, costs))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.array(front, dtype=int)


def allocate_budget(accuracy: np.ndarray, costs: np.ndarray, weights: np.ndarray,
                    budget: float, slack: float = 0.0) -> np.ndarray:
    """The strategy of every bin that maximises ``sum_k w_k a[s_k, k]`` subject to
    ``sum_k w_k c[s_k, k] <= budget``; ``accuracy`` and ``costs`` are ``(S, K)``, ``weights``
    ``(K,)`` (fractions of problems, summing to 1). Ties go to the cheaper allocation; with
    ``slack > 0``, the cheapest allocation within ``slack`` of the best accuracy.
    Returns ``(K,)`` strategy indices, all -1 when even the cheapest allocation is too dear."""
    check_positive("slack", slack, allow_zero=True)
    accuracy, costs = np.asarray(accuracy, float), np.asarray(costs, float)
    weights = np.asarray(weights, float)
    if accuracy.shape != costs.shape or accuracy.ndim != 2:
        raise ValueError(f"accuracy {accuracy.shape} and costs {costs.shape} must be the same "
                         "(strategies, bins) shape")
    if weights.shape != (accuracy.shape[1],):
        raise ValueError(f"weights has shape {weights.shape}; expected ({accuracy.shape[1]},)")
    fronts = [pareto_front(accuracy[:, k], costs[:, k]) for k in range(accuracy.shape[1])]
    feasible = []  # (accuracy, cost, combo) of every affordable allocation of front members
    for combo in itertools.product(*fronts):
        cost = float(sum(w * costs[s, k] for k, (s, w) in enumerate(zip(combo, weights))))
        if cost <= budget * (1 + 1e-12):
            acc = float(sum(w * accuracy[s, k] for k, (s, w) in enumerate(zip(combo, weights))))
            feasible.append((acc, cost, combo))
    if not feasible:
        return np.full(accuracy.shape[1], -1)
    top = max(acc for acc, _, _ in feasible)
    near = [f for f in feasible if f[0] >= top - slack - 1e-12]
    key = (lambda f: (-f[0], f[1], f[2])) if slack == 0 else (lambda f: (f[1], -f[0], f[2]))
    return np.array(min(near, key=key)[2], dtype=int)


def uniform_choice(accuracy: np.ndarray, costs: np.ndarray, weights: np.ndarray,
                   budget: float, slack: float = 0.0) -> int:
    """The single strategy, used in every bin, with the best weighted accuracy among those
    whose weighted mean cost fits ``budget`` (ties: cheaper, then lower index); with
    ``slack > 0``, the cheapest one within ``slack`` of that accuracy. -1 if none fits."""
    check_positive("slack", slack, allow_zero=True)
    accuracy, costs = np.asarray(accuracy, float), np.asarray(costs, float)
    acc, cost = accuracy @ np.asarray(weights, float), costs @ np.asarray(weights, float)
    ok = cost <= budget * (1 + 1e-12)
    if not ok.any():
        return -1
    if slack > 0:
        ok &= acc >= acc[ok].max() - slack - 1e-12
        return int(np.lexsort((np.arange(len(cost)), -acc, np.where(ok, cost, np.inf)))[0])
    order = np.lexsort((np.arange(len(cost)), cost, -np.where(ok, acc, -np.inf)))
    return int(order[0])


def allocation_value(values: np.ndarray, weights: np.ndarray, choice: np.ndarray) -> float:
    """``sum_k w_k values[choice_k, k]``: the weighted accuracy (or cost) of an allocation."""
    values, choice = np.asarray(values, float), np.asarray(choice)
    if (choice < 0).any():
        raise ValueError("choice has -1 entries: nothing was affordable")
    return float(np.sum(np.asarray(weights, float) * values[choice, np.arange(len(choice))]))
