"""SAR: sharpness-aware and reliable entropy minimization, with model recovery.

"Towards Stable Test-Time Adaptation in Dynamic Wild World", Niu et al., ICLR 2023
(arXiv 2302.12400), following the official ``sar.py`` and ``sam.py``. On each batch:

1. forward, entropies ``E``; keep the reliable samples ``E < E0 = 0.4 ln C`` (Eq. 2);
2. backward their mean entropy, then SAM's first step: move the weights to the worst case
   ``theta + rho * g / ||g||`` (Eq. 4, rho = 0.05);
3. forward again at the perturbed weights, re-filter the *same* samples by ``E < E0``, backward
   that mean entropy; SAM's second step restores ``theta`` and lets the base optimizer step with
   the perturbed-point gradient (Eq. 5);
4. keep an EMA (0.9) of the second-step loss; when it drops below ``reset_constant = 0.2`` the
   model has collapsed to confident trivial predictions: reset model and optimizer (Sec. 4).

Defaults are the official ones: SGD lr 0.00025 with momentum 0.9 as the base optimizer,
rho 0.05, E0 = 0.4 ln C, e_m = 0.2. As in the official code the loss EMA survives a reset
(``forward`` reassigns it after ``reset``), so the model keeps being reset until the EMA
recovers above the threshold.

Differences from the official code (kept: the notebooks' asserts were validated on them):

- all BN affine parameters adapt (the official code skips the last stage of a ResNet,
  ``layer4``; our ConvNet has only three conv layers);
- ``reset`` reloads the model and the base SGD's state saved at construction, which is
  empty, so it clears SGD's momentum buffers. The official ``reset`` reloads the model and the
  state dict of its ``SAM`` optimizer, which holds only SAM's own saved weights (``old_p``);
  the base SGD's momentum buffers live in ``base_optimizer.state`` and survive the reset;
- on a batch where no sample passes the second filter we skip the second backward, so SGD
  finds no gradients and takes no step. The official code still calls ``backward`` on the
  (nan) mean of the empty selection, which leaves zero gradients, so SGD takes a pure
  momentum step ``theta <- theta - lr * mu * buf``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from testtime.runtime import check_positive
from testtime.tta.base import TTAMethod, softmax_entropy
from testtime.tta.eata import setup_entropy_adaptation


class SAM:
    """Sharpness-Aware Minimization around a base optimizer ("Sharpness-Aware Minimization for
    Efficiently Improving Generalization", Foret et al., ICLR 2021, arXiv 2010.01412)."""

    def __init__(self, base_optimizer: torch.optim.Optimizer, rho: float = 0.05) -> None:
        check_positive("rho", rho, allow_zero=True)
        self.base_optimizer = base_optimizer
        self.rho = rho
        self.old: dict[nn.Parameter, torch.Tensor] = {}

    def params(self) -> list[nn.Parameter]:
        return [p for group in self.base_optimizer.param_groups for p in group["params"]]

    @torch.no_grad()
    def first_step(self) -> None:
        """``theta <- theta + rho * g / (||g|| + 1e-12)``, remembering ``theta``."""
        grads = [p.grad for p in self.params() if p.grad is not None]
        if not grads:
            return
        norm = torch.norm(torch.stack([g.norm(p=2) for g in grads]), p=2)
        scale = self.rho / (norm + 1e-12)
        for p in self.params():
            if p.grad is None:
                continue
            self.old[p] = p.detach().clone()
            p.add_(p.grad * scale)
        self.zero_grad()

    @torch.no_grad()
    def second_step(self) -> None:
        """Restore ``theta``, then step the base optimizer with the current (perturbed) grads."""
        for p, old in self.old.items():
            p.copy_(old)
        self.old = {}
        self.base_optimizer.step()
        self.zero_grad()

    def zero_grad(self) -> None:
        self.base_optimizer.zero_grad()


class SAR(TTAMethod):
    """Sharpness-aware reliable entropy minimization of BN affine parameters."""

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int = 10,
        e_margin: float | None = None,
        rho: float = 0.05,
        reset_constant: float = 0.2,
        lr: float = 0.00025,
        optimizer: str = "sgd",
        episodic: bool = False,
    ) -> None:
        e_margin, opt = setup_entropy_adaptation(model, num_classes, e_margin, optimizer, lr)
        super().__init__(model, episodic=episodic)
        self.e_margin = e_margin
        self.reset_constant = reset_constant
        self.optimizer = opt
        self.sam = SAM(self.optimizer, rho)
        self.save_optimizer_state()
        self.ema: float | None = None
        self.num_resets = 0

    def reset(self) -> None:
        super().reset()
        self.ema = None

    @torch.enable_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        self.sam.zero_grad()
        logits = self.model(x)
        entropy = softmax_entropy(logits)
        reliable = entropy < self.e_margin
        entropy[reliable].mean(0).backward()  # nan (no grad) when nothing is reliable
        self.sam.first_step()
        entropy2 = softmax_entropy(self.model(x))[reliable]
        reliable2 = entropy2 < self.e_margin
        loss2 = entropy2[reliable2].mean(0)
        ema = self.ema
        if not math.isnan(loss2.item()):
            ema = loss2.item() if ema is None else 0.9 * ema + 0.1 * loss2.item()
        if reliable2.any():
            loss2.backward()
        self.sam.second_step()
        if ema is not None and ema < self.reset_constant:
            self.reset()
            self.num_resets += 1
        self.ema = ema
        return logits.detach()
