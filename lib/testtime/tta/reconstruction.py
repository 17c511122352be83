"""Masked-reconstruction test-time training: the test-time task of TTT-MAE and Slot-TTA, on digits.

"Test-Time Training with Masked Autoencoders" (Gandelsman, Sun, Chen, Efros, NeurIPS 2022,
arXiv 2209.07522) trains a classifier on the features of a masked autoencoder and, for each test
image, takes gradient steps on the masked-patch reconstruction loss before classifying it.
"Test-time Adaptation with Slot-Centric Models" (Prabhudesai et al., ICML 2023, arXiv 2203.11194)
adapts a slot-centric segmentation model per scene by gradient descent on pixel reconstruction,
and finds the slot-centric architecture necessary. Neither is reproduced here: no ViT, no slots.
What we keep is their shared test-time loop on a small Y-shaped network whose shared encoder
feeds a classifier and a decoder that reconstructs the masked-out patches of its input; training
minimises ``CE + w * masked MSE`` (jointly, where TTT-MAE trains the autoencoder first); at test
time the encoder takes ``steps`` Adam steps on the masked MSE of the test *batch* (TTT-MAE adapts
per image), then the batch is classified and the encoder is reset (``episodic=True``), as both
papers reset per test input. Group Normalization keeps batch statistics out of the comparison.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.runtime import check_positive
from testtime.tta.base import TTAMethod, gradient_steps, minibatches, train_only


def _stage(c_in: int, c_out: int, stride: int, groups: int = 8) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(groups, c_out), c_out),
        nn.ReLU(),
    )


def patch_mask(
    shape: tuple[int, ...],
    patch: int = 4,
    ratio: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A (N, 1, H, W) mask, 1 on visible pixels, hiding a ``ratio`` of ``patch x patch`` patches."""
    n, _, h, w = shape
    if h % patch or w % patch:
        raise ValueError(f"patch={patch!r} is not valid; it must divide the image size {h}x{w}")
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio={ratio!r} is not valid; expected a number in (0, 1)")
    grid = (torch.rand(n, 1, h // patch, w // patch, generator=generator) >= ratio).float()
    return grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)


class ReconNet(nn.Module):
    """Shared encoder (2 stages) -> classifier (stage 3 + linear) and decoder (to the image)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_stage(in_channels, width, 1), _stage(width, 2 * width, 2))
        self.main = nn.Sequential(
            _stage(2 * width, 2 * width, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(2 * width, num_classes)
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            _stage(2 * width, width, 1),
            nn.Conv2d(width, in_channels, 3, padding=1),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encoder(x)))


def masked_reconstruction_loss(
    model: ReconNet, x: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean squared error of the reconstruction of ``x * mask``, on the hidden pixels only."""
    hidden = 1.0 - mask
    err = (model.reconstruct(x * mask) - x).pow(2) * hidden
    return err.sum() / (hidden.sum() * x.shape[1]).clamp_min(1.0)


def train_recon(
    model: ReconNet,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 3e-3,
    recon_weight: float = 1.0,
    patch: int = 4,
    ratio: float = 0.5,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Joint training of classifier and decoder (Adam); returns the per-step losses."""
    check_positive("epochs", epochs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        xb = x[idx]
        mask = patch_mask(xb.shape, patch, ratio, generator).to(xb)
        return F.cross_entropy(model(xb), y[idx]) + recon_weight * masked_reconstruction_loss(
            model, xb, mask
        )

    for idx in minibatches(len(y), batch_size, epochs, generator):
        losses += gradient_steps(opt, partial(loss_fn, idx), 1)
    model.eval()
    return losses


class ReconstructionTTT(TTAMethod):
    """``steps`` Adam steps of masked reconstruction on the batch (encoder only), then classify."""

    def __init__(
        self,
        model: ReconNet,
        *,
        lr: float = 1e-3,
        steps: int = 5,
        patch: int = 4,
        ratio: float = 0.5,
        episodic: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        check_positive("lr", lr)
        check_positive("steps", steps)
        params = train_only(model, model.encoder)
        super().__init__(model, episodic=episodic)
        self.steps, self.patch, self.ratio, self.generator = steps, patch, ratio, generator
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.save_optimizer_state()
        self.losses: list[float] = []

    def auxiliary_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The masked-reconstruction loss of ``x`` under a freshly drawn patch mask."""
        mask = patch_mask(x.shape, self.patch, self.ratio, self.generator).to(x)
        return masked_reconstruction_loss(self.model, x, mask)

    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        self.losses = gradient_steps(self.optimizer, lambda: self.auxiliary_loss(x), self.steps)
        with torch.no_grad():
            return self.model(x)
