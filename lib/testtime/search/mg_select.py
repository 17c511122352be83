"""Verifier-free selection by divergence from a masked-prompt reference (MG-Select).

"Verifier-free Test-Time Sampling for Vision Language Action Models" (Jang et al. 2025,
arXiv 2510.05681). Among N sampled candidates, pick the one the model is most confident
about, where confidence is measured against a *reference* distribution: the same model
conditioned on a masked prompt (its conditions randomly masked), which is maximally
uncertain yet stays on the task's output distribution. For candidate ``y`` with tokens
``y_1..y_L``::

    conf(y) = 1/L sum_t KL( q(. | x_masked, y_<t) || p(. | x, y_<t) )

and the selection is ``argmax_y conf(y)``. The paper also trains the model jointly with
condition dropout so the masked distribution is well defined; our tiny reasoner was not,
so masking replaces prompt characters with padding, a character it saw at the prompt's
left. No verifier and no training: only two forward passes per candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from testtime.runtime import check_positive
from testtime.search.costs import Cost
from testtime.search.policy import Policy


def kl_confidence(logp: Sequence[torch.Tensor], logq: Sequence[torch.Tensor]) -> torch.Tensor:
    """``mean_t KL(q_t || p_t)`` per candidate from per-token log-probabilities ``(L, V)``
    under the prompt (``logp``) and under the masked prompt (``logq``)."""
    out = []
    for lp, lq in zip(logp, logq):
        if lp.shape != lq.shape:
            raise ValueError(f"logp {tuple(lp.shape)} and logq {tuple(lq.shape)} must match")
        kl = (lq.exp() * (lq - lp)).sum(-1)
        out.append(kl.mean() if kl.numel() else kl.new_zeros(()))
    return torch.stack(out)


def mask_prompt(prompt: str, rate: float, mask_char: str, maskable: str,
                generator: torch.Generator | None = None) -> str:
    """Replace each character of ``prompt`` that is in ``maskable`` by ``mask_char`` with
    probability ``rate`` (rate 1 masks them all)."""
    check_positive("rate", rate, allow_zero=True)
    if rate > 1:
        raise ValueError(f"rate={rate!r} is not valid; expected a float in [0, 1]")
    u = torch.rand(len(prompt), generator=generator).tolist()
    return "".join(mask_char if c in maskable and ui < rate else c for c, ui in zip(prompt, u))


def mg_select_scores(policy: Policy, prompt: str, masked_prompt: str,
                     completions: Sequence[str], *, cost: Cost | None = None) -> torch.Tensor:
    """MG-Select confidence of each completion (higher = more confident)."""
    if not completions:
        raise ValueError("completions is not valid: expected at least one candidate")
    n = len(completions)
    logp = policy.token_logprobs([prompt] * n, list(completions), cost=cost)
    logq = policy.token_logprobs([masked_prompt] * n, list(completions), cost=cost)
    return kl_confidence(logp, logq)


def mg_select(policy: Policy, prompt: str, masked_prompt: str, completions: Sequence[str], *,
              cost: Cost | None = None) -> int:
    """Index of the completion MG-Select picks."""
    check_positive("len(completions)", len(completions))
    return int(mg_select_scores(policy, prompt, masked_prompt, completions, cost=cost).argmax())
