"""The shape every test-time adaptation method shares, after the TENT reference (``tent.py``).

A method wraps a model. ``method(x)`` adapts on the test batch ``x`` (if it adapts at all)
and returns the logits it predicts for ``x``; ``reset()`` restores the model (and optimizer)
to the state the method was built with; ``episodic=True`` resets before every batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``-sum_c p_c log p_c`` of the softmax of each row of ``logits (N, C)``."""
    return -(logits.softmax(dim=1) * logits.log_softmax(dim=1)).sum(dim=1)


def bn_affine_params(model: nn.Module) -> list[nn.Parameter]:
    """The affine scale and shift of every BatchNorm layer (what TENT adapts)."""
    params = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            params += [module.weight, module.bias]
    return params


def configure_bn_adaptation(model: nn.Module, *, train_affine: bool = True) -> nn.Module:
    """Normalise with test-batch statistics and (optionally) train only the BN affine params.

    BN layers are put in train mode without running statistics, so every forward pass uses
    the current batch's mean and variance, as in TENT's ``configure_model``.
    """
    model.train()
    model.requires_grad_(False)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(train_affine)
            module.track_running_stats = False
            module.running_mean = None
            module.running_var = None
    return model


def train_only(model: nn.Module, *parts: nn.Module) -> list[nn.Parameter]:
    """Put ``model`` in eval mode, freeze it except ``parts``, and return the trainable params."""
    model.eval()
    model.requires_grad_(False)
    for part in parts:
        part.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def minibatches(n: int, batch_size: int, epochs: int,
                generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Indices of ``epochs`` shuffled passes over ``n`` examples in ``batch_size`` chunks: the
    joint-training loop of the TTT networks. Each epoch's permutation is drawn when the epoch
    starts, so randomness drawn inside a step keeps its order."""
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


@torch.enable_grad()
def gradient_steps(
    optimizer: torch.optim.Optimizer, loss_fn: Callable[[], torch.Tensor], steps: int
) -> list[float]:
    """``steps`` optimizer steps, each on a freshly drawn ``loss_fn()``; returns the losses.

    The test-time loop of every self-supervised TTT method (rotation, ITTA, reconstruction):
    the auxiliary loss is redrawn each step (new augmentations, masks or style mixes).
    """
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


class TTAMethod(nn.Module):
    """Base class: subclasses implement ``forward_and_adapt(x) -> logits``.

    The model passed in is adapted in place. Configure it (e.g. ``configure_bn_adaptation``)
    *before* calling ``super().__init__``: the constructor keeps a copy of its state (and
    of the optimizer's, once ``self.optimizer`` is set by the subclass) for ``reset()``.
    """

    def __init__(self, model: nn.Module, *, episodic: bool = False) -> None:
        super().__init__()
        self.model = model
        self.episodic = episodic
        self.optimizer: torch.optim.Optimizer | None = None
        self._model_state = copy.deepcopy(model.state_dict())
        self._optimizer_state: dict | None = None

    def save_optimizer_state(self) -> None:
        """Call at the end of a subclass constructor, after creating ``self.optimizer``."""
        if self.optimizer is not None:
            self._optimizer_state = copy.deepcopy(self.optimizer.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.episodic:
            self.reset()
        return self.forward_and_adapt(x)

    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        self.model.load_state_dict(self._model_state, strict=True)
        if self.optimizer is not None and self._optimizer_state is not None:
            self.optimizer.load_state_dict(self._optimizer_state)


class Source(TTAMethod):
    """No adaptation: the source model in eval mode (running statistics)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.model.eval()

    @torch.no_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
