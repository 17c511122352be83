"""Rewards for policy-gradient training: with a verifier, without labels, from a reward
model, for progress, and for exploration.

Every reward works on flat lists laid out group by group (completions ``g*G ... g*G+G-1``
answer prompt ``g``) and returns a float tensor ``(P * G,)``. Answers are whatever the task's
parser returns (``None`` for an unparsable completion, which never matches anything).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import torch

from testtime.runtime import check_positive
from testtime.search.continuous_voting import region_votes

Answer = Hashable | None


def _check_groups(n: int, group_size: int) -> int:
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size={group_size!r} is not valid; expected an int >= 1")
    if n % group_size:
        raise ValueError(
            f"{n} answers is not valid with group_size={group_size}; expected a multiple"
        )
    return n // group_size


def verifier_reward(answers: Sequence[Answer], targets: Sequence[Answer]) -> torch.Tensor:
    """RLVR's exact-answer reward: 1 where the parsed answer equals the target, else 0."""
    if len(answers) != len(targets):
        raise ValueError(
            f"answers ({len(answers)}) and targets ({len(targets)}) must have the same length"
        )
    return torch.tensor([float(a is not None and a == t) for a, t in zip(answers, targets)])


def majority_vote(answers: Sequence[Answer]) -> tuple[Answer, float]:
    """The most frequent non-None answer and its share of all ``len(answers)`` votes.

    Ties go to the answer seen first (as ``collections.Counter.most_common``); with no valid
    answer the label is None and its share 0.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0.0
    label, count = counts.most_common(1)[0]
    return label, count / len(answers)


def vote_margin(answers: Sequence[Answer]) -> float:
    """The self-consistency margin of "Self-Improving LLM Agents at Test-Time" (TT-SI, sec. 3):
    (votes of the most frequent answer - votes of the runner-up) / ``len(answers)``.

    A small margin flags an input the model is unsure about. None answers do not vote but
    count in the denominator; a missing runner-up has 0 votes.
    """
    if not answers:
        raise ValueError("answers=[] is not valid; expected at least one answer")
    top = [c for _, c in Counter(a for a in answers if a is not None).most_common(2)] + [0, 0]
    return (top[0] - top[1]) / len(answers)


def majority_vote_rewards(
    answers: Sequence[Answer],
    group_size: int,
    targets: Sequence[Answer] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """TTRL's label-free reward ("TTRL: Test-Time Reinforcement Learning", eq. 4): per prompt,
    the majority answer over its N = ``group_size`` samples is the pseudo-label, and a sample
    earns 1 when its answer agrees with it, else 0.

    ``targets`` (one per prompt) are used only for the diagnostics of TTRL's sec. 4: the
    *label accuracy* (pseudo-label = true answer, per prompt) and the *reward accuracy*
    (pseudo-reward = true reward, per sample), returned in the info dict. The rewards never
    depend on them. TTRL votes over 64 samples and trains on 32 of them; here the same
    samples vote and train.
    """
    n_groups = _check_groups(len(answers), group_size)
    rewards, labels = [], []
    for g in range(n_groups):
        group = answers[g * group_size : (g + 1) * group_size]
        label, _ = majority_vote(group)
        labels.append(label)
        rewards += [float(a is not None and a == label) for a in group]
    info: dict[str, float] = {}
    if targets is not None:
        if len(targets) != n_groups:
            raise ValueError(
                f"targets has {len(targets)} entries; expected one per prompt ({n_groups})"
            )
        true = verifier_reward(answers, [t for t in targets for _ in range(group_size)])
        info["label_acc"] = sum(lab == t for lab, t in zip(labels, targets)) / n_groups
        info["reward_acc"] = float((torch.tensor(rewards) == true).float().mean())
    return torch.tensor(rewards), info


def answer_entropy(answers: Sequence[Answer]) -> float:
    """Entropy (nats) of the empirical distribution of answers (None counts as one answer)."""
    counts = Counter(answers)
    n = len(answers)
    return -sum(c / n * math.log(c / n) for c in counts.values())


def frequency_entropy_rewards(
    answers: Sequence[Answer], group_size: int, *, entropy_weight: float = 0.75
) -> torch.Tensor:
    """TTRV's rewards ("TTRV: Test-Time Reinforcement Learning for Vision Language Models",
    sec. 3): a *frequency* reward ``r1(y_j) = p(y_j)``, the share of the group's samples that
    gave the same answer, plus a *diversity-control* reward ``r2 = -H(p)``, minus the entropy
    of the group's empirical answer distribution, weighted: ``r = r1 + w r2``.

    ``r2`` is the same for every sample of a group, so a per-group baseline (GRPO's) removes
    it; it only acts through a baseline shared across prompts (``baseline="none"`` or a batch
    mean). Unparsable answers (None) earn 0 frequency reward.
    """
    check_positive("entropy_weight", entropy_weight, allow_zero=True)
    n_groups = _check_groups(len(answers), group_size)
    rewards = []
    for g in range(n_groups):
        group = answers[g * group_size : (g + 1) * group_size]
        counts = Counter(group)
        bonus = -entropy_weight * answer_entropy(group)
        rewards += [(counts[a] / group_size if a is not None else 0.0) + bonus for a in group]
    return torch.tensor(rewards)


def region_consistency_rewards(
    boxes: torch.Tensor, group_size: int, lo: float = 0.0, hi: float = 1.0, grid: int = 64
) -> torch.Tensor:
    """GUI-RCPO's label-free reward ("Test-Time Reinforcement Learning for GUI Grounding via
    Region Consistency", appendix A): the boxes of one prompt vote on a grid (GUI-RC,
    :func:`testtime.search.continuous_voting.region_votes`), and each box earns the votes
    summed over the cells it covers, divided by its number of cells times the grid's maximum
    vote: 1 for a box that lies entirely in the most-voted region, near 0 for an outlier.
    The continuous counterpart of TTRV's frequency reward.

    ``boxes`` is ``(P * G, 4)`` = ``(x0, y0, x1, y1)`` laid out group by group; returns
    ``(P * G,)``. Unlike the paper's pixel grid, a box of zero size still covers the cell it
    falls in (the paper gives it 0).
    """
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"boxes of shape {tuple(boxes.shape)} is not valid; expected (n, 4)")
    n_groups = _check_groups(boxes.size(0), group_size)
    rewards = []
    for g in range(n_groups):
        cover, votes, _ = region_votes(boxes[g * group_size : (g + 1) * group_size], lo, hi, grid)
        area = cover.sum((1, 2)).clamp_min(1.0)
        rewards.append((cover * votes).sum((1, 2)) / (area * votes.max()))
    return torch.cat(rewards)


def reward_model_rewards(
    scores: torch.Tensor, group_size: int, *, baseline: bool = True
) -> torch.Tensor:
    """RLCF's reward ("Test-Time Adaptation with CLIP Reward for Zero-Shot Generalization in
    Vision-Language Models", eq. 3): a frozen reward model's score of each sample, minus the
    mean score of the samples of the same prompt when ``baseline`` (their reward baseline).

    ``scores`` come from any scorer, here Part III's outcome reward model (ORM) on the
    completion text; the ORM is a label-free critic at test time.
    """
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
    n_groups = _check_groups(scores.numel(), group_size)
    if not baseline:
        return scores.clone()
    groups = scores.view(n_groups, group_size)
    return (groups - groups.mean(dim=1, keepdim=True)).reshape(-1)


def progress_rewards(values: torch.Tensor) -> torch.Tensor:
    """MRT's dense progress reward ("Optimizing Test-Time Compute via Meta Reinforcement
    Fine-Tuning", eq. 4-5): the change in the estimated probability of eventual success
    after each block of the output, ``r_j = V(z_{0:j}) - V(z_{0:j-1})``.

    ``values`` is ``(B, K + 1)``: ``V`` of the prompt alone, then after each of K blocks
    (estimated by rollouts, see :func:`testtime.rl.rollouts.success_probability`). Returns
    ``(B, K)``; the rewards telescope, ``sum_j r_j = V_K - V_0``.
    """
    if values.dim() != 2 or values.size(1) < 2:
        raise ValueError(
            f"values of shape {tuple(values.shape)} is not valid; expected (B, K + 1) with K >= 1"
        )
    return values[:, 1:] - values[:, :-1]


def elliptical_bonus(
    features: torch.Tensor, group_size: int, *, ridge: float = 1.0
) -> torch.Tensor:
    """Representation-based exploration bonus ("Representation-Based Exploration for Language
    Models: From Test-Time to Post-Training", sec. 3): the elliptical bonus
    ``b_i = sqrt(phi_i^T (ridge I + sum_{j != i} phi_j phi_j^T)^{-1} phi_i)`` of each sample's
    unit-normalised hidden representation ``phi_i`` against the *other* samples of its group.

    A sample far from the span of its siblings gets a large bonus, a near-duplicate a small
    one. ``features`` is ``(P * G, d)`` (e.g. mean-pooled final hidden states); the paper
    accumulates the covariance over the samples generated so far, here leave-one-out within
    the group so that the bonus is symmetric in the samples.
    """
    check_positive("ridge", ridge)
    if features.dim() != 2:
        raise ValueError(f"features of shape {tuple(features.shape)} is not valid; expected (N, d)")
    n_groups = _check_groups(features.size(0), group_size)
    phi = torch.nn.functional.normalize(features.float(), dim=-1).view(n_groups, group_size, -1)
    d = phi.size(-1)
    eye = torch.eye(d, dtype=phi.dtype, device=phi.device)
    full = ridge * eye + phi.transpose(1, 2) @ phi  # (P, d, d)
    bonus = torch.empty(n_groups, group_size, dtype=phi.dtype, device=phi.device)
    for i in range(group_size):
        cov = full - phi[:, i, :, None] * phi[:, i, None, :]  # leave sample i out
        x = phi[:, i, :, None]
        bonus[:, i] = (
            (x.transpose(1, 2) @ torch.linalg.solve(cov, x)).reshape(-1).clamp(min=0).sqrt()
        )
    return bonus.reshape(-1)
