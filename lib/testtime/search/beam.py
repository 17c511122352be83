"""Step-level beam search guided by a process reward model.

As in huggingface/search-and-learn ``sal/search/beam_search.py`` and "Scaling LLM Test-Time
Compute Optimally can be More Effective than Scaling Model Parameters" (Snell et al. 2024,
arXiv 2408.03314, section 5.2): keep ``n`` beams; at every iteration each active beam samples
one next step, the PRM scores every new prefix, finished beams are set aside, and the top
``n / beam_width`` unfinished ones survive and are copied ``beam_width`` times for the next
iteration. Stops when ``n`` beams have finished or after ``max_steps`` iterations.

Defaults as in search-and-learn: ``beam_width=4``, ``temperature=0.8``, aggregation 'last',
lookahead 0 (we do not implement lookahead rollouts). Differences: all prompts are searched
in one batch; finished beams keep their score for the final best-of / weighted selection.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.runtime import check_positive
from testtime.search.policy import Policy
from testtime.search.result import SearchResult, StepScorer
from testtime.search.verifiers import aggregate


def expand(policy: Policy, prm: StepScorer, prompts: Sequence[str], paths: Sequence[list[str]],
           owners: Sequence[int], results: Sequence[SearchResult], *, generator: torch.Generator,
           temperature: float, max_step_tokens: int, aggregation: str,
           ) -> tuple[list[list[str]], list[float], list[bool]]:
    """Sample one next step for every path and score the new prefixes with the PRM.

    Charges each owner's cost (every generated token once, as with prefix caching; the
    verifier reads each new step once). Returns the new paths, their scores, finished flags.
    """
    prefixes = [prompts[o] + "".join(p) for o, p in zip(owners, paths)]
    outs = policy.sample(prefixes, generator=generator, step=True, temperature=temperature,
                         max_new_tokens=max_step_tokens)
    new_paths = [list(p) + [o.text] for p, o in zip(paths, outs)]
    step_scores = prm.score_steps([prompts[o] for o in owners], new_paths)
    scores = [aggregate(s, aggregation) for s in step_scores]
    for o, out in zip(owners, outs):
        results[o].cost.add_policy(out.num_tokens, policy.flops_per_token, calls=0)
        results[o].cost.add_verifier(out.num_tokens, prm.flops_per_token, calls=0)
    return new_paths, scores, [o.finished or not o.text for o in outs]


def start_results(policy: Policy, prm: StepScorer, prompts: Sequence[str]) -> list[SearchResult]:
    """Empty results, each charged for reading its prompt once (policy and verifier)."""
    results = [SearchResult(p) for p in prompts]
    for r in results:
        n = policy.count_tokens(r.prompt)
        r.cost.add_policy(0, policy.flops_per_token, prompt=n, calls=0)
        r.cost.add_verifier(n, prm.flops_per_token, calls=0)
    return results


def check_budget(n: int, beam_width: int) -> int:
    """Validate a search budget of ``n`` paths in groups of ``beam_width``; returns
    ``n // beam_width`` (the survivors of beam search, the subtrees of DVTS)."""
    check_positive("n", n)
    check_positive("beam_width", beam_width)
    if n % beam_width:
        raise ValueError(f"n={n} is not valid; it must be a multiple of beam_width={beam_width}")
    return n // beam_width


def beam_search(
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
    """PRM-guided beam search for every prompt; returns one :class:`SearchResult` each."""
    keep = check_budget(n, beam_width)
    results = start_results(policy, prm, prompts)
    active: list[list[list[str]]] = [[[]] for _ in prompts]  # per prompt: its surviving paths
    for it in range(max_steps):
        paths, owners = [], []
        for o, beams in enumerate(active):
            if beams and len(results[o].completions) < n:
                for j in range(n):  # each survivor copied until there are n beams again
                    paths.append(beams[j % len(beams)])
                    owners.append(o)
        if not paths:
            break
        new_paths, scores, finished = expand(
            policy, prm, prompts, paths, owners, results, generator=generator,
            temperature=temperature, max_step_tokens=max_step_tokens, aggregation=aggregation)
        candidates: list[list[tuple[float, list[str]]]] = [[] for _ in prompts]
        for o, path, score, done in zip(owners, new_paths, scores, finished):
            if done or it == max_steps - 1:
                results[o].completions.append("".join(path))
                results[o].scores.append(score)
            else:
                candidates[o].append((score, path))
        for o in set(owners):
            ranked = sorted(candidates[o], key=lambda c: -c[0])[:keep]
            active[o] = [path for _, path in ranked]
    return results
