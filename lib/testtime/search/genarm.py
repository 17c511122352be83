"""Token-level reward-guided decoding with an autoregressive reward model (GenARM).

"GenARM: Reward Guided Generation with Autoregressive Reward Model for Test-time Alignment"
(Xu et al. 2025, arXiv 2410.08193). The reward of a response is parametrised as a sum of
token log-probabilities of a second language model, the autoregressive reward model (ARM)
``pi_r`` (eq. 4)::

    r(x, y) = beta * sum_t log pi_r(y_t | x, y_<t)

trained on preference pairs with the Bradley-Terry loss (eq. 5)
``-log sigmoid(r(x, y_w) - r(x, y_l))``. The KL-regularised optimum
``pi*(y|x) ∝ pi_base(y|x) exp(r(x, y) / beta_kl)`` then factorises over tokens, so decoding
samples each token from (eq. 7)::

    log pi(y_t | .) = log pi_base(y_t | .) + w * log pi_r(y_t | .) + const,   w = beta / beta_kl

:class:`GuidedLM` combines the two models' next-token log-probabilities this way and has the
``step``/``forward`` interface of TinyGPT, so :class:`~testtime.search.policy.TinyGPTPolicy`
samples from it unchanged. Here preference pairs are (correct, incorrect) samples of the
same problem; the paper uses human preference data and LLaMA-scale models.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.models import TinyGPT
from testtime.runtime import check_positive
from testtime.search.verifiers import fit_minibatches


class GuidedLM(nn.Module):
    """``log_softmax(base) + weight * log_softmax(arm)`` as next-token logits."""

    def __init__(self, base: TinyGPT, arm: TinyGPT, weight: float = 1.0) -> None:
        super().__init__()
        check_positive("weight", weight, allow_zero=True)
        self.base, self.arm, self.weight = base, arm, float(weight)
        self.config = base.config

    def combine(self, base_logits: torch.Tensor, arm_logits: torch.Tensor) -> torch.Tensor:
        return (F.log_softmax(base_logits.float(), -1)
                + self.weight * F.log_softmax(arm_logits.float(), -1))

    def step(self, idx: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        s_base, s_arm = state if state is not None else (None, None)
        lb, s_base = self.base.step(idx, s_base)
        la, s_arm = self.arm.step(idx, s_arm)
        return self.combine(lb, la), (s_base, s_arm)

    def forward(self, idx: torch.Tensor, targets: None = None) -> tuple[torch.Tensor, None]:
        return self.combine(self.base(idx)[0], self.arm(idx)[0]), None

    def flops_per_token(self) -> float:
        return self.base.flops_per_token() + self.arm.flops_per_token()


def completion_logprob(model: TinyGPT, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum_t mask[:, t] * log p(tokens[:, t+1] | tokens[:, :t+1])``, shape ``(B,)``; ``mask``
    is ``(B, T-1)`` and selects the completion's tokens (not the prompt, not the padding)."""
    logits, _ = model(tokens[:, :-1])
    logp = F.log_softmax(logits.float(), -1).gather(-1, tokens[:, 1:, None])[..., 0]
    return (logp * mask).sum(-1)


def arm_loss(arm: TinyGPT, chosen: torch.Tensor, chosen_mask: torch.Tensor,
             rejected: torch.Tensor, rejected_mask: torch.Tensor,
             beta: float = 1.0) -> torch.Tensor:
    """GenARM eq. 5: ``-log sigmoid(beta * (log pi_r(y_w|x) - log pi_r(y_l|x)))``, averaged."""
    margin = completion_logprob(arm, chosen, chosen_mask) - completion_logprob(arm, rejected,
                                                                               rejected_mask)
    return -F.logsigmoid(beta * margin).mean()


def encode_pairs(tokenizer, prompts: Sequence[str], chosen: Sequence[str], rejected: Sequence[str],
                 pad: str = " ") -> tuple[torch.Tensor, ...]:
    """Right-padded token tensors and completion masks for (prompt, chosen, rejected) triples."""
    pad_id = tokenizer.encode(pad)[0]

    def encode(completions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [tokenizer.encode(p + c) for p, c in zip(prompts, completions)]
        starts = [len(tokenizer.encode(p)) for p in prompts]
        T = max(len(r) for r in rows)
        x = torch.tensor([r + [pad_id] * (T - len(r)) for r in rows])
        pos = torch.arange(1, T)[None]
        ends = torch.tensor([len(r) for r in rows])[:, None]
        mask = (pos >= torch.tensor(starts)[:, None]) & (pos < ends)
        return x, mask.float()

    return (*encode(chosen), *encode(rejected))


def train_arm(arm: TinyGPT, tokenizer, prompts: Sequence[str], chosen: Sequence[str],
              rejected: Sequence[str], *, steps: int = 200, batch_size: int = 64, lr: float = 3e-4,
              beta: float = 1.0, generator: torch.Generator | None = None,
              progress: bool = True) -> list[float]:
    """Fit the ARM on preference triples with :func:`arm_loss` (AdamW, cosine schedule)."""
    check_positive("steps", steps, allow_zero=True)
    device = next(arm.parameters()).device
    xw, mw, xl, ml = (t.to(device) for t in encode_pairs(tokenizer, prompts, chosen, rejected))
    return fit_minibatches(
        arm, lambda rows: arm_loss(arm, xw[rows], mw[rows], xl[rows], ml[rows], beta),
        len(prompts), steps=steps, batch_size=batch_size, lr=lr, generator=generator,
        progress=progress, desc="ARM")
