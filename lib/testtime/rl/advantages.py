"""Group advantages for policy-gradient training on G completions per prompt, and DAPO's
dynamic-sampling filter.

Rewards arrive flat, ``(P * G,)``, grouped prompt by prompt (completions ``g*G ... g*G+G-1``
share prompt ``g``), as ``testtime.rl.rollouts`` lays them out.
"""

from __future__ import annotations

import torch

from testtime.runtime import check_choice, check_positive

BASELINES = ("none", "mean", "loo")


def _groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size={group_size!r} is not valid; expected an int >= 1")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards of shape {tuple(rewards.shape)} is not valid; expected (P * group_size,) "
            f"with group_size={group_size}"
        )
    return rewards.float().view(-1, group_size)


def group_advantages(
    rewards: torch.Tensor,
    group_size: int,
    *,
    baseline: str = "mean",
    scale: bool = False,
    eps: float = 1e-4,
) -> torch.Tensor:
    """Advantages ``(P * G,)`` of flat grouped rewards.

    - ``baseline="none"``: ``A_i = r_i`` (plain REINFORCE).
    - ``baseline="mean"``: ``A_i = r_i - mean_g(r)`` (GRPO's group baseline; with
      ``scale=False`` it is Dr. GRPO's advantage, "Understanding R1-Zero-Like Training" eq. 2).
    - ``baseline="loo"``: ``A_i = r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean_g(r))``, the
      leave-one-out baseline of RLOO ("Buy 4 REINFORCE Samples, Get a Baseline for Free!").
    - ``scale=True`` divides by ``std_g(r) + eps`` (GRPO, "DeepSeekMath" eq. in sec. 4.1.2;
      TRL uses the unbiased std and eps = 1e-4, as here).

    A group whose rewards are all equal gets zero advantages under any baseline: it carries
    no learning signal (the zero-variance groups DAPO filters out).
    """
    check_choice("baseline", baseline, BASELINES)
    check_positive("eps", eps)
    r = _groups(rewards, group_size)
    if baseline == "none":
        adv = r.clone()
    elif baseline == "mean":
        adv = r - r.mean(dim=1, keepdim=True)
    else:
        if group_size < 2:
            raise ValueError("group_size=1 is not valid with baseline='loo'; expected >= 2")
        adv = (r - r.mean(dim=1, keepdim=True)) * group_size / (group_size - 1)
    if scale:
        std = r.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(r[:, :1])
        adv = adv / (std + eps)
    return adv.reshape(-1)


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(P,)`` bool: the groups whose G rewards are all equal (all right or all wrong)."""
    r = _groups(rewards, group_size)
    return (r == r[:, :1]).all(dim=1)


def dynamic_sampling_mask(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """DAPO's dynamic sampling ("DAPO", eq. 11): keep only groups with at least one reward
    different from the others. Returns a ``(P * G,)`` bool mask over completions.

    DAPO then samples more prompts until the batch is full again; here the caller decides
    (the trainer simply trains on the kept groups). A group of one sample (``group_size=1``)
    has no spread and is dropped here; verl's group filter (``recipe/dapo/src/
    dapo_ray_trainer.py``) keeps such groups: it keeps a prompt when the std of its rewards is
    positive *or* it has a single sample.
    """
    keep = ~zero_variance_groups(rewards, group_size)
    return keep.repeat_interleave(group_size)
