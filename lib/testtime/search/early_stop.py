"""Stop spending samples once a verifier (or the vote itself) says the answer is settled.

"TrimR: Verifier-based Training-Free Thinking Compression for Efficient Test-Time Scaling"
(arXiv 2505.17155) lets a lightweight verifier watch a long reasoning trace and cut it once
further thinking is redundant: the answer has already been reached and is only being
re-checked. Our tiny reasoner writes no redundant steps inside one solution, so the redundancy
we trim is *across* solutions: samples drawn after the outcome of the vote can no longer
change. Samples arrive in batches of ``batch`` (parallel decoding); after each batch we stop if

- ``rule="exact"``: the leading answer is ahead of the runner-up by more than the samples
  still to come, so the full majority vote is already decided (no accuracy can be lost);
- ``rule="margin"``: the leader is ahead by at least ``margin`` votes (cheaper, may err);
- ``rule="verifier"``: a sample of the leading answer has verifier score >= ``threshold``
  (the TrimR flavour: trust a confident verifier).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from testtime.runtime import check_choice

RULES = ("exact", "margin", "verifier")


@dataclass
class EarlyStopResult:
    answer: Hashable | None
    used: int  # samples consumed


def early_stopping_vote(
    answers: Sequence[Hashable | None],
    *,
    rule: str = "exact",
    batch: int = 4,
    margin: int = 3,
    scores: Sequence[float] | None = None,
    threshold: float = 0.9,
) -> EarlyStopResult:
    """Majority vote over ``answers`` (in sampling order) that stops as early as ``rule`` allows.

    ``None`` answers (unparseable samples) count as samples but not as votes. Ties between
    answers go to the one seen first, as in :func:`testtime.search.voting.majority_vote`.
    """
    check_choice("rule", rule, RULES)
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is not valid; expected an int >= 1")
    if rule == "verifier" and (scores is None or len(scores) != len(answers)):
        raise ValueError("scores is not valid: rule='verifier' needs one score per answer")
    counts: Counter = Counter()
    first_seen: dict[Hashable, int] = {}
    best_score: dict[Hashable, float] = {}
    n = len(answers)
    for start in range(0, n, batch):
        used = min(start + batch, n)
        for i in range(start, used):
            a = answers[i]
            if a is None:
                continue
            counts[a] += 1
            first_seen.setdefault(a, i)
            if scores is not None:
                best_score[a] = max(best_score.get(a, float("-inf")), float(scores[i]))
        if not counts:
            continue
        ranked = sorted(counts, key=lambda a: (-counts[a], first_seen[a]))
        leader = ranked[0]
        lead = counts[leader] - (counts[ranked[1]] if len(ranked) > 1 else 0)
        if (
            used == n
            or (rule == "exact" and lead > n - used)
            or (rule == "margin" and lead >= margin)
            or (rule == "verifier" and best_score[leader] >= threshold)
        ):
            return EarlyStopResult(leader, used)
    return EarlyStopResult(None, n)
