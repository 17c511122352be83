"""The character format of the tiny reasoner: fixed-width prompts, one step per line.

A training sequence is the prompt, right-aligned in ``PROMPT_LEN`` characters and ended by a
newline, then the solution lines, each ended by a newline except the last, which is ended
by the end-of-sequence character ``$``::

    "         3+4*2-5\\n" + "3+8-5\\n1-5\\n6$"
     <----- PROMPT_LEN ----->  <-- completion -->

Every prompt has the same length, so prompts of different problems batch together in
``TinyGPT.generate`` and every completion starts at position ``PROMPT_LEN``. Rows that stop
early are padded with spaces (``PAD``) after the ``$``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.data import CharTokenizer
from testtime.reasoning.task import DIGITS, MAX_OPS, MOD, OPS, Problem, solve

PAD, NL, EOS = " ", "\n", "$"
TOKENIZER = CharTokenizer(PAD + DIGITS + OPS + NL + EOS)
PAD_ID, NL_ID, EOS_ID = (TOKENIZER.stoi[c] for c in (PAD, NL, EOS))
STEP_STOP_IDS = (NL_ID, EOS_ID)  # stop tokens that end one step (for step-level search)
NUM_LEN = len(str(MOD - 1))  # the widest number


def max_line_len(n_ops: int) -> int:
    """The longest line with ``n_ops`` operations (a single-digit right operand of ``*`` is
    not assumed: the bound holds for any line a model may write)."""
    return n_ops * (1 + NUM_LEN) + NUM_LEN


PROMPT_LEN = max_line_len(MAX_OPS) + 1  # the longest expression plus its newline
# longest completion: the lines with MAX_OPS - 1, ..., 0 operations, each with its terminator
MAX_COMPLETION_LEN = sum(max_line_len(k) + 1 for k in range(MAX_OPS))
BLOCK_SIZE = PROMPT_LEN + MAX_COMPLETION_LEN


def format_prompt(expr: str) -> str:
    """``"3+4"`` -> ``"               3+4\\n"`` (right-aligned to ``PROMPT_LEN - 1``)."""
    if len(expr) > PROMPT_LEN - 1:
        raise ValueError(f"expr={expr!r} is not valid; at most {MAX_OPS} operations fit")
    return expr.rjust(PROMPT_LEN - 1, PAD) + NL


def format_solution(lines: Sequence[str]) -> str:
    """Solution lines -> the completion text ``"l1\\nl2\\n...\\nanswer$"``."""
    return NL.join(lines) + EOS


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
