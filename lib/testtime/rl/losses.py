"""One policy-gradient loss with a ``loss_type`` switch: REINFORCE, GRPO, Dr. GRPO, DAPO,
TOPR and CISPO, all on the same per-token tensors.

Notation (per completion ``i`` of a batch, per completion token ``t``; ``m`` is the mask):

    logp_{i,t}      log pi_theta(y_t | x, y_<t)     the policy being trained (has gradients)
    old_{i,t}       log pi_old(y_t | x, y_<t)       the sampler that produced y (no gradients)
    ref_{i,t}       log pi_ref(y_t | x, y_<t)       a frozen reference (for the KL penalty)
    rho_{i,t}       exp(logp - old)                 the per-token importance ratio
    A_i             the advantage of completion i (see ``testtime.rl.advantages``)
    k3_{i,t}        exp(ref - logp) - (ref - logp) - 1      Schulman's k3 estimate of KL(pi||ref)

The per-token PPO term (GRPO, Dr. GRPO, DAPO) is
``l_{i,t} = -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) + beta k3``; the loss types
differ in the term and in how the masked token terms are averaged. The matching follows
TRL's ``GRPOTrainer._compute_loss`` (loss types grpo, dr_grpo, dapo, cispo).
"""

from __future__ import annotations

import torch

from testtime.runtime import check_choice, check_positive

LOSS_TYPES = ("reinforce", "grpo", "dr_grpo", "dapo", "topr", "cispo")

# Clip defaults per loss type: (eps_low, eps_high). DAPO's clip-higher uses 0.28 above.
DEFAULT_EPS = {
    "grpo": (0.2, 0.2),
    "dr_grpo": (0.2, 0.2),
    "dapo": (0.2, 0.28),
    "cispo": (None, 0.28),
}


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi_theta || pi_ref) on samples from pi_theta:
    ``exp(ref - logp) - (ref - logp) - 1`` (always >= 0, unbiased; "Approximating KL
    Divergence", Schulman 2020; used by GRPO, "DeepSeekMath", eq. 4)."""
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def masked_token_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the tokens where ``mask`` is 1 (the whole batch pooled)."""
    return (x * mask).sum() / mask.sum().clamp(min=1)


def _aggregate(
    per_token: torch.Tensor, mask: torch.Tensor, how: str, max_len: int | None
) -> torch.Tensor:
    if how == "seq_mean":  # mean over each sequence's tokens, then over sequences (GRPO)
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    if how == "token_mean":  # pooled over every token of the batch (DAPO, CISPO)
        return masked_token_mean(per_token, mask)
    if how == "constant":  # sum over tokens / (batch x a fixed length) (Dr. GRPO)
        length = per_token.size(-1) if max_len is None else max_len
        return (per_token * mask).sum() / (per_token.size(0) * length)
    raise AssertionError(how)


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "grpo",
    ref_logp: torch.Tensor | None = None,
    beta: float = 0.0,
    eps_low: float | None = None,
    eps_high: float | None = None,
    max_len: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The policy-gradient loss of a batch of completions; returns ``(loss, stats)``.

    ``logp``, ``old_logp``, ``ref_logp`` and ``mask`` are ``(B, T)`` (completion tokens only,
    as ``testtime.rl.rollouts`` returns them); ``advantages`` is ``(B,)``. ``stats`` holds
    ``kl`` (mean k3 over tokens, 0 without a reference), ``clip_frac`` (fraction of tokens
    whose ratio was clipped where it mattered) and ``ratio`` (mean ratio).

    - ``"reinforce"`` (Williams 1992, as in karpathy/nanochat's RL script): the on-policy
      score function ``L = -sum_{i,t} m A_i logp_{i,t} / sum_{i,t} m`` (nanochat's token-level
      normalisation). With ``A`` from a mean or a leave-one-out baseline it is REINFORCE
      with a baseline / RLOO (see ``testtime.rl.advantages``).
    - ``"grpo"`` ("DeepSeekMath", eq. 3): the clipped PPO term with eps = 0.2 and
      ``+ beta k3``, averaged over each sequence's tokens (``1/|o_i|``), then over the batch.
    - ``"dr_grpo"`` ("Understanding R1-Zero-Like Training", eq. 2): the same term without
      the per-sequence ``1/|o_i|``: summed over tokens and divided by ``B * max_len``, a
      constant (``max_len`` defaults to ``T``). Its advantages skip the std division.
    - ``"dapo"`` ("DAPO", eq. 8): clip-higher (eps_low = 0.2, eps_high = 0.28) and token-level
      normalisation: summed over every token of the batch and divided by their number. The
      dynamic sampling filter is :func:`testtime.rl.advantages.dynamic_sampling_mask`.
    - ``"topr"`` ("Tapered Off-Policy REINFORCE", eq. 8): no clipping and no ratio for
      positive advantages (``-A log pi(tau)``, like SFT); for negative ones the
      *sequence* ratio ``pi(tau)/mu(tau) = exp(sum_t m (logp - old))`` truncated to ``[0, 1]``
      and detached, ``-[rho(tau)]_0^1 A logp_{i,t}``. The paper sums ``log pi(tau)`` per
      sequence; we normalise per token like DAPO so that one learning rate suits every loss
      type (same direction, another scale). Trinity-RFT truncates per token instead.
    - ``"cispo"`` ("MiniMax-M1", eq. 4-5): ``-sg(min(rho, 1 + eps_high)) A logp`` per token,
      token-level normalisation. The weight is clipped but detached, so every token keeps a
      gradient (PPO's clip zeroes it). MiniMax-M1 sets no lower bound and tunes only
      eps_high; we default to DAPO's 0.28 (TRL's ``epsilon_high`` for cispo is the absolute cap
      ``1 + eps_high``).

    ``beta > 0`` adds ``beta k3`` per token to every loss type (needs ``ref_logp``).

    Where this differs from TRL and verl (the values of the loss agree; these are choices):

    - ``clip_frac`` for ``"cispo"`` counts every token whose ratio exceeds ``1 + eps_high``,
      whatever the sign of its advantage; TRL's logged CISPO clip ratio counts only tokens
      with a positive advantage. Compare the two logs with that in mind.
    - verl's dual clip (``clip_ratio_c = 3``: for a negative advantage the PPO term is also
      capped at ``-c A``, so one huge ratio cannot dominate a batch) is not offered: the
      clipped term above is the DeepSeekMath / DAPO one, without that cap.
    """
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_positive("beta", beta, allow_zero=True)
    if logp.dim() != 2 or logp.shape != old_logp.shape or logp.shape != mask.shape:
        raise ValueError(
            f"logp {tuple(logp.shape)}, old_logp {tuple(old_logp.shape)} and mask "
            f"{tuple(mask.shape)} are not valid; expected the same (B, T) shape"
        )
    if advantages.shape != logp.shape[:1]:
        raise ValueError(
            f"advantages of shape {tuple(advantages.shape)} is not valid; "
            f"expected ({logp.size(0)},)"
        )
    if beta > 0 and ref_logp is None:
        raise ValueError("ref_logp=None is not valid with beta > 0; pass the reference log-probs")
    lo, hi = DEFAULT_EPS.get(loss_type, (None, None))
    eps_low = lo if eps_low is None else check_positive("eps_low", eps_low)
    eps_high = hi if eps_high is None else check_positive("eps_high", eps_high)
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)[:, None]
    old_logp = old_logp.detach()
    ratio = torch.exp(logp - old_logp)
    clipped = torch.zeros_like(mask)

    if loss_type == "reinforce":
        per_token, how = -adv * logp, "token_mean"
    elif loss_type in ("grpo", "dr_grpo", "dapo"):
        unclipped = ratio * adv
        clipped_term = torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv
        per_token = -torch.min(unclipped, clipped_term)
        clipped = (clipped_term < unclipped).to(mask.dtype)
        how = {"grpo": "seq_mean", "dr_grpo": "constant", "dapo": "token_mean"}[loss_type]
    elif loss_type == "topr":
        seq_ratio = torch.exp(((logp - old_logp) * mask).sum(-1, keepdim=True)).detach()
        weight = torch.where(adv >= 0, torch.ones_like(seq_ratio), seq_ratio.clamp(0.0, 1.0))
        clipped = ((adv < 0) & (seq_ratio > 1)).to(mask.dtype).expand_as(mask)
        per_token, how = -weight * adv * logp, "token_mean"
    else:  # cispo
        weight = torch.clamp(ratio, max=1 + eps_high).detach()
        clipped = (ratio > 1 + eps_high).to(mask.dtype)
        per_token, how = -weight * adv * logp, "token_mean"

    kl = torch.zeros((), dtype=logp.dtype, device=logp.device)
    if ref_logp is not None:
        per_token_kl = kl_k3(logp, ref_logp.detach())
        kl = masked_token_mean(per_token_kl, mask)
        if beta > 0:
            per_token = per_token + beta * per_token_kl
    loss = _aggregate(per_token, mask, how, max_len)
    stats = {
        "kl": float(kl.detach()),
        "clip_frac": float(masked_token_mean(clipped, mask)),
        "ratio": float(masked_token_mean(ratio.detach(), mask)),
    }
    return loss, stats


def coverage_loss(seq_logp: torch.Tensor, n: int) -> torch.Tensor:
    """Direct coverage optimisation ("Rethinking Fine-Tuning when Scaling Test-Time Compute:
    Limiting Confidence Improves Mathematical Reasoning", eq. 5): the negative log of
    pass@N of a correct solution ``y``, ``-log(1 - (1 - p(y|x))^N)``, averaged over examples.

    ``seq_logp`` is ``(B,)``, each ``log p(y|x)`` summed over the solution's tokens. ``n = 1``
    is ordinary cross-entropy. Its gradient is cross-entropy's times the weight
    ``N p (1-p)^(N-1) / (1 - (1-p)^N)``, which falls to 0 as ``p -> 1``: examples the model is
    already confident about stop pulling, so the model keeps probability for other
    solutions (confidence is limited), trading pass@1 for pass@N.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not valid; expected an int >= 1")
    lp = seq_logp.clamp(max=-1e-6)
    # log(1 - p), stable at both ends (log1p when p is tiny, where 1 - p rounds to 1)
    log1m_p = torch.where(lp < -0.6931, torch.log1p(-torch.exp(lp)), torch.log(-torch.expm1(lp)))
    log_fail = n * log1m_p  # log (1 - p)^N
    return -torch.log(-torch.expm1(log_fail)).mean()
