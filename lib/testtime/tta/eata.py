"""EATA and ETA: entropy minimization on reliable, non-redundant samples, plus anti-forgetting.

"Efficient Test-Time Model Adaptation without Forgetting", Niu et al., ICML 2022
(arXiv 2204.02610). On each batch, with BN adapted as in TENT:

- reliability (Eq. 3): keep samples with entropy ``E(x) < E0``, ``E0 = 0.4 ln C``;
- redundancy (Eq. 5): of those, keep samples whose probability vector has cosine similarity
  ``< d_margin`` to ``m``, an EMA (0.9) of the mean probabilities of earlier selected samples;
- weighting (Eq. 6): each kept sample's entropy is multiplied by ``1 / exp(E(x) - E0)`` (the
  official code's form of ``exp(E0 - E(x))``, the weight detached);
- anti-forgetting (Eq. 8): ``+ fisher_alpha * sum_i F_i (theta_i - theta_i_source)^2`` with the
  diagonal Fisher ``F`` estimated on clean samples labelled by the model's own predictions
  (``compute_fishers``). ETA is EATA without this term (``fishers=None``).

When no sample survives the filters, the step is skipped. Defaults follow the official
``eata.py``/``main.py`` (E0 = 0.4 ln C, fisher_alpha 2000, EMA 0.9, SGD lr 0.00025 with
momentum 0.9, one step per batch) except ``d_margin``: the official 0.05 is an ImageNet value;
with 10 classes the cosine between any probability vector and a near-uniform mean is at least
about 1/sqrt(10) = 0.32, so 0.05 rejects almost everything and we default to 0.4.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.runtime import check_positive
from testtime.tta.base import TTAMethod, bn_affine_params, configure_bn_adaptation, softmax_entropy
from testtime.tta.tent import make_optimizer

Fishers = dict[str, tuple[torch.Tensor, torch.Tensor]]


def entropy_margin(num_classes: int, fraction: float = 0.4) -> float:
    """EATA's and SAR's reliability threshold ``E0 = fraction * ln(num_classes)``."""
    check_positive("num_classes", num_classes)
    return fraction * math.log(num_classes)


def setup_entropy_adaptation(
    model: nn.Module, num_classes: int, e_margin: float | None, optimizer: str, lr: float
) -> tuple[float, torch.optim.Optimizer]:
    """What EATA and SAR share before adapting: BN configured as in TENT (batch statistics,
    affine parameters trainable), the reliability margin ``E0`` (``0.4 ln C`` unless given) and
    the optimizer over the BN affine parameters. Call before ``TTAMethod.__init__``."""
    configure_bn_adaptation(model)
    margin = entropy_margin(num_classes) if e_margin is None else e_margin
    return margin, make_optimizer(bn_affine_params(model), optimizer, lr)


def select_samples(
    probs: torch.Tensor, entropy: torch.Tensor, e_margin: float, d_margin: float,
    mean_probs: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two filters. Returns ``(reliable, selected)`` boolean masks over the batch:
    ``entropy < e_margin``, and additionally ``|cos(probs, mean_probs)| < d_margin`` when there
    is a running mean."""
    reliable = entropy < e_margin
    selected = reliable.clone()
    if mean_probs is not None:
        cos = F.cosine_similarity(mean_probs[None, :], probs, dim=1)
        selected &= cos.abs() < d_margin
    return reliable, selected


def update_mean_probs(mean_probs: torch.Tensor | None, probs: torch.Tensor, momentum: float = 0.9):
    """EMA of the mean probability vector of the selected samples (unchanged when none)."""
    if len(probs) == 0:
        return mean_probs
    new = probs.detach().mean(0)
    return new if mean_probs is None else momentum * mean_probs + (1 - momentum) * new


def compute_fishers(model: nn.Module, x_clean: torch.Tensor, batch_size: int = 64) -> Fishers:
    """Diagonal Fisher of the BN affine parameters on clean samples with pseudo-labels.

    As the official ``main.py``: the model is in BN-adaptation mode (batch statistics), the
    cross-entropy to the model's own argmax is backpropagated per batch, squared gradients are
    summed over batches and divided by the number of batches. Returns ``{name: (F, theta0)}``
    for the parameters that require grad. ``model`` must already be configured for adaptation.
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fishers = {n: torch.zeros_like(p) for n, p in params.items()}
    device = next(model.parameters()).device
    batches = x_clean.split(batch_size)
    for xb in batches:
        logits = model(xb.to(device))
        loss = F.cross_entropy(logits, logits.argmax(1))
        grads = torch.autograd.grad(loss, list(params.values()))
        for (n, _), g in zip(params.items(), grads):
            fishers[n] += g.detach() ** 2
    return {n: (fishers[n] / len(batches), params[n].detach().clone()) for n in params}


class EATA(TTAMethod):
    """EATA (with ``fishers``) or ETA (``fishers=None``) on the BN affine parameters."""

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int = 10,
        fishers: Fishers | None = None,
        fisher_alpha: float = 2000.0,
        e_margin: float | None = None,
        d_margin: float = 0.4,
        lr: float = 0.00025,
        optimizer: str = "sgd",
        episodic: bool = False,
    ) -> None:
        e_margin, opt = setup_entropy_adaptation(model, num_classes, e_margin, optimizer, lr)
        super().__init__(model, episodic=episodic)
        self.fishers = fishers
        self.fisher_alpha = fisher_alpha
        self.e_margin, self.d_margin = e_margin, d_margin
        self.optimizer = opt
        self.save_optimizer_state()
        self.mean_probs: torch.Tensor | None = None
        self.num_reliable = 0  # counters over the stream, as the official num_samples_update_1/2
        self.num_selected = 0
        self.last_selected: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.mean_probs = None

    def fisher_penalty(self) -> torch.Tensor:
        penalty = torch.zeros((), device=next(self.model.parameters()).device)
        if self.fishers is None:
            return penalty
        for name, p in self.model.named_parameters():
            if name in self.fishers:
                fisher, theta0 = self.fishers[name]
                penalty = penalty + self.fisher_alpha * (fisher * (p - theta0) ** 2).sum()
        return penalty

    @torch.enable_grad()
    def forward_and_adapt(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        entropy = softmax_entropy(logits)
        probs = logits.softmax(1)
        reliable, selected = select_samples(
            probs.detach(), entropy.detach(), self.e_margin, self.d_margin, self.mean_probs
        )
        self.mean_probs = update_mean_probs(self.mean_probs, probs[selected])
        self.num_reliable += int(reliable.sum())
        self.num_selected += int(selected.sum())
        self.last_selected = selected
        if selected.any():
            ent = entropy[selected]
            weight = torch.exp(-(ent.detach() - self.e_margin))  # 1 / exp(E - E0)
            loss = (ent * weight).mean(0) + self.fisher_penalty()
            loss.backward()
            self.optimizer.step()
        self.optimizer.zero_grad()
        return logits.detach()


class ETA(EATA):
    """EATA without the Fisher regularizer (the paper's "ETA")."""

    def __init__(self, model: nn.Module, **kwargs) -> None:
        kwargs.pop("fishers", None)
        super().__init__(model, fishers=None, **kwargs)
