"""Label-free accuracy estimation under shift (the idea behind LeBeD, small version).

"Online GNN Evaluation Under Test-time Graph Distribution Shifts" (Zheng, Luo, Pan, Zhang, ICLR
2024, arXiv 2403.09953) scores a trained model on an unlabelled test set by its *learning
behaviour discrepancy*: re-train on the test set with the model's own pseudo-labels and measure
how far the re-trained parameters move (a parameter-free stopping rule decides when). A model that
already understands the test data fits its own pseudo-labels with little change; under a shift it
has to move further. Here, for a classifier on images:

- :func:`learning_behaviour_discrepancy` fine-tunes a copy on its own pseudo-labels (BN in train
  mode, so batch statistics adapt too) for a fixed number of steps and returns the relative
  parameter distance ``||theta_K - theta_0|| / ||theta_0||`` (we stop after ``steps`` instead of
  LeBeD's optimality criterion, and use one prediction loss instead of its node + structure terms);
- :func:`agreement` gives the simplest estimator of the same family: the fraction of test
  predictions that survive adaptation (source vs BN-adapted), used directly as an accuracy
  estimate;
- :func:`average_confidence` is the classic baseline (mean max-probability).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.runtime import check_positive
from testtime.tta.base import configure_bn_adaptation


def average_confidence(logits: torch.Tensor) -> float:
    """Mean over rows of the max softmax probability: an (optimistic) accuracy estimate."""
    return float(logits.softmax(1).max(1).values.mean())


def agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of rows whose argmax is the same under both sets of logits."""
    return float((logits_a.argmax(1) == logits_b.argmax(1)).float().mean())


def parameter_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """``||theta_a - theta_b|| / ||theta_b||`` over all parameters."""
    num = sum(
        float((a.detach() - b.detach()).pow(2).sum())
        for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True)
    )
    den = sum(float(b.detach().pow(2).sum()) for b in model_b.parameters())
    return (num / den) ** 0.5


def learning_behaviour_discrepancy(
    model: nn.Module,
    x: torch.Tensor,
    *,
    steps: int = 10,
    lr: float = 1e-3,
    batch_size: int = 128,
    generator: torch.Generator | None = None,
) -> float:
    """Fine-tune a copy of ``model`` on its own (source, eval-mode) pseudo-labels of ``x``; return
    the relative parameter distance it travels. ``model`` itself is left untouched."""
    check_positive("steps", steps)
    check_positive("lr", lr)
    x = x.to(next(model.parameters()).device)  # the images may arrive on the CPU
    source = copy.deepcopy(model).eval()
    with torch.no_grad():
        pseudo = torch.cat([source(chunk) for chunk in x.split(512)]).argmax(1)
    student = configure_bn_adaptation(copy.deepcopy(model), train_affine=True)
    student.requires_grad_(True)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=generator)[:batch_size].to(x.device)
        loss = F.cross_entropy(student(x[idx]), pseudo[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return parameter_distance(student, source)


def pearson(a: list[float] | torch.Tensor, b: list[float] | torch.Tensor) -> float:
    """Pearson correlation of two equal-length sequences."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError("a, b are not valid; expected two sequences of the same length >= 2")
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))
