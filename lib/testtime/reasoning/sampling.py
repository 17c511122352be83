"""Sampling solutions from the tiny reasoner in large batches, with token counts for FLOPs.

Prompts all have ``PROMPT_LEN`` tokens, so the ``n`` samples of many problems run as one
batched, KV-cached ``TinyGPT.generate`` call (split into chunks of ``batch_size`` rows).
Continuations of partial solutions (step-level search) are grouped by length and each
group decoded as one batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.models import TinyGPT
from testtime.reasoning.task import Problem
from testtime.reasoning.tokenizer import (
    BLOCK_SIZE,
    EOS_ID,
    PAD_ID,
    STEP_STOP_IDS,
    TOKENIZER,
    encode_prompts,
    format_prompt,
)
from testtime.runtime import check_choice


def _decode_rows(model: TinyGPT, rows: torch.Tensor, max_new: int, stops: tuple[int, ...],
                 temperature: float, top_k: int | None, top_p: float | None,
                 generator: torch.Generator | None, batch_size: int) -> list[str]:
    outs = []
    device = next(model.parameters()).device
    for start in range(0, rows.size(0), batch_size):
        chunk = rows[start : start + batch_size].to(device)
        tokens = model.generate(
            chunk, max_new, temperature=temperature, top_k=top_k, top_p=top_p,
            generator=generator, stop_tokens=stops, pad_token=PAD_ID,
        )
        for row in tokens[:, chunk.size(1) :].tolist():
            text = TOKENIZER.decode(row)
            cut = min((text.find(TOKENIZER.alphabet[s]) for s in stops
                       if TOKENIZER.alphabet[s] in text), default=-1)
            outs.append(text if cut < 0 else text[: cut + 1])
    return outs


@torch.no_grad()
def sample_solutions(
    model: TinyGPT,
    problems: Sequence[Problem],
    n: int = 1,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 2048,
    max_new_tokens: int | None = None,
) -> list[list[str]]:
    """``n`` sampled completions per problem: ``out[i][j]`` is sample ``j`` of problem ``i``.

    Each completion is the generated text up to and including ``$`` (unfinished ones, cut by
    ``max_new_tokens``, have no ``$``); ``len(completion)`` is the number of generated tokens.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not valid; expected an int >= 1")
    if not problems:
        return []
    prompts = encode_prompts(problems).repeat_interleave(n, dim=0)
    max_new = max_new_tokens or BLOCK_SIZE - prompts.size(1)
    flat = _decode_rows(model, prompts, max_new, (EOS_ID,), temperature, top_k, top_p,
                        generator, batch_size)
    return [flat[i * n : (i + 1) * n] for i in range(len(problems))]


@torch.no_grad()
def sample_continuations(
    model: TinyGPT,
    problems: Sequence[Problem],
    prefixes: Sequence[str],
    *,
    until: str = "step",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 2048,
) -> list[str]:
    """Continue partial completions: ``prefixes[i]`` of ``problems[i]`` (pass a problem once per
    prefix). ``until="step"`` stops each row at the end of its next line (newline or ``$``),
    ``until="end"`` at ``$``. Returns only the new text of each row.
    """
    check_choice("until", until, ("step", "end"))
    if len(prefixes) != len(problems):
        raise ValueError(f"prefixes has {len(prefixes)} entries; expected {len(problems)}")
    stops = STEP_STOP_IDS if until == "step" else (EOS_ID,)
    seqs = [TOKENIZER.encode(format_prompt(p.expr) + s) for p, s in zip(problems, prefixes)]
    out: list[str] = [""] * len(seqs)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(len(s), []).append(i)
    for length, idx in sorted(by_len.items()):
        max_new = BLOCK_SIZE - length
        if max_new <= 0:
            continue
        rows = torch.tensor([seqs[i] for i in idx], dtype=torch.long)
        texts = _decode_rows(model, rows, max_new, stops, temperature, top_k, top_p,
                             generator, batch_size)
        for i, text in zip(idx, texts):
            out[i] = text
    return out


def generated_tokens(completions: Sequence[str] | Sequence[Sequence[str]]) -> int:
    """Total generated tokens of completions (a flat or a nested list)."""
    total = 0
    for c in completions:
        total += len(c) if isinstance(c, str) else generated_tokens(c)
    return total

