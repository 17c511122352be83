"""What every search strategy returns: the finished candidates, their scores and the cost."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from testtime.runtime import check_choice
from testtime.search.costs import Cost
from testtime.search.voting import best_of_n, majority_vote, weighted_vote


class StepScorer(Protocol):
    """A process scorer: one score in [0, 1] per step of each solution prefix.

    :class:`testtime.search.verifiers.Verifier` implements it; tests use toy scorers.
    """

    flops_per_token: float

    def score_steps(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]], *,
                    cost: Cost | None = None) -> list[list[float]]: ...


@dataclass
class SearchResult:
    """Finished candidate completions of one prompt, their aggregated scores, and the cost."""

    prompt: str
    completions: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)

    def best(self) -> str | None:
        """The highest-scoring completion (None when nothing finished)."""
        if not self.completions:
            return None
        i = max(range(len(self.scores)), key=self.scores.__getitem__)
        return self.completions[i]

    def answer(self, answer_fn: Callable[[str], Hashable | None],
               how: str = "best") -> Hashable | None:
        """The selected answer: 'best' (best-of-N), 'weighted' (sum of scores per answer) or
        'majority' over the finished candidates."""
        check_choice("how", how, ("best", "weighted", "majority"))
        answers = [answer_fn(c) for c in self.completions]
        if how == "best":
            return best_of_n(answers, self.scores)
        if how == "weighted":
            return weighted_vote(answers, self.scores)
        return majority_vote(answers)
