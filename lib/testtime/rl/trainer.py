"""A small GRPO-style trainer for the tiny reasoner: sample G completions per prompt, score
them, turn the rewards into group advantages, take a few optimisation steps on the
``policy_loss`` of the chosen ``loss_type``, and log the diagnostics.

One step (Algorithm 1 of "DeepSeekMath", with its mu inner iterations):

    problems = problems_fn(step)                     # P prompts
    rollout  = G samples of each, old and reference log-probs   (no gradients)
    rewards  = reward_fn(problems, completions)      # (P*G,) and optional diagnostics
    A        = group_advantages(rewards, G, ...)      # per loss type, see ADVANTAGE_DEFAULTS
    repeat inner_steps times: loss = policy_loss(logp, old_logp, A, mask, ...); Adam step

Deterministic on a CPU for a fixed generator and initial weights (tests check it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from testtime.models import TinyGPT
from testtime.reasoning.task import Problem
from testtime.reasoning.tokenizer import EOS_ID, PAD_ID, decode_completions, encode_prompts
from testtime.rl.advantages import (
    BASELINES,
    dynamic_sampling_mask,
    group_advantages,
    zero_variance_groups,
)
from testtime.rl.losses import LOSS_TYPES, policy_loss
from testtime.rl.rollouts import Rollout, completion_logprobs, sample_rollout
from testtime.runtime import check_choice, check_positive

# (baseline, divide by the group std, dynamic sampling) of each loss type's paper
ADVANTAGE_DEFAULTS: dict[str, tuple[str, bool, bool]] = {
    "reinforce": ("mean", False, False),
    "grpo": ("mean", True, False),
    "dr_grpo": ("mean", False, False),
    "dapo": ("mean", True, True),
    "topr": ("mean", False, False),
    "cispo": ("mean", True, False),
}

RewardOutput = torch.Tensor | tuple[torch.Tensor, dict[str, float]]
RewardFn = Callable[[Sequence[Problem], list[str], Rollout], RewardOutput]


@dataclass
class RLConfig:
    """Hyperparameters of :func:`train_rl` (None: the loss type's default)."""

    loss_type: str = "grpo"
    steps: int = 20
    prompts_per_step: int = 16
    group_size: int = 8
    inner_steps: int = 1
    lr: float = 3e-4
    beta: float = 0.0
    temperature: float = 1.0
    max_new_tokens: int = 42
    baseline: str | None = None
    scale: bool | None = None
    dynamic_sampling: bool | None = None
    eps_low: float | None = None
    eps_high: float | None = None
    grad_clip: float = 1.0
    warmup: int = 0
    optimizer: str = "adam"
    adam_betas: tuple[float, float] = (0.9, 0.95)

    def __post_init__(self) -> None:
        check_choice("loss_type", self.loss_type, LOSS_TYPES)
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        if self.baseline is not None:
            check_choice("baseline", self.baseline, BASELINES)
        for name in ("steps", "prompts_per_step", "group_size", "inner_steps", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "steps" else 1):
                raise ValueError(f"{name}={value!r} is not valid; expected a positive int")
        check_positive("lr", self.lr)
        check_positive("beta", self.beta, allow_zero=True)
        check_positive("temperature", self.temperature)

    def resolved(self) -> tuple[str, bool, bool]:
        base, scale, dyn = ADVANTAGE_DEFAULTS[self.loss_type]
        return (
            base if self.baseline is None else self.baseline,
            scale if self.scale is None else self.scale,
            dyn if self.dynamic_sampling is None else self.dynamic_sampling,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def policy_update(
    model: TinyGPT,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    rewards: torch.Tensor,
    config: RLConfig,
) -> dict[str, float]:
    """The optimisation half of a step: advantages from ``rewards``, the dynamic-sampling
    filter when the loss type uses it, then ``config.inner_steps`` steps on ``policy_loss``.

    Works on any :class:`Rollout` (sampled, or built from given sequences with
    :func:`testtime.rl.rollouts.rollout_from_tokens`, e.g. guided re-attempts).
    """
    rewards = rewards.float().to(rollout.tokens.device)
    baseline, scale, dynamic = config.resolved()
    adv = group_advantages(rewards, rollout.group_size, baseline=baseline, scale=scale)
    if dynamic:
        keep = dynamic_sampling_mask(rewards, rollout.group_size)
    else:
        keep = torch.ones_like(rewards, dtype=torch.bool)
    stats = {
        "reward": float(rewards.mean()),
        "zero_var_frac": float(zero_variance_groups(rewards, rollout.group_size).float().mean()),
        "length": float(rollout.lengths.mean()),
        "kept_frac": float(keep.float().mean()),
    }
    loss_stats: dict[str, float] = {"kl": 0.0, "clip_frac": 0.0, "ratio": 1.0}
    loss_value, entropy = 0.0, float("nan")
    if bool(keep.any()):
        model.train()
        tokens, mask = rollout.tokens[keep], rollout.mask[keep]
        old, a = rollout.old_logp[keep], adv[keep]
        ref = rollout.ref_logp[keep] if rollout.ref_logp is not None else None
        for inner in range(config.inner_steps):
            logp, ent = completion_logprobs(
                model,
                tokens,
                rollout.prompt_len,
                temperature=config.temperature,
                return_entropy=True,
            )
            loss, loss_stats = policy_loss(
                logp,
                old,
                a,
                mask,
                loss_type=config.loss_type,
                ref_logp=ref,
                beta=config.beta,
                eps_low=config.eps_low,
                eps_high=config.eps_high,
                max_len=config.max_new_tokens,
            )
            if inner == 0:
                entropy = float((ent.detach() * mask).sum() / mask.sum().clamp(min=1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            loss_value = float(loss.detach())
        model.eval()
    stats.update(loss=loss_value, entropy=entropy, **loss_stats)
    return stats


def rl_step(
    model: TinyGPT,
    optimizer: torch.optim.Optimizer,
    problems: Sequence[Problem],
    reward_fn: RewardFn,
    config: RLConfig,
    *,
    generator: torch.Generator,
    ref_model: TinyGPT | None = None,
) -> dict[str, float]:
    """One RL step on ``problems`` (sample, reward, :func:`policy_update`); returns the
    step's diagnostics (floats), including any the reward function reports."""
    device = next(model.parameters()).device
    prompts = encode_prompts(problems, device=device)
    rollout = sample_rollout(
        model,
        prompts,
        config.group_size,
        config.max_new_tokens,
        generator=generator,
        stop_token=EOS_ID,
        pad_token=PAD_ID,
        temperature=config.temperature,
        ref_model=ref_model if config.beta > 0 else None,
    )
    completions = decode_completions(rollout.tokens, rollout.prompt_len)
    repeated = [p for p in problems for _ in range(config.group_size)]
    out = reward_fn(repeated, completions, rollout)
    rewards, info = out if isinstance(out, tuple) else (out, {})
    stats = policy_update(model, optimizer, rollout, rewards, config)
    stats.update({k: float(v) for k, v in info.items()})
    return stats


def make_optimizer(model: TinyGPT, config: RLConfig) -> torch.optim.Optimizer:
    """Adam (``config.adam_betas``, no weight decay) or plain SGD at ``config.lr``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr)
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.adam_betas)


def train_rl(
    model: TinyGPT,
    problems_fn: Callable[[int], Sequence[Problem]],
    reward_fn: RewardFn,
    config: RLConfig,
    *,
    generator: torch.Generator,
    ref_model: TinyGPT | None = None,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place for ``config.steps`` RL steps; return each step's diagnostics.

    ``problems_fn(step)`` gives the step's prompts (``config.prompts_per_step`` of them is the
    convention, not a requirement); ``reward_fn(problems, completions, rollout)`` gets the
    problems repeated G times, the decoded completions and the rollout, and returns the
    rewards ``(P*G,)`` or ``(rewards, info)``, where ``info`` holds extra diagnostics (TTRL's
    label and reward accuracy) logged as they are. ``ref_model`` is needed when ``beta > 0``.
    The optimiser is :func:`make_optimizer`'s, the learning rate warmed up linearly over
    ``config.warmup`` steps and constant after: Adam's first steps move every weight by about
    ``lr`` whatever the gradient's noise, which a noisy policy gradient cannot afford.
    """
    from tqdm.auto import tqdm

    if config.beta > 0 and ref_model is None:
        raise ValueError("ref_model=None is not valid with beta > 0; pass the frozen reference")
    optimizer = make_optimizer(model, config)
    history = []
    for step in tqdm(range(config.steps), desc=f"RL {config.loss_type}", disable=not progress, leave=False):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / config.warmup) if config.warmup else config.lr
        stats = rl_step(
            model,
            optimizer,
            problems_fn(step),
            reward_fn,
            config,
            generator=generator,
            ref_model=ref_model,
        )
        stats["step"] = float(step)
        history.append(stats)
        if callback is not None:
            callback(step, stats)
    return history
