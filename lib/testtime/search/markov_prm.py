"""A process reward model that judges each step from the current state alone (Markov view).

"Atom of Thoughts for Markov LLM Test-Time Scaling" (Teng et al. 2025, arXiv 2502.12018)
makes every reasoning step a self-contained question, so that the next step depends on the
current *state* only. On such states a PRM can judge a step the way a grader checks one line
of working: it reads the previous state (posed as a fresh prompt) and the step, not the
whole history. Its output for step ``i`` is a *local* validity ``v_i`` (the step is a valid
move from the state before it); the value of a prefix is the probability that every step
so far is valid, ``V_i = prod_{j <= i} v_j``, the quantity a prefix step label ("Let's
Verify Step by Step", Lightman et al. 2023, arXiv 2305.20050) encodes.

Local labels are what such a PRM needs: a judge's verdict on each step (the exact step
checker here, humans in PRM800K), not a Monte-Carlo estimate of the value of the whole
prefix (Math-Shepherd), which a model that does not see the prefix cannot predict.
:func:`markov_rows` turns step-labelled solutions into one training row per step;
:class:`MarkovVerifier` scores with any value model of :mod:`testtime.search.verifiers`.

Cost: scoring step ``i`` reads the state line before it and the step. With prefix caching
a search pays only for the new step's tokens; ``flops_per_token`` (per *step* token, the
unit the search code charges) is ``read_factor`` times the model's, and
:meth:`MarkovVerifier.tokens_read` measures the true ratio (for the tiny reasoner a state
line has 2 characters more than the step after it, so well-formed steps read at most 3
tokens per step token; the left padding of a prompt is the same for every state and is
computed once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from testtime.runtime import check_positive
from testtime.search.costs import Cost
from testtime.search.verifiers import (
    ImplicitValueModel,
    LabelledSolution,
    ValueModel,
    encode_for_scoring,
    split_steps,
)


def states(prompt: str, steps: Sequence[str], *, step_end: str = "\n", eos: str = "$",
           pad: str = " ") -> list[str]:
    """The state each step starts from: the last line of ``prompt`` for step 0, else the
    previous step without its terminator (either without the padding that aligns it). An
    empty step (``[""] + steps`` asks for the bare prompt's value) is no move: the state
    stays."""
    state = prompt.rstrip(step_end).rsplit(step_end, 1)[-1].strip(pad)
    out = []
    for step in steps:
        out.append(state)
        if step:
            state = (step[:-1] if step[-1] in (step_end, eos) else step).strip(pad)
    return out


def markov_rows(prompts: Sequence[str], completions: Sequence[str],
                labels: Sequence[Sequence[float]], to_prompt: Callable[[str], str], *,
                step_end: str = "\n", eos: str = "$") -> list[LabelledSolution]:
    """One training row per step: ``(to_prompt(state), step, [label])``.

    ``labels`` are prefix labels (1 while every step so far is valid, e.g. from
    :func:`~testtime.search.trained.checker_step_labels`); a solution contributes its
    steps up to and including the first one labelled 0, where the prefix label equals the
    step's local validity (after it, a prefix label says nothing about the step itself).
    """
    if not (len(prompts) == len(completions) == len(labels)):
        raise ValueError(f"prompts ({len(prompts)}), completions ({len(completions)}) and "
                         f"labels ({len(labels)}) must have the same length")
    rows = []
    for prompt, completion, ls in zip(prompts, completions, labels):
        steps = split_steps(completion, step_end, eos)
        if len(ls) != len(steps):
            raise ValueError(f"labels has {len(ls)} entries for {len(steps)} steps of "
                             f"{completion!r}")
        for state, step, y in zip(states(prompt, steps, step_end=step_end, eos=eos), steps, ls):
            rows.append(LabelledSolution(to_prompt(state), step, [float(y)]))
            if y == 0:
                break
    return rows


class MarkovVerifier:
    """A :class:`~testtime.search.result.StepScorer` that reads each step with only the
    state before it (``to_prompt(state) + step``) and returns prefix values, the running
    product of the steps' local validities (so aggregation 'last' is their product).

    ``model`` is a :class:`ValueModel` or :class:`ImplicitValueModel` trained on
    :func:`markov_rows`; ``read_factor`` is the FLOPs charged per step token, in units of
    the model's FLOPs per token (see the module docstring). Local scores are memoised
    (up to ``memo_size`` pairs; call :meth:`clear_memo` after changing the model's
    weights): only wall time is saved, the FLOPs a search is charged do not change.
    """

    def __init__(self, model: ValueModel | ImplicitValueModel, tokenizer,
                 to_prompt: Callable[[str], str], *, step_end: str = "\n", eos: str = "$",
                 pad: str = " ", read_factor: float = 3.0, batch_size: int = 4096,
                 memo_size: int = 1_000_000) -> None:
        check_positive("read_factor", read_factor)
        check_positive("batch_size", batch_size)
        self.model, self.tokenizer, self.to_prompt = model, tokenizer, to_prompt
        self.step_end, self.eos, self.pad = step_end, eos, pad
        self.pad_id = tokenizer.encode(pad)[0]
        self.batch_size = int(batch_size)
        self.read_factor = float(read_factor)
        self.memo_size = int(memo_size)
        self._memo: dict[tuple[str, str], float] = {}  # (state prompt, step) -> local score
        self.flops_per_token = self.read_factor * float(model.flops_per_token())

    def clear_memo(self) -> None:
        """Forget the memoised local scores (needed after the model's weights change)."""
        self._memo.clear()

    def _rows(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]],
              ) -> tuple[list[str], list[str], list[tuple[int, int]]]:
        ps, ss, where = [], [], []
        for r, (prompt, steps) in enumerate(zip(prompts, step_lists)):
            sts = states(prompt, steps, step_end=self.step_end, eos=self.eos, pad=self.pad)
            for i, (state, step) in enumerate(zip(sts, steps)):
                if not step:  # no move: valid, vacuously (the empty product is 1)
                    continue
                ps.append(self.to_prompt(state))
                ss.append(step)
                where.append((r, i))
        return ps, ss, where

    @torch.no_grad()
    def local_scores(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]], *,
                     cost: Cost | None = None) -> list[list[float]]:
        """Per step, the probability that it is a valid move from the state before it (1 for
        an empty step, which is no move)."""
        ps, ss, where = self._rows(prompts, step_lists)
        # a (state, step) pair always gets the same score: a search that rescores its
        # prefixes every iteration only runs the model on the pairs it has not seen
        todo = list(dict.fromkeys(k for k in zip(ps, ss) if k not in self._memo))
        device = next(self.model.parameters()).device
        for b in range(0, len(todo), self.batch_size):
            chunk = todo[b : b + self.batch_size]
            idx, pos = encode_for_scoring(self.tokenizer, [p for p, _ in chunk],
                                          [[s] for _, s in chunk], self.pad_id)
            probs = torch.sigmoid(self.model(idx.to(device)).float()).cpu()
            for key, p, row in zip(chunk, pos, probs):
                self._memo[key] = float(row[p[0]])
        out: list[list[float]] = [[1.0] * len(s) for s in step_lists]
        for key, (r, i) in zip(zip(ps, ss), where):
            out[r][i] = self._memo[key]
        if len(self._memo) > self.memo_size:
            self.clear_memo()
        if cost is not None:
            read, _ = self.tokens_read(prompts, step_lists)
            cost.add_verifier(read, float(self.model.flops_per_token()))
        return out

    def score_steps(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]], *,
                    cost: Cost | None = None) -> list[list[float]]:
        """Prefix values: ``V_i = prod_{j <= i} v_j``. An empty step (as in ``[""] + steps``,
        which asks for the bare prompt's value) is no move, ``v = 1``; a solution without a
        non-empty step has no answer: ``[0.0]`` for an empty list, zeros for ``[""]``."""
        out = []
        for steps, row in zip(step_lists, self.local_scores(prompts, step_lists, cost=cost)):
            if not any(steps):
                out.append([0.0] * max(1, len(steps)))
                continue
            value, values = 1.0, []
            for v in row:
                value *= v
                values.append(value)
            out.append(values)
        return out

    def score(self, prompts: Sequence[str], completions: Sequence[str], *,
              cost: Cost | None = None) -> list[float]:
        """The value of each whole completion: its last prefix value (0 without a step)."""
        steps = [split_steps(c, self.step_end, self.eos) or [""] for c in completions]
        return [values[-1] for values in self.score_steps(prompts, steps, cost=cost)]

    def tokens_read(self, prompts: Sequence[str], step_lists: Sequence[Sequence[str]],
                    ) -> tuple[int, int]:
        """``(tokens read, step tokens)``: the model reads every state line (without its
        left padding) and every step; a search generates only the step tokens."""
        ps, ss, _ = self._rows(prompts, step_lists)
        read = sum(len(self.tokenizer.encode(p.lstrip(self.pad))) + len(self.tokenizer.encode(s))
                   for p, s in zip(ps, ss))
        return read, sum(len(self.tokenizer.encode(s)) for s in ss)
