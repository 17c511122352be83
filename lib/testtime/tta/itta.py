"""ITTA: a learnable consistency loss and adaptive parameters for TTT (small version).

"Improved Test-Time Adaptation for Domain Generalization" (Chen, Zhang, Song, Zhang, Liu, CVPR 2023,
arXiv 2304.04494). Two changes to TTT:

1. The auxiliary loss is *learned*: ``L_w(x) = || f_w(z_aug - z) ||^2`` where ``z`` and ``z_aug``
   are the features of an image and of a style-perturbed copy (MixStyle on an early feature map)
   and ``f_w`` is a small element-wise network. During training the network minimises
   ``CE(z) + CE(z_aug) + L_w`` while ``w`` minimises the distance between the gradients of ``L_w``
   and of the main loss with respect to the feature extractor (eq. 5), so that a step on ``L_w``
   at test time moves the extractor the way the (unknown) main loss would.
2. At test time only *new* adaptive parameters (identity-initialised element-wise maps inserted
   after each block) are updated on ``L_w``; the trained weights stay fixed.

Official code (liangchen527/ITTA, ``domainbed/algorithms.py``): MixStyle with Beta(0.1, 0.1),
``Adaparams`` = 10 element-wise affine layers with ReLUs between, the gradient distance computed
on standardised flattened gradients times 0.1, adaptive maps of depth 5 after each ResNet-18
block, Adam at 0.1x the training lr, BatchNorm frozen. Differences here: a 3-block ConvNet;
adaptive maps per *channel* (the official ones are per channel *and* position); MixStyle always
after block 1 (the official code picks block 1 or 2 at random); our learning rates are larger;
leaky ReLUs (slope 0.01) between the element-wise maps instead of ReLUs: with ReLUs, on one of
our three seeds every unit of the 10-map consistency net went dead during training, so that
``L_w`` became a constant, its gradient vanished and ITTA had nothing to adapt on.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.runtime import check_positive
from testtime.tta.base import TTAMethod, gradient_steps, minibatches, train_only

NEGATIVE_SLOPE = 0.01  # of the leaky ReLUs between element-wise maps (see the module docstring)


def sample_beta(alpha: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples of Beta(alpha, alpha) by Johnk's rejection method (seeded by ``generator``)."""
    out = torch.empty(n)
    todo = torch.ones(n, dtype=torch.bool)
    while todo.any():
        u = torch.rand(n, generator=generator) ** (1 / alpha)
        v = torch.rand(n, generator=generator) ** (1 / alpha)
        ok = todo & (u + v <= 1) & (u + v > 0)
        out[ok] = (u / (u + v))[ok]
        todo &= ~ok
    return out


def mixstyle(
    x: torch.Tensor, generator: torch.Generator | None = None, alpha: float = 0.1, eps: float = 1e-6
) -> torch.Tensor:
    """Mix each feature map's channel mean/std with those of another sample of the batch."""
    n = x.shape[0]
    mu = x.mean(dim=(2, 3), keepdim=True).detach()
    sig = (x.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
    lam = sample_beta(alpha, n, generator).to(x).view(n, 1, 1, 1)
    perm = torch.randperm(n, generator=generator).to(x.device)
    return (x - mu) / sig * (lam * sig + (1 - lam) * sig[perm]) + lam * mu + (1 - lam) * mu[perm]


class ElementwiseNet(nn.Module):
    """``depth`` element-wise affine maps (weights 1, biases 0 at init), leaky ReLUs between."""

    def __init__(self, shape: tuple[int, ...], depth: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(depth, *shape))
        self.bias = nn.Parameter(torch.zeros(depth, *shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depth = self.weight.shape[0]
        for i in range(depth):
            x = self.weight[i] * x + self.bias[i]
            if i < depth - 1:
                x = F.leaky_relu(x, NEGATIVE_SLOPE)
        return x


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class ITTANet(nn.Module):
    """A 3-block ConvNet with adaptive maps after each block and a learnable consistency net."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        consistency_depth: int = 10,
        adaptive_depth: int = 5,
    ) -> None:
        super().__init__()
        chans = (width, 2 * width, 2 * width)
        self.blocks = nn.ModuleList(
            [
                _block(in_channels, width, 1),
                _block(width, 2 * width, 2),
                _block(2 * width, 2 * width, 2),
            ]
        )
        self.adaptive = nn.ModuleList([ElementwiseNet((c, 1, 1), adaptive_depth) for c in chans])
        self.head = nn.Linear(2 * width, num_classes)
        self.consistency = ElementwiseNet((2 * width,), consistency_depth)

    def encode(
        self, x: torch.Tensor, augment: bool = False, generator: torch.Generator | None = None
    ):
        """Features ``z`` of ``x``, or ``(z, z_aug)`` with ``augment`` (a MixStyle copy)."""
        h = self.adaptive[0](self.blocks[0](x))
        hs = [h, mixstyle(h, generator)] if augment else [h]
        for block, adapt in zip(self.blocks[1:], self.adaptive[1:], strict=True):
            hs = [adapt(block(t)) for t in hs]
        zs = [t.mean(dim=(2, 3)) for t in hs]
        return tuple(zs) if augment else zs[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))

    def extractor_parameters(self) -> list[nn.Parameter]:
        return [p for b in self.blocks for p in b.parameters()]


def consistency_loss(model: ITTANet, z: torch.Tensor, z_aug: torch.Tensor) -> torch.Tensor:
    """The learnable consistency loss ``mean || f_w(z_aug - z) ||^2`` (eq. 3)."""
    return model.consistency(z_aug - z).pow(2).mean()


def _standardise(grads: list[torch.Tensor]) -> torch.Tensor:
    flat = torch.cat([g.reshape(-1) for g in grads])
    return (flat - flat.mean().detach()) / flat.std().detach().clamp_min(1e-12)


def gradient_alignment(
    model: ITTANet, main_loss: torch.Tensor, aux_loss: torch.Tensor
) -> torch.Tensor:
    """``mean (g_aux - g_main)^2`` of standardised extractor gradients (eq. 5), differentiable."""
    params = model.extractor_parameters()
    g_main = torch.autograd.grad(main_loss, params, retain_graph=True)
    g_aux = torch.autograd.grad(aux_loss, params, retain_graph=True, create_graph=True)
    return (_standardise(list(g_aux)) - _standardise(list(g_main))).pow(2).mean()


def train_itta(
    model: ITTANet,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_lr: float = 3e-4,
    penalty: float = 0.1,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Alternate the network step (CE + CE_aug + L_w) and the consistency-weight step (eq. 5)."""
    check_positive("epochs", epochs)
    net_params = model.extractor_parameters() + list(model.head.parameters())
    opt_net = torch.optim.Adam(net_params, lr=lr)
    opt_w = torch.optim.Adam(model.consistency.parameters(), lr=weight_lr)
    model.train()
    losses = []
    for idx in minibatches(len(y), batch_size, epochs, generator):
        xb, yb = x[idx], y[idx]
        z, z_aug = model.encode(xb, augment=True, generator=generator)
        cls = F.cross_entropy(model.head(z), yb) + F.cross_entropy(model.head(z_aug), yb)
        loss = cls + consistency_loss(model, z, z_aug)
        opt_net.zero_grad()
        loss.backward()
        opt_net.step()
        z, z_aug = model.encode(xb, augment=True, generator=generator)
        cls = F.cross_entropy(model.head(z), yb) + F.cross_entropy(model.head(z_aug), yb)
        pen = penalty * gradient_alignment(model, cls, consistency_loss(model, z, z_aug))
        opt_w.zero_grad()
        pen.backward(inputs=list(model.consistency.parameters()))
        opt_w.step()
        losses.append(cls.item())
    model.eval()
    return losses


class ITTA(TTAMethod):
    """Test time: ``steps`` Adam steps on the learnable consistency loss, adaptive maps only."""

    def __init__(
        self,
        model: ITTANet,
        *,
        lr: float = 1e-3,
        steps: int = 1,
        generator: torch.Generator | None = None,
        episodic: bool = False,
    ) -> None:
        check_positive("lr", lr)
        check_positive("steps", steps)
        # eval mode: BatchNorm keeps its source statistics, as in the official code
        params = train_only(model, model.adaptive)
        super().__init__(model, episodic=episodic)
        self.steps, self.generator = steps, generator
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.save_optimizer_state()
        self.losses: list[float] = []  # the consistency loss of every step, over the whole stream

    def auxiliary_loss(self, x: torch.Tensor) -> torch.Tensor:
        """The learned consistency loss of ``x`` and a fresh MixStyle copy."""
        z, z_aug = self.model.encode(x, augment=True, generator=self.generator)
        return consistency_loss(self.model, z, z_aug)

    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        self.losses += gradient_steps(self.optimizer, lambda: self.auxiliary_loss(x), self.steps)
        with torch.no_grad():
            return self.model(x)
