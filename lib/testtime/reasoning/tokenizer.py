"""The character format of the tiny reasoner: fixed-width lines, one step per line.

A training sequence is the prompt, then the solution lines; every line is right-aligned in
``PROMPT_LEN - 1`` characters and ended by a newline, except the last, which is ended by the
end-of-sequence character ``$``::

    prompt      "         37+45*12-08\\n"   (PROMPT_LEN = 21 characters)
    completion  "            37+40-08\\n"
                "               77-08\\n"
                "                  79$"

Every prompt has the same length, so prompts of different problems batch together in
``TinyGPT.generate`` and every completion starts at position ``PROMPT_LEN``. Right-aligning
the solution lines too puts each column of a number at the same offset from the column above
it on every line, so the copy-and-reduce pattern is the same at every step; with lines as long
as their text, a small model trained for a fixed budget learned some line positions and not
others, and how well depended on the seed. Rows that stop early are padded with spaces
(``PAD``) after the ``$``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.data import CharTokenizer
from testtime.reasoning.task import DIGITS, MAX_OPS, NUM_DIGITS, OPS, Problem, solve

PAD, NL, EOS = " ", "\n", "$"
TOKENIZER = CharTokenizer(PAD + DIGITS + OPS + NL + EOS)
PAD_ID, NL_ID, EOS_ID = (TOKENIZER.stoi[c] for c in (PAD, NL, EOS))
STEP_STOP_IDS = (NL_ID, EOS_ID)  # stop tokens that end one step (for step-level search)


def line_len(n_ops: int) -> int:
    """The length of a line with ``n_ops`` operations (every number has ``NUM_DIGITS``)."""
    return n_ops * (1 + NUM_DIGITS) + NUM_DIGITS


PROMPT_LEN = line_len(MAX_OPS) + 1  # the longest expression plus its newline
MAX_COMPLETION_LEN = MAX_OPS * PROMPT_LEN  # at most MAX_OPS lines, each as wide as the prompt
BLOCK_SIZE = PROMPT_LEN + MAX_COMPLETION_LEN


def align(line: str) -> str:
    """A line right-aligned with ``PAD`` to ``PROMPT_LEN - 1`` characters."""
    if len(line) > PROMPT_LEN - 1:
        raise ValueError(f"line={line!r} is not valid; at most {MAX_OPS} operations fit")
    return line.rjust(PROMPT_LEN - 1, PAD)


def format_prompt(expr: str) -> str:
    """``"37+08"`` -> the aligned expression and a newline (``PROMPT_LEN`` characters)."""
    return align(expr) + NL


def format_solution(lines: Sequence[str]) -> str:
    """Solution lines -> the completion text ``"l1\\nl2\\n...\\nanswer$"``, each aligned."""
    return NL.join(align(line) for line in lines) + EOS


def target_completion(problem: Problem) -> str:
    """The canonical completion of a problem (what SFT trains on)."""
    return format_solution(solve(problem.expr))


def encode_prompts(problems: Sequence[Problem], device: torch.device | str = "cpu") -> torch.Tensor:
    """The prompts of ``problems`` as a ``(B, PROMPT_LEN)`` int64 tensor."""
    ids = [TOKENIZER.encode(format_prompt(p.expr)) for p in problems]
    return torch.tensor(ids, dtype=torch.long, device=device)


def decode_completion(ids: Sequence[int] | torch.Tensor) -> str:
    """Token ids of a completion -> text, cut after the first ``$`` (padding dropped)."""
    text = TOKENIZER.decode(ids)
    end = text.find(EOS)
    return text if end < 0 else text[: end + 1]


def decode_completions(tokens: torch.Tensor, prompt_len: int = PROMPT_LEN) -> list[str]:
    """``generate`` output ``(B, prompt_len + n)`` -> the completion text of each row."""
    return [decode_completion(row) for row in tokens[:, prompt_len:].tolist()]


def encode_examples(
    problems: Sequence[Problem],
    completions: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """SFT tensors ``(x, y)`` of shape ``(B, T)``: inputs and next-token targets.

    The loss counts only completion tokens: targets on the prompt and on the padding after
    ``$`` are -100 (ignored by ``F.cross_entropy``). ``completions`` defaults to the canonical
    solutions.
    """
    if completions is None:
        completions = [target_completion(p) for p in problems]
    if len(completions) != len(problems):
        raise ValueError(
            f"completions has {len(completions)} items; expected {len(problems)}, one per problem"
        )
    seqs = [TOKENIZER.encode(format_prompt(p.expr) + c) for p, c in zip(problems, completions)]
    T = max(len(s) for s in seqs)
    x = torch.full((len(seqs), T - 1), PAD_ID, dtype=torch.long)
    y = torch.full((len(seqs), T - 1), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        s_t = torch.tensor(s, dtype=torch.long)
        x[i, : len(s) - 1] = s_t[:-1]
        y[i, PROMPT_LEN - 1 : len(s) - 1] = s_t[PROMPT_LEN:]
    return x.to(device), y.to(device)
