"""A small, generic training loop for TinyGPT-style models (AdamW, warmup + cosine, clipping)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from testtime.models import cosine_lr

Batch = tuple[torch.Tensor, torch.Tensor]


def train_lm(
    model: nn.Module,
    get_batch: Callable[[int], Batch],
    steps: int,
    *,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    warmup: int = 0,
    grad_clip: float = 1.0,
    progress: bool = True,
    desc: str = "training",
) -> list[float]:
    """Train ``model`` for ``steps`` steps on ``get_batch(step) -> (inputs, targets)``.

    The model's forward must return ``(logits, loss)`` given targets (as TinyGPT does; targets
    of -100 are ignored). Returns the loss of every step.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r} is not valid; expected an int >= 0")
    if lr <= 0:
        raise ValueError(f"lr={lr!r} is not valid; expected a float > 0")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    model.train()
    losses = []
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup)
        x, y = get_batch(step)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses
