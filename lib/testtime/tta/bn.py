"""Normalization-only adaptation: BN adapt (test-batch statistics) and alpha-BN.

BN adapt replaces the source running statistics of every BatchNorm layer with the statistics
of the current test batch ("Improving robustness against common corruptions by covariate shift
adaptation", Schneider et al., NeurIPS 2020, arXiv 2006.16971; the "BN" baseline of TENT).
Nothing is learned: the affine parameters stay, only the normalization changes.

alpha-BN ("Test-time Batch Statistics Calibration for Covariate Shift", You et al., arXiv
2110.04065) mixes the two sets of statistics in every BN layer:

    mu  = alpha * mu_source  + (1 - alpha) * mu_batch
    var = alpha * var_source + (1 - alpha) * var_batch

Convention here: ``alpha`` is the weight of the SOURCE statistics, so ``alpha = 1`` is the
source model and ``alpha = 0`` is BN adapt. (Some public code calls the weight of the batch
statistics alpha; check the convention before comparing numbers.) Batch variances are the
biased ones BN normalizes with.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from testtime.tta.base import TTAMethod, configure_bn_adaptation


class BNAdapt(TTAMethod):
    """Predict with every BN layer normalizing by the test batch's own mean and variance."""

    def __init__(self, model: nn.Module) -> None:
        configure_bn_adaptation(model, train_affine=False)
        super().__init__(model)

    @torch.no_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class AlphaBatchNorm2d(nn.Module):
    """A BatchNorm2d that normalizes with ``alpha * source + (1 - alpha) * batch`` statistics."""

    def __init__(self, bn: nn.BatchNorm2d, alpha: float) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha={alpha!r} is not valid; expected a float in [0, 1]")
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError("bn is not valid: it has no running (source) statistics")
        self.alpha = alpha
        self.eps = bn.eps
        self.weight = bn.weight
        self.bias = bn.bias
        self.register_buffer("source_mean", bn.running_mean.detach().clone())
        self.register_buffer("source_var", bn.running_var.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_mean = x.mean(dim=(0, 2, 3))
        batch_var = x.var(dim=(0, 2, 3), unbiased=False)
        mean = self.alpha * self.source_mean + (1 - self.alpha) * batch_mean
        var = self.alpha * self.source_var + (1 - self.alpha) * batch_var
        x_hat = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + self.eps)
        return x_hat * self.weight[:, None, None] + self.bias[:, None, None]


def convert_alpha_bn(model: nn.Module, alpha: float) -> nn.Module:
    """Replace every ``BatchNorm2d`` of ``model`` (in place) by an ``AlphaBatchNorm2d``."""
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(model, name, AlphaBatchNorm2d(child, alpha))
        else:
            convert_alpha_bn(child, alpha)
    return model


class AlphaBN(TTAMethod):
    """alpha-BN: predict with source and test-batch statistics mixed by ``alpha`` (the weight of
    the source statistics; the paper's training-free variant, without its Core loss)."""

    def __init__(self, model: nn.Module, alpha: float = 0.5) -> None:
        model = convert_alpha_bn(model, alpha)
        model.eval().requires_grad_(False)
        super().__init__(model)
        self.alpha = alpha

    @torch.no_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
