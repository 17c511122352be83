"""TENT: test-time entropy minimization of the BatchNorm affine parameters.

"Tent: Fully Test-Time Adaptation by Entropy Minimization", Wang et al., ICLR 2021
(arXiv 2006.10726). On each test batch: normalize with the batch statistics, predict, then take
one gradient step on the mean prediction entropy (Eq. 2)

    H(y_hat) = - sum_c p(y_hat_c) log p(y_hat_c)

with respect to the BN scales and shifts only. As in the official ``tent.py`` the returned
logits are those of the forward pass *before* the update, ``steps=1``, ``episodic=False``; the
default optimizer is the official CIFAR-10-C one, Adam with lr 1e-3 and betas (0.9, 0.999)
(SGD with momentum 0.9, the ImageNet choice, via ``optimizer="sgd"``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from testtime.runtime import check_choice, check_positive
from testtime.tta.base import TTAMethod, bn_affine_params, configure_bn_adaptation, softmax_entropy

OPTIMIZERS = ("adam", "sgd")


def make_optimizer(params: list[nn.Parameter], optimizer: str, lr: float) -> torch.optim.Optimizer:
    """Adam (betas 0.9, 0.999) or SGD with momentum 0.9, no weight decay, as the official code."""
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_positive("lr", lr)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


class Tent(TTAMethod):
    """Entropy minimization on BN affine parameters, one (or ``steps``) update per batch."""

    def __init__(
        self,
        model: nn.Module,
        *,
        lr: float = 1e-3,
        optimizer: str = "adam",
        steps: int = 1,
        episodic: bool = False,
    ) -> None:
        check_positive("steps", steps)
        configure_bn_adaptation(model)
        super().__init__(model, episodic=episodic)
        self.steps = steps
        self.optimizer = make_optimizer(bn_affine_params(model), optimizer, lr)
        self.save_optimizer_state()

    @torch.enable_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.steps):
            logits = self.model(x)
            loss = softmax_entropy(logits).mean(0)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad()
        return logits.detach()
