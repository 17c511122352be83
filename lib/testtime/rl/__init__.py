"""Verifier-guided RL (Part IV): rollouts, one policy-gradient loss with a ``loss_type``
switch, group advantages, label-free and shaped rewards, and a small GRPO-style trainer."""

from testtime.rl.advantages import dynamic_sampling_mask, group_advantages, zero_variance_groups
from testtime.rl.losses import LOSS_TYPES, coverage_loss, kl_k3, policy_loss
from testtime.rl.rewards import (
    answer_entropy,
    elliptical_bonus,
    frequency_entropy_rewards,
    majority_vote,
    majority_vote_rewards,
    progress_rewards,
    region_consistency_rewards,
    reward_model_rewards,
    verifier_reward,
    vote_margin,
)
from testtime.rl.rollouts import (
    Rollout,
    completion_logprobs,
    completion_mask,
    pooled_hidden,
    rollout_from_tokens,
    sample_rollout,
    success_probability,
)
from testtime.rl.trainer import RLConfig, policy_update, rl_step, train_rl

__all__ = [
    "LOSS_TYPES",
    "RLConfig",
    "Rollout",
    "answer_entropy",
    "completion_logprobs",
    "completion_mask",
    "coverage_loss",
    "dynamic_sampling_mask",
    "elliptical_bonus",
    "frequency_entropy_rewards",
    "group_advantages",
    "kl_k3",
    "majority_vote",
    "majority_vote_rewards",
    "policy_loss",
    "policy_update",
    "pooled_hidden",
    "progress_rewards",
    "region_consistency_rewards",
    "reward_model_rewards",
    "rl_step",
    "rollout_from_tokens",
    "sample_rollout",
    "success_probability",
    "train_rl",
    "verifier_reward",
    "vote_margin",
    "zero_variance_groups",
]
