"""RL-trained tiny reasoners, cached: the SFT policy of ``testtime.reasoning`` after a short
run of verifier-rewarded RL (notebook 15 trains them; notebooks 17-19 reuse them).

The recipe is deliberately small (quick mode on 2 CPU cores): prompts from the *train*
split of levels 3-4, the exact-answer verifier as reward, :class:`testtime.rl.RLConfig`
hyperparameters. The cache key holds the SFT config, the RL config, the levels and the seed.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import torch

from testtime.cache import load_or_train
from testtime.models import TinyGPT
from testtime.reasoning.sft import build_model, load_reasoner, reasoner_config
from testtime.reasoning.task import Problem, make_problems
from testtime.reasoning.tokenizer import PROMPT_LEN
from testtime.reasoning.verify import is_correct
from testtime.rl.rollouts import Rollout
from testtime.rl.trainer import RLConfig, train_rl

# levels 3-4: the SFT policy's pass@1 is about 0.5 and its pass@16 about 0.98 there (notebook
# 15, quick mode), so a verifier reward has room to move probability onto right solutions
RL_LEVELS = (3, 4)
# the longest completion of an RL level: one aligned line of PROMPT_LEN characters per step
RL_MAX_NEW_TOKENS = max(RL_LEVELS) * PROMPT_LEN
# lr 1e-4 with warmup: on the earlier one-digit task, a fresh Adam at >= 3e-4 degraded the
# converged SFT policy (not re-swept on the current task)
DEFAULT_RL = RLConfig(
    loss_type="grpo",
    steps=80,
    prompts_per_step=16,
    group_size=16,
    lr=1e-4,
    warmup=10,
    max_new_tokens=RL_MAX_NEW_TOKENS,
)


def verifier_rewards(problems: list[Problem], completions: list[str], rollout: Rollout) -> torch.Tensor:
    """The exact-answer reward (1 when the final answer is right) for :func:`train_rl`."""
    return torch.tensor([float(is_correct(p, c)) for p, c in zip(problems, completions)])


def train_rl_policy(
    config: RLConfig = DEFAULT_RL,
    *,
    seed: int = 0,
    levels: tuple[int, ...] = RL_LEVELS,
    progress: bool = True,
) -> tuple[TinyGPT, list[dict[str, float]]]:
    """Start from the cached SFT small reasoner and train it with ``config`` on train-split
    problems (drawn with ``seed``); return the policy and the diagnostics of every step."""
    model = load_reasoner("small", verbose=False)
    pool = make_problems(200, levels, seed=seed, split="train")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ref = load_reasoner("small", verbose=False) if config.beta > 0 else None
    history = train_rl(
        model,
        lambda step: rng.sample(pool, config.prompts_per_step),
        verifier_rewards,
        config,
        generator=gen,
        ref_model=ref,
        progress=progress,
    )
    return model.eval(), history


def rl_policy_key(config: RLConfig, seed: int) -> dict[str, Any]:
    """The cache key of an RL policy: the SFT config, the RL config, the levels and the seed."""
    return {"sft": reasoner_config("small"), "rl": config.to_dict(), "levels": list(RL_LEVELS),
            "seed": seed}


def load_rl_policy(
    loss_type: str = "grpo",
    *,
    seed: int = 0,
    config: RLConfig | None = None,
    device: torch.device | str = "cpu",
    verbose: bool = True,
    **overrides: Any,
) -> tuple[TinyGPT, list[dict[str, float]]]:
    """The cached RL-trained reasoner (trained on first use) and its training diagnostics.

    ``config`` defaults to ``DEFAULT_RL`` with ``loss_type``; keyword ``overrides`` replace
    its fields (e.g. ``steps=20``).
    """
    cfg = replace(config or DEFAULT_RL, loss_type=loss_type, **overrides)
    key = rl_policy_key(cfg, seed)

    def train() -> dict[str, Any]:
        model, history = train_rl_policy(cfg, seed=seed, progress=verbose)
        return {"state_dict": model.state_dict(), "history": history}

    result = load_or_train(f"rl-{loss_type}-small", key, train, verbose=verbose)
    model = build_model(reasoner_config("small"))
    model.load_state_dict(result["state_dict"])
    return model.to(device).eval(), result["history"]


def rl_quality(result: dict[str, Any]) -> dict[str, float]:
    """pass@1 at T = 1 (4 samples on 64 test-split problems per RL level, a fixed generator):
    the number a retrained RL policy is compared on."""
    from testtime.reasoning.sampling import sample_solutions

    model = build_model(reasoner_config("small"))
    model.load_state_dict(result["state_dict"])
    problems = make_problems(64, RL_LEVELS, seed=7, split="test")
    outs = sample_solutions(model.eval(), problems, 4, generator=torch.Generator().manual_seed(7))
    scores = [float(is_correct(p, c)) for p, row in zip(problems, outs) for c in row]
    return {"pass@1": sum(scores) / len(scores)}


def _register_references() -> None:
    from testtime.checkpoints import Reference, register

    first = None
    for seed in (0, 1, 2):  # notebook 15 loads the policy of its own seed, notebook 19 seed 0
        key = rl_policy_key(DEFAULT_RL, seed)

        def train(seed: int = seed) -> dict[str, Any]:
            model, history = train_rl_policy(DEFAULT_RL, seed=seed, progress=False)
            return {"state_dict": model.state_dict(), "history": history}

        ref = register(Reference("rl-grpo-small", key, train=train, quality=rl_quality,
                                 band={"pass@1": 0.1},
                                 same_recipe_as=None if seed == 0 else first.filename))
        first = ref if seed == 0 else first


_register_references()
