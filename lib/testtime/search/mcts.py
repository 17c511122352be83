"""Monte Carlo tree search over reasoning steps, with UCT selection and a PRM value.

The tree's nodes are solution prefixes (a node's children are sampled next steps). One
simulation (Kocsis & Szepesvari 2006, "Bandit based Monte-Carlo Planning"; as used for LLM
reasoning in e.g. rStar / R2-LLMs, arXiv 2507.05557):

1. **select**: from the root, go to the child maximising UCT
   ``Q(c) + c_uct * sqrt(ln N(parent) / N(c))`` until a leaf;
2. **expand**: sample ``expand`` next steps from the leaf (one batch for all prompts);
   identical samples are merged into one child;
3. **evaluate**: a new child's value is its PRM score ``v`` or, with ``rollout=True``, the
   AlphaGo-style mix ``(1 - lam) v + lam z`` with ``z`` the PRM score of one sampled
   completion from it (whose finished text also becomes a candidate), ``lam=rollout_weight``;
   the evaluation counts as the child's first visit;
4. **backup**: add the best new value to ``W`` and 1 to ``N`` of every node on the path.

Finished nodes and rollouts are the candidates; the answer is the highest-scoring one.
With PRM values in [0, 1] and a small budget, ``c_uct=0.5`` (below the textbook sqrt(2))
keeps the search from spending most simulations on low-value siblings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from testtime.runtime import check_positive
from testtime.search.beam import expand as expand_steps
from testtime.search.beam import start_results
from testtime.search.policy import Policy
from testtime.search.result import SearchResult, StepScorer
from testtime.search.verifiers import aggregate, split_steps


@dataclass
class Node:
    steps: list[str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    prior: float = 0.0  # the PRM score of this prefix
    terminal: bool = False

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else self.prior


def uct(child: Node, parent_visits: int, c_uct: float) -> float:
    """``Q(c) + c_uct * sqrt(ln N(parent) / N(c))`` (every child has N >= 1)."""
    return child.q + c_uct * math.sqrt(math.log(max(parent_visits, 1)) / max(child.visits, 1))


def select_leaf(root: Node, c_uct: float) -> list[Node]:
    """The path from the root to the leaf that UCT selects."""
    path = [root]
    while path[-1].children and not path[-1].terminal:
        node = path[-1]
        path.append(max(node.children, key=lambda c: uct(c, node.visits, c_uct)))
    return path


def backup(path: Sequence[Node], value: float) -> None:
    for node in path:
        node.visits += 1
        node.value_sum += value


def mcts(
    policy: Policy,
    prm: StepScorer,
    prompts: Sequence[str],
    *,
    simulations: int = 8,
    expand: int = 4,
    c_uct: float = 0.5,
    rollout: bool = False,
    rollout_weight: float = 0.5,
    temperature: float = 0.8,
    aggregation: str = "last",
    max_step_tokens: int = 64,
    max_new_tokens: int = 256,
    generator: torch.Generator,
) -> list[SearchResult]:
    """MCTS for every prompt (simulations run in lockstep across prompts)."""
    check_positive("simulations", simulations)
    check_positive("expand", expand)
    results = start_results(policy, prm, prompts)
    roots = [Node([]) for _ in prompts]
    for _ in range(simulations):
        leaves = [select_leaf(root, c_uct) for root in roots]
        paths, owners = [], []
        for o, path in enumerate(leaves):
            if not path[-1].terminal:
                paths += [path[-1].steps] * expand
                owners += [o] * expand
        values: dict[int, float] = {}
        if paths:
            new_paths, scores, finished = expand_steps(
                policy, prm, prompts, paths, owners, results, generator=generator,
                temperature=temperature, max_step_tokens=max_step_tokens, aggregation=aggregation)
            children, seen = [], set()
            for o, steps, score, done in zip(owners, new_paths, scores, finished):
                if (o, steps[-1]) in seen:  # identical samples become one child
                    continue
                seen.add((o, steps[-1]))
                child = Node(steps, parent=leaves[o][-1], prior=score, terminal=done)
                leaves[o][-1].children.append(child)
                children.append((o, child))
                if done:
                    results[o].completions.append("".join(steps))
                    results[o].scores.append(score)
            if rollout:
                open_children = [(o, c) for o, c in children if not c.terminal]
                if open_children:
                    prefixes = [prompts[o] + "".join(c.steps) for o, c in open_children]
                    outs = policy.sample(prefixes, generator=generator, temperature=temperature,
                                         max_new_tokens=max_new_tokens)
                    full = [c.steps + split_steps(o.text) for (_, c), o in zip(open_children, outs)]
                    step_scores = prm.score_steps([prompts[o] for o, _ in open_children], full)
                    for (o, c), out, s, f in zip(open_children, outs, step_scores, full):
                        res = results[o]
                        res.cost.add_policy(out.num_tokens, policy.flops_per_token, calls=0)
                        res.cost.add_verifier(out.num_tokens, prm.flops_per_token, calls=0)
                        z = aggregate(s, aggregation)
                        c.prior = (1 - rollout_weight) * c.prior + rollout_weight * z
                        if out.finished:
                            res.completions.append("".join(f))
                            res.scores.append(z)
            for o, child in children:
                child.visits, child.value_sum = 1, child.prior
                values[o] = max(values.get(o, float("-inf")), child.prior)
        for o, path in enumerate(leaves):
            backup(path, values.get(o, path[-1].prior))
    return results
