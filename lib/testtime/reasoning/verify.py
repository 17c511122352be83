"""Exact verifiers of the tiny reasoner: the final answer (outcome) and every step (process).

The step verifier is the oracle process reward of "Let's Verify Step by Step" (Lightman et
al. 2023, arXiv 2305.20050): it labels each line of a solution and says exactly which step
went wrong. A step (line) is valid when it is the previous line with one operation
``a op b`` replaced by its result, the value of the whole expression is unchanged (so
reducing ``3+4`` inside ``3+4*2`` is invalid, precedence broken), and the line is
terminated properly: a line ended by ``$`` must be the answer (a single number), a line
ended by a newline must still contain an operation. Text after the last terminator (a
completion cut off by the token budget) counts as an invalid step. The padding that
right-aligns a line is not part of it.
"""

from __future__ import annotations

from testtime.reasoning.task import Problem, evaluate, reduce_at, tokenize_expr
from testtime.reasoning.tokenizer import EOS, NL, PAD


def parse_answer(completion: str) -> int | None:
    """The answer of a finished completion (its last line is a single number and ends with
    ``$``), else None."""
    if not completion.endswith(EOS):
        return None
    parsed = tokenize_expr(completion[:-1].rsplit(NL, 1)[-1])
    return parsed[0][0] if parsed is not None and not parsed[1] else None


def is_correct(problem: Problem, completion: str) -> bool:
    """Outcome verifier: the final answer equals the problem's answer (steps not checked)."""
    return parse_answer(completion) == problem.answer


def split_steps(completion: str, step_end: str = NL, eos: str = EOS) -> list[str]:
    """The steps of a completion with their terminators: ``"a\\nb$"`` -> ``["a\\n", "b$"]``.

    An unterminated tail (a cut-off line) is the last element, without terminator.
    ``step_end`` and ``eos`` let the search code use it for other step formats.
    """
    steps, start = [], 0
    for i, ch in enumerate(completion):
        if ch in (step_end, eos):
            steps.append(completion[start : i + 1])
            start = i + 1
            if ch == eos:
                return steps
    if start < len(completion):
        steps.append(completion[start:])
    return steps


def check_step(prev: str, step: str) -> bool:
    """Whether ``step`` (a line with its terminator) is a valid reduction of ``prev``."""
    if not step or step[-1] not in (NL, EOS):
        return False
    line, final = step[:-1].lstrip(PAD), step[-1] == EOS
    parsed_prev, parsed_line = tokenize_expr(prev), tokenize_expr(line)
    if parsed_prev is None or parsed_line is None:
        return False
    n_ops = len(parsed_prev[1])
    if len(parsed_line[1]) != n_ops - 1 or (n_ops == 1) != final:
        return False
    if evaluate(line) != evaluate(prev):
        return False
    return any(reduce_at(prev, i) == line for i in range(n_ops))


def step_labels(problem: Problem, completion: str) -> list[bool]:
    """Per step, whether every step up to and including it is valid (a prefix label: once a
    step is wrong, all later ones are labelled False)."""
    labels, prev, ok = [], problem.expr, True
    for step in split_steps(completion):
        ok = ok and check_step(prev, step)
        labels.append(ok)
        prev = step[:-1] if step and step[-1] in (NL, EOS) else step
    return labels


def first_error(problem: Problem, completion: str) -> int | None:
    """Index (0-based) of the first invalid step, or None when every step so far is valid.

    A finished completion with ``first_error(...) is None`` is correct; an unfinished one
    (a valid prefix ending with a newline) can still be completed correctly.
    """
    labels = step_labels(problem, completion)
    return labels.index(False) if False in labels else None
