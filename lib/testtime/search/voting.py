"""Selecting one answer from N samples: majority vote, best-of-N, weighted best-of-N.

With answers ``a_i`` and verifier scores ``s_i`` of N sampled solutions:

- majority vote (self-consistency, Wang et al. 2023): ``argmax_a sum_i 1[a_i = a]``;
- best-of-N: ``a_{argmax_i s_i}``;
- weighted best-of-N: ``argmax_a sum_i s_i 1[a_i = a]`` ("Scaling LLM Test-Time Compute
  Optimally...", Snell et al. 2024, arXiv 2408.03314, and huggingface/search-and-learn
  ``sal.utils.score.aggregate_scores`` + ``weighted_best_of_n``).

Samples without a parsable answer (``None``) never win a vote; ties go to the answer seen first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch

from testtime.runtime import check_choice

Answer = Hashable | None
METHODS = ("majority", "best_of_n", "weighted", "random")


def _weights(answers: Sequence[Answer], scores: Sequence[float]) -> dict[Answer, float]:
    if len(answers) != len(scores):
        raise ValueError(f"scores has {len(scores)} entries but answers has {len(answers)}")
    totals: dict[Answer, float] = {}
    for a, s in zip(answers, scores):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + float(s)
    return totals


def majority_vote(answers: Sequence[Answer]) -> Answer:
    """The most frequent non-None answer (None when there is none)."""
    totals = _weights(answers, [1.0] * len(answers))
    return max(totals, key=totals.__getitem__) if totals else None


def weighted_vote(answers: Sequence[Answer], scores: Sequence[float]) -> Answer:
    """The answer with the largest sum of verifier scores over the samples that give it."""
    totals = _weights(answers, scores)
    return max(totals, key=totals.__getitem__) if totals else None


def best_of_n(answers: Sequence[Answer], scores: Sequence[float]) -> Answer:
    """The answer of the single highest-scoring sample (None answers are skipped)."""
    if len(answers) != len(scores):
        raise ValueError(f"scores has {len(scores)} entries but answers has {len(answers)}")
    best, best_score = None, float("-inf")
    for a, s in zip(answers, scores):
        if a is not None and float(s) > best_score:
            best, best_score = a, float(s)
    return best


def select(method: str, answers: Sequence[Answer], scores: Sequence[float] | None = None,
           generator: torch.Generator | None = None) -> Answer:
    """Dispatch on ``method`` in ('majority', 'best_of_n', 'weighted', 'random')."""
    check_choice("method", method, METHODS)
    if method == "majority":
        return majority_vote(answers)
    if method == "random":
        i = int(torch.randint(len(answers), (1,), generator=generator))
        return answers[i]
    if scores is None:
        raise ValueError(f"method={method!r} needs scores; pass the verifier's scores")
    return best_of_n(answers, scores) if method == "best_of_n" else weighted_vote(answers, scores)


def selection_accuracy(
    method: str,
    answers: Sequence[Sequence[Answer]],
    truths: Sequence[Answer],
    n: int,
    *,
    scores: Sequence[Sequence[float]] | None = None,
    repeats: int = 8,
    generator: torch.Generator | None = None,
) -> float:
    """Accuracy of ``method`` with ``n`` samples per problem, drawn without replacement from
    a larger pool of samples per problem and averaged over ``repeats`` draws (the usual way
    to trace a scaling curve from one pool, as in Snell et al. 2024)."""
    check_choice("method", method, METHODS)
    correct, total = 0, 0
    for p, (pool, truth) in enumerate(zip(answers, truths)):
        if n > len(pool):
            raise ValueError(f"n={n} is not valid; problem {p} has only {len(pool)} samples")
        for _ in range(repeats):
            idx = torch.randperm(len(pool), generator=generator)[:n].tolist()
            sub_s = None if scores is None else [scores[p][i] for i in idx]
            pick = select(method, [pool[i] for i in idx], sub_s, generator)
            correct += int(pick is not None and pick == truth)
            total += 1
    return correct / max(total, 1)
