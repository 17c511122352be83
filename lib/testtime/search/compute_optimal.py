"""Compute-optimal test-time scaling: difficulty bins, per-bin strategy choice, revisions,
and the exchange rate between pretraining and inference FLOPs.

From "Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling Model
Parameters" (Snell, Lee, Xu, Kumar 2024, arXiv 2408.03314):

- *Difficulty* of a question is binned from the policy's own success: the oracle bins use the
  pass rate over many samples (ground truth needed), the predicted bins use the mean final
  verifier score over the same samples (no labels). Snell et al. use 5 quantile bins of
  2048 samples; we default to 5 bins and use far fewer samples.
- The *compute-optimal* strategy (eq. 1, ``theta*(N) = argmax_theta E[1{y = y*(q)}]``) is
  approximated per bin: at a budget, every rule spends all of it (its largest affordable N),
  and each bin takes the rule with the best accuracy on the split where we choose; the
  choice is scored on the other split, both ways round (two-fold cross-validation, as in
  the paper). We add one guard the paper does not need with 2048 samples per question: a bin
  departs from the overall-best rule only when its gain there exceeds ``min_gain_se``
  standard errors, so that the per-bin choice does not fit noise.
- *Sequential revisions*: each chain revises its previous attempt. Snell et al. fine-tune a
  revision model that sees earlier attempts in context; our tiny reasoner has no such model,
  so a revision keeps the previous attempt up to the step a verifier flags as the likeliest
  error and resamples from there (self-correction from the first wrong step). Every line of
  the tiny reasoner is a complete simpler problem, so this is an honest "try again from the
  last good state". Answers of all attempts are combined by verifier-weighted voting.
- *FLOPs-matched model scaling* (section 7): pretraining costs ``6 N D_pretrain`` and
  inference ``2 N D_inference``; a model ``M`` times larger is matched by a small model with
  ``M + 3 (M - 1) / R`` times more inference compute, ``R = D_inference / D_pretrain``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch

from testtime.runtime import check_choice, check_positive
from testtime.search.policy import Policy
from testtime.search.result import SearchResult, StepScorer
from testtime.search.verifiers import aggregate, split_steps
from testtime.search.voting import METHODS, select

# ----------------------------------------------------------------------------- difficulty


def oracle_difficulty(correct: np.ndarray) -> np.ndarray:
    """Difficulty ``1 - pass rate`` of each problem from a ``(P, n)`` boolean correctness table
    (the oracle difficulty of Snell et al., section 3.2: it needs the right answers)."""
    correct = np.asarray(correct, dtype=float)
    if correct.ndim != 2 or correct.shape[1] == 0:
        raise ValueError(f"correct has shape {correct.shape}; expected (problems, samples >= 1)")
    return 1.0 - correct.mean(axis=1)


def predicted_difficulty(scores: np.ndarray) -> np.ndarray:
    """Difficulty ``1 - mean verifier score`` of each problem from ``(P, n)`` final scores of
    its samples (the model-predicted difficulty of Snell et al.: no labels needed)."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores has shape {scores.shape}; expected (problems, samples >= 1)")
    return 1.0 - scores.mean(axis=1)


def quantile_edges(difficulty: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """The ``n_bins - 1`` inner edges splitting ``difficulty`` into equal-count bins."""
    check_positive("n_bins", n_bins)
    qs = np.arange(1, n_bins) / n_bins
    return np.quantile(np.asarray(difficulty, dtype=float), qs)


def assign_bins(difficulty: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each problem, 0 = easiest, ``len(edges)`` = hardest. A value equal to an
    edge goes to the lower bin, so ties (e.g. many problems never solved) stay together."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(difficulty, dtype=float),
                           side="left")


# ----------------------------------------------------------------------------- per-problem accuracy


def per_problem_accuracy(
    method: str,
    answers: Sequence[Sequence[Hashable | None]],
    truths: Sequence[Hashable | None],
    n: int,
    *,
    scores: Sequence[Sequence[float]] | None = None,
    repeats: int = 4,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Per problem, the fraction of ``repeats`` draws of ``n`` samples (without replacement
    from its pool) on which ``method`` selects the right answer; shape ``(P,)``.

    The per-problem version of :func:`testtime.search.voting.selection_accuracy`, which the
    per-bin choice needs. ``method`` in ('majority', 'best_of_n', 'weighted', 'random').
    """
    check_choice("method", method, METHODS)
    check_positive("repeats", repeats)
    out = np.zeros(len(answers))
    for p, (pool, truth) in enumerate(zip(answers, truths)):
        if n > len(pool):
            raise ValueError(f"n={n} is not valid; problem {p} has only {len(pool)} samples")
        hits = 0
        for _ in range(repeats if n < len(pool) else 1):
            idx = torch.randperm(len(pool), generator=generator)[:n].tolist()
            sub = None if scores is None else [scores[p][i] for i in idx]
            pick = select(method, [pool[i] for i in idx], sub, generator)
            hits += int(pick is not None and pick == truth)
        out[p] = hits / (repeats if n < len(pool) else 1)
    return out


# ----------------------------------------------------------------------------- per-bin choice


def best_affordable(costs: np.ndarray, families: Sequence[Sequence[int]],
                    budget: float) -> np.ndarray:
    """The fixed strategies at a budget: for every family (the indices of one rule's settings,
    e.g. N = 1, 2, 4, ...), its most expensive setting with ``costs <= budget``; -1 where
    none fits. At a fixed budget, best-of-N style rules spend all of it (Snell et al. compare
    strategies at equal generation budget)."""
    costs = np.asarray(costs, dtype=float)
    out = []
    for members in families:
        fit = [m for m in members if costs[m] <= budget]
        out.append(max(fit, key=lambda m: costs[m]) if fit else -1)
    return np.array(out, dtype=int)


def choose_per_bin(accuracy: np.ndarray, bins: np.ndarray, n_bins: int, *,
                   min_gain_se: float = 0.0) -> np.ndarray:
    """Per difficulty bin, the index of the strategy to use (Snell et al., eq. 1, per bin).

    ``accuracy`` is the ``(S, P)`` per-problem accuracy of S competing strategies on the
    split where we choose, ``bins`` the ``(P,)`` bin of each problem. The default is the
    strategy with the best mean accuracy overall (ties: the lower index); a bin departs from
    it only for the strategy with the largest mean gain in that bin, and only when that gain
    exceeds ``min_gain_se`` standard errors of the per-problem gain. ``min_gain_se=0`` is
    the plain argmax per bin; larger values keep bins whose evidence is noise on the default.
    Bins with fewer than two problems keep the default.
    """
    accuracy, bins = np.asarray(accuracy, dtype=float), np.asarray(bins)
    if accuracy.ndim != 2 or accuracy.shape[1] != len(bins):
        raise ValueError(f"accuracy has shape {accuracy.shape}; expected "
                         f"(strategies, problems={len(bins)})")
    if min_gain_se < 0:
        raise ValueError(f"min_gain_se={min_gain_se} is not valid; it must be >= 0")
    default = int(np.argmax(accuracy.mean(axis=1)))
    choice = np.full(n_bins, default)
    for b in range(n_bins):
        members = bins == b
        if members.sum() < 2:
            continue
        gain = accuracy[:, members] - accuracy[default, members]
        score = gain.mean(axis=1) - min_gain_se * gain.std(axis=1, ddof=1) / np.sqrt(members.sum())
        if score.max() > 0:
            choice[b] = int(np.argmax(score))
    return choice


def chosen_accuracy(accuracy: np.ndarray, bins: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Per-problem accuracy ``(P,)`` when every problem is answered by its bin's strategy."""
    accuracy, bins, choice = np.asarray(accuracy, float), np.asarray(bins), np.asarray(choice)
    if (choice < 0).any():
        raise ValueError("choice has -1 entries: no strategy was affordable")
    return accuracy[choice[bins], np.arange(len(bins))]


def apply_choice(accuracy: np.ndarray, bins: np.ndarray, choice: np.ndarray) -> float:
    """Mean accuracy when every problem is answered by the strategy chosen for its bin."""
    return float(chosen_accuracy(accuracy, bins, choice).mean())


def choice_cost(costs: np.ndarray, bins: np.ndarray, choice: np.ndarray) -> float:
    """Mean cost per problem of a per-bin choice."""
    return float(np.asarray(costs, float)[np.asarray(choice)[np.asarray(bins)]].mean())


def cross_fit(accuracy_a: np.ndarray, bins_a: tuple[np.ndarray, np.ndarray],
              accuracy_b: np.ndarray, bins_b: tuple[np.ndarray, np.ndarray], n_bins: int, *,
              min_gain_se: float = 0.0) -> np.ndarray:
    """Two-fold cross-fitted per-problem accuracy of the per-bin choice, shape ``(Pa + Pb,)``
    (A's problems first).

    The choice made on split B scores the problems of A and the choice made on A those of B
    (Snell et al. use two-fold cross-validation), so no problem is scored by a choice it
    helped make. ``bins_a = (bins of A with A's edges, bins of A with B's edges)``, and the
    same for ``bins_b``: each choice is made with the bin edges of its own split.
    """
    choice_a = choose_per_bin(accuracy_a, bins_a[0], n_bins, min_gain_se=min_gain_se)
    choice_b = choose_per_bin(accuracy_b, bins_b[0], n_bins, min_gain_se=min_gain_se)
    return np.concatenate([chosen_accuracy(accuracy_a, bins_a[1], choice_b),
                           chosen_accuracy(accuracy_b, bins_b[1], choice_a)])


def compute_optimal_curve(
    accuracy_a: np.ndarray, bins_a: tuple[np.ndarray, np.ndarray],
    accuracy_b: np.ndarray, bins_b: tuple[np.ndarray, np.ndarray],
    costs: np.ndarray, families: Sequence[Sequence[int]], budgets: Sequence[float],
    n_bins: int, *, min_gain_se: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem accuracy of the compute-optimal choice and of every fixed strategy, at every
    budget, over both splits (A then B).

    At each budget the competitors are the fixed strategies (:func:`best_affordable`); the
    per-bin choice among them is cross-fitted (:func:`cross_fit`). Returns ``(optimal
    (len(budgets), Pa + Pb), fixed (len(budgets), len(families), Pa + Pb))``, NaN where
    nothing (or that family) is affordable. ``accuracy_*`` are ``(S, P)`` over all settings.
    """
    accuracy_a, accuracy_b = np.asarray(accuracy_a, float), np.asarray(accuracy_b, float)
    both = np.concatenate([accuracy_a, accuracy_b], axis=1)
    optimal = np.full((len(budgets), both.shape[1]), np.nan)
    fixed = np.full((len(budgets), len(families), both.shape[1]), np.nan)
    for k, budget in enumerate(budgets):
        idx = best_affordable(costs, families, budget)
        ok = idx >= 0
        if not ok.any():
            continue
        fixed[k, ok] = both[idx[ok]]
        optimal[k] = cross_fit(accuracy_a[idx[ok]], bins_a, accuracy_b[idx[ok]], bins_b, n_bins,
                               min_gain_se=min_gain_se)
    return optimal, fixed


def paired_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of the per-problem differences ``a - b`` and its standard error (paired: both
    strategies answer the same problems, so the problem-to-problem spread cancels)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"a and b must be 1-d with >= 2 problems; got shape {d.shape}")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


# ----------------------------------------------------------------------------- FLOPs exchange rate


def pretraining_flops(n_params: float, tokens: float) -> float:
    """``6 N D``: forward and backward over ``D`` training tokens (Kaplan et al. 2020)."""
    return 6.0 * float(n_params) * float(tokens)


def inference_flops(n_params: float, tokens: float) -> float:
    """``2 N D``: one forward pass over ``D`` tokens."""
    return 2.0 * float(n_params) * float(tokens)


def matched_multiplier(m: float, r: float) -> float:
    """How many times more inference FLOPs a model ``m`` times smaller may spend to match the
    total (pretraining + inference) FLOPs of the larger one, when both pretrain on the same
    tokens and ``r = D_inference / D_pretrain``: ``m + 3 (m - 1) / r`` (Snell et al., sec. 7)."""
    check_positive("m", m)
    check_positive("r", r)
    return m + 3.0 * (m - 1.0) / r


def matched_budget(large_pretrain_flops: float, small_pretrain_flops: float,
                   large_query_flops: float, queries: float) -> float:
    """Inference FLOPs per query the small model may spend so that its total compute over
    ``queries`` queries equals the large model's: the large model's per-query FLOPs plus its
    extra pretraining spread over the queries. General form of :func:`matched_multiplier`
    (it also covers models pretrained on different numbers of tokens)."""
    check_positive("queries", queries)
    return large_query_flops + (large_pretrain_flops - small_pretrain_flops) / queries


# ----------------------------------------------------------------------------- revisions

Locator = Callable[[int, list[str], list[float]], int]


def largest_drop(step_scores: Sequence[float]) -> int:
    """The step a verifier most suspects: the largest fall of its value ``v_i - v_{i+1}``,
    where ``step_scores[0]`` is the value of the bare prompt and ``step_scores[i + 1]`` the
    value after step ``i``. Returns the step index ``i`` (0-based)."""
    if len(step_scores) < 2:
        raise ValueError("step_scores needs the prompt's value and at least one step")
    v = np.asarray(step_scores, dtype=float)
    return int(np.argmax(v[:-1] - v[1:]))


def sequential_revisions(
    policy: Policy,
    verifier: StepScorer,
    prompts: Sequence[str],
    *,
    chains: int,
    revisions: int,
    generator: torch.Generator,
    temperature: float = 0.8,
    max_new_tokens: int = 256,
    aggregation: str = "last",
    locate: Locator | None = None,
) -> list[SearchResult]:
    """``chains`` parallel chains of ``revisions`` attempts each, for every prompt.

    Attempt 0 of a chain is a fresh sample; attempt ``t + 1`` keeps attempt ``t`` up to (not
    including) the step returned by ``locate(prompt_index, steps, values)`` and resamples
    the rest.
    The default locator is :func:`largest_drop` of the verifier's values (``values[0]`` is the
    bare prompt's value). ``chains * revisions`` attempts per prompt; ``revisions=1`` is
    plain parallel sampling. Every attempt goes into the result with its aggregated verifier
    score, and its tokens, the re-read prefix and the verifier's reading into the cost.
    """
    check_positive("chains", chains)
    check_positive("revisions", revisions)
    locate = locate or (lambda o, steps, values: largest_drop(values))
    results = [SearchResult(p) for p in prompts]
    rows = [o for o in range(len(prompts)) for _ in range(chains)]
    kept = [""] * len(rows)  # the prefix each chain keeps for its next attempt
    for _ in range(revisions):
        prefixes = [prompts[o] + k for o, k in zip(rows, kept)]
        outs = policy.sample(prefixes, generator=generator, temperature=temperature,
                             max_new_tokens=max_new_tokens)
        attempts = [k + out.text for k, out in zip(kept, outs)]
        steps = [split_steps(a) for a in attempts]
        values = verifier.score_steps([prompts[o] for o in rows], [[""] + s for s in steps])
        for j, (o, out) in enumerate(zip(rows, outs)):
            res = results[o]
            res.completions.append(attempts[j])
            res.scores.append(aggregate(values[j][1:], aggregation) if steps[j] else 0.0)
            res.cost.add_policy(out.num_tokens, policy.flops_per_token,
                                prompt=policy.count_tokens(prefixes[j]), calls=0)
            res.cost.add_verifier(policy.count_tokens(prompts[o] + attempts[j]),
                                  verifier.flops_per_token, calls=0)
            cut = locate(o, steps[j], values[j]) if steps[j] else 0
            kept[j] = "".join(steps[j][:cut])
    return results
