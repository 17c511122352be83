"""Diverse Verifier Tree Search (DVTS).

From the HF write-up "Scaling test-time compute with open models" (Beeching, Tunstall, Rush
2024) and huggingface/search-and-learn ``sal/search/diverse_verifier_tree_search.py``: split
the budget ``n`` into ``n / beam_width`` independent subtrees; in each, expand the current
path into ``beam_width`` candidate next steps and keep the one the PRM scores highest
(greedy), until the kept step ends the solution. Independence keeps the subtrees diverse,
which fixes beam search's collapse onto one PRM-favoured prefix at large ``n``.

Every finished candidate met on the way is kept with its score for the final selection.
Defaults as in search-and-learn: ``beam_width=4``, ``temperature=0.8``, aggregation 'last'.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.search.beam import check_budget, expand, start_results
from testtime.search.policy import Policy
from testtime.search.result import SearchResult, StepScorer


def dvts(
    policy: Policy,
    prm: StepScorer,
    prompts: Sequence[str],
    *,
    n: int = 16,
    beam_width: int = 4,
    max_steps: int = 40,
    temperature: float = 0.8,
    aggregation: str = "last",
    max_step_tokens: int = 64,
    generator: torch.Generator,
) -> list[SearchResult]:
    """DVTS for every prompt; returns one :class:`SearchResult` each."""
    subtrees = check_budget(n, beam_width)
    results = start_results(policy, prm, prompts)
    # a subtree is (owner prompt, current path); all subtrees advance together
    trees: list[tuple[int, list[str]]] = [(o, []) for o in range(len(prompts))
                                          for _ in range(subtrees)]
    for it in range(max_steps):
        if not trees:
            break
        paths = [path for _, path in trees for _ in range(beam_width)]
        owners = [o for o, _ in trees for _ in range(beam_width)]
        new_paths, scores, finished = expand(
            policy, prm, prompts, paths, owners, results, generator=generator,
            temperature=temperature, max_step_tokens=max_step_tokens, aggregation=aggregation)
        survivors = []
        for t, (o, _) in enumerate(trees):
            block = range(t * beam_width, (t + 1) * beam_width)
            for j in block:
                if finished[j] or it == max_steps - 1:
                    results[o].completions.append("".join(new_paths[j]))
                    results[o].scores.append(scores[j])
            best = max(block, key=scores.__getitem__)
            if not (finished[best] or it == max_steps - 1):
                survivors.append((o, new_paths[best]))
        trees = survivors
    return results
