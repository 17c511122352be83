"""Supervised fine-tuning of the tiny reasoner, cached by config.

A TinyGPT is trained with next-token cross-entropy on the canonical solutions of random
training-split problems, the loss on completion tokens only (prompt targets are -100), as
in the SFT stage of "Training language models to follow instructions with human feedback"
(Ouyang et al. 2022, arXiv 2203.02155). The recipe is deliberately short: the course needs
a policy that solves easy problems and often fails hard ones, so that sampling, search and
RL have headroom to show.

Two sizes share one recipe: ``"small"`` (the policy of Parts III-IV) and ``"large"`` (about
3.4x the non-embedding parameters, for FLOPs-matched comparisons). Full mode
(on a GPU) keeps the sizes and the recipe, so every notebook sees a policy of the same
strength, and trains under bf16 autocast.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from testtime.cache import load_or_train
from testtime.models import GPTConfig, TinyGPT, cosine_lr
from testtime.reasoning.task import LEVELS, make_problems
from testtime.reasoning.tokenizer import BLOCK_SIZE, TOKENIZER, encode_examples
from testtime.runtime import check_choice

TASK_VERSION = 1  # bump when the task or format changes, so cached models retrain

SIZES: dict[str, dict[str, int]] = {
    "small": {"n_layer": 2, "n_head": 4, "n_embd": 64},
    "large": {"n_layer": 3, "n_head": 4, "n_embd": 96},
}
RECIPES: dict[str, dict[str, Any]] = {
    "small": {"steps": 2500, "batch_size": 64, "lr": 5e-3, "warmup": 100, "levels": LEVELS},
    "large": {"steps": 2500, "batch_size": 64, "lr": 4e-3, "warmup": 100, "levels": LEVELS},
}
TRAIN_SEED = 0  # fixed: every notebook shares the same cached policy and varies its own seed


def reasoner_config(size: str = "small") -> dict[str, Any]:
    """The full config (architecture + recipe) that keys the cached checkpoint."""
    check_choice("size", size, tuple(SIZES))
    recipe = dict(RECIPES[size])
    recipe["levels"] = list(recipe["levels"])
    return {
        "task_version": TASK_VERSION,
        "size": size,
        "model": {"vocab_size": TOKENIZER.vocab_size, "block_size": BLOCK_SIZE, **SIZES[size]},
        "recipe": recipe,
        "train_seed": TRAIN_SEED,
    }


def build_model(config: dict[str, Any]) -> TinyGPT:
    return TinyGPT(GPTConfig(**config["model"]))


def train_reasoner(
    config: dict[str, Any],
    device: torch.device | str = "cpu",
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a model from ``config`` (see :func:`reasoner_config`); return its state dict
    (on the CPU) and the loss curve."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    recipe = config["recipe"]
    torch.manual_seed(config["train_seed"])
    rng = random.Random(config["train_seed"])
    model = build_model(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], betas=(0.9, 0.95))
    use_bf16 = device.type == "cuda"
    losses = []
    model.train()
    steps = recipe["steps"]
    for step in tqdm(range(steps), desc=f"SFT {config['size']}", disable=not progress, leave=False):
        levels = [rng.choice(recipe["levels"]) for _ in range(recipe["batch_size"])]
        problems = [
            make_problems(1, lv, seed=rng.getrandbits(32), split="train")[0] for lv in levels
        ]
        x, y = encode_examples(problems, device=device)
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, recipe["lr"], recipe["warmup"])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"state_dict": state, "losses": losses, "config": config}


def load_reasoner(
    size: str = "small",
    *,
    device: torch.device | str = "cpu",
    verbose: bool = True,
) -> TinyGPT:
    """The cached SFT policy of the given size (trained on first use), in eval mode.

    Trained on ``device`` when it is not cached yet (a GPU trains under bf16 autocast).
    """
    config = reasoner_config(size)
    result = load_or_train(
        f"reasoner-{size}",
        config,
        lambda: train_reasoner(config, device, progress=verbose),
        verbose=verbose,
    )
    model = build_model(config)
    model.load_state_dict(result["state_dict"])
    return model.to(device).eval()


def load_reasoner_losses(size: str = "small") -> list[float]:
    """The SFT loss curve of the cached model (trains it first if needed)."""
    config = reasoner_config(size)
    result = load_or_train(
        f"reasoner-{size}", config, lambda: train_reasoner(config), verbose=False
    )
    return result["losses"]
