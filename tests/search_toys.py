"""Toy policies and scorers for the search tests (not a test module)."""

from __future__ import annotations

import torch

from testtime.search import Completion, Cost


class ToyPolicy:
    """Each step is one character of ``alphabet`` plus a newline, drawn uniformly; after
    ``length`` steps the solution ends with the step ``"=$"``. Prompts contain no newline."""

    flops_per_token = 10.0

    def __init__(self, alphabet: str = "01", length: int = 5) -> None:
        self.alphabet, self.length = alphabet, length

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _one_step(self, done: int, generator: torch.Generator) -> str:
        if done >= self.length:
            return "=$"
        i = int(torch.randint(len(self.alphabet), (1,), generator=generator))
        return self.alphabet[i] + "\n"

    def sample(self, prefixes, *, generator, step=False, max_new_tokens=256, temperature=0.8,
               top_p=None, cost: Cost | None = None):
        out = []
        for prefix in prefixes:
            done, text = prefix.count("\n"), ""
            while True:
                s = self._one_step(done, generator)
                text, done = text + s, done + 1
                if step or s.endswith("$"):
                    break
            out.append(Completion(text, len(text), text.endswith("$")))
            if cost is not None:
                cost.add_policy(len(text), self.flops_per_token, prompt=len(prefix))
        return out


class PrefixScorer:
    """PRM-like toy scorer: a step's score is the fraction of the target matched so far,
    1.0 only while every step so far equals the target's."""

    flops_per_token = 1.0

    def __init__(self, target: str) -> None:
        self.target = target  # e.g. "1\n0\n1\n1\n0\n=$"

    def score_steps(self, prompts, step_lists, *, cost=None):
        out = []
        for steps in step_lists:
            scores, text = [], ""
            for s in steps:
                text += s
                ok = self.target.startswith(text)
                matched = sum(a == b for a, b in zip(text, self.target)) / len(self.target)
                scores.append(1.0 if ok and text == self.target else (0.5 + 0.4 * matched if ok
                                                                        else 0.1 * matched))
            out.append(scores)
        return out
