"""Test streams for test-time adaptation, and ``evaluate(method, stream)``.

A stream is what a deployed model sees: a sequence of unlabeled batches (labels are kept only
to score the predictions). The scenarios of the TTA literature:

- ``"reset"``: one corruption at a time, the method reset between corruptions (TENT's
  CIFAR-10-C protocol);
- ``"continual"``: all corruptions one after another without any reset (CoTTA's protocol);
- ``"mixed"``: all corruptions shuffled together, every batch mixes domains (SAR's "mixed
  distribution shifts");

each combined with a label order inside a domain: ``"iid"`` (shuffled), ``"class_sorted"``
(one class after another, the extreme label shift of LAME and SAR), or ``"dirichlet"``
(NOTE/RoTTA-style temporally correlated labels: each class spread over time by a
Dirichlet(``alpha``) draw; small ``alpha`` approaches class-sorted, large ``alpha`` i.i.d.),
and any batch size (1 is SAR's "batch size 1" wild setting).

    domains = corrupt_domains(x, CORRUPTIONS, severity=5, seed=0)
    stream = make_stream(domains, y, scenario="continual", order="iid", batch_size=64, seed=0)
    result = evaluate(method, stream)      # result.error, result.batch_errors, result.domain_errors
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from testtime.corruptions import corrupt
from testtime.runtime import check_choice, check_positive

SCENARIOS = ("reset", "continual", "mixed")
ORDERS = ("iid", "class_sorted", "dirichlet")


@dataclass
class Stream:
    """Batches in arrival order. ``reset[i]`` says to reset the method before batch ``i``;
    ``domain[i]`` holds the domain index of every sample of batch ``i`` (into ``domain_names``)."""

    x: list[torch.Tensor]
    y: list[torch.Tensor]
    domain: list[torch.Tensor]
    reset: list[bool]
    domain_names: list[str]
    description: str = ""

    def __len__(self) -> int:
        return len(self.x)

    @property
    def num_samples(self) -> int:
        return sum(len(b) for b in self.y)


@dataclass
class StreamResult:
    """``error`` (%) over the whole stream, per batch, and per domain."""

    error: float
    batch_errors: list[float]
    domain_errors: dict[str, float]
    predictions: torch.Tensor = field(repr=False)
    correct: torch.Tensor = field(repr=False)


def corrupt_domains(
    x: torch.Tensor, corruptions: Sequence[str], severity: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``{name: corrupt(x, name, severity)}``, each corruption with its own seeded generator
    (seed + its position), so a domain is the same whatever else is in the list."""
    return {
        name: corrupt(x, name, severity, torch.Generator().manual_seed(seed + 1000 * i))
        for i, name in enumerate(corruptions)
    }


def label_order(
    y: torch.Tensor,
    order: str,
    generator: torch.Generator,
    *,
    alpha: float = 0.1,
    num_slots: int = 10,
) -> torch.Tensor:
    """A permutation of ``range(len(y))``: shuffled (``"iid"``), sorted by class with shuffled
    classes and samples (``"class_sorted"``), or Dirichlet-correlated (``"dirichlet"``: every
    class splits its samples over ``num_slots`` time slots with proportions ~ Dir(alpha))."""
    check_choice("order", order, ORDERS)
    n = len(y)
    perm = torch.randperm(n, generator=generator)
    if order == "iid":
        return perm
    classes = torch.unique(y)
    classes = classes[torch.randperm(len(classes), generator=generator)]
    if order == "class_sorted":
        return torch.cat([perm[y[perm] == c] for c in classes])
    check_positive("alpha", alpha)
    slots: list[list[torch.Tensor]] = [[] for _ in range(num_slots)]
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    for c in classes:
        idx = perm[y[perm] == c]
        props = torch.from_numpy(rng.dirichlet(np.full(num_slots, float(alpha))))
        cuts = torch.round(torch.cumsum(props, 0) * len(idx)).long().tolist()
        start = 0
        for s, end in enumerate(cuts):
            slots[s].append(idx[start:end])
            start = end
    out = []
    for chunks in slots:
        if chunks:
            chunk = torch.cat(chunks)
            out.append(chunk[torch.randperm(len(chunk), generator=generator)])
    return torch.cat(out)


def make_stream(
    domains: dict[str, torch.Tensor],
    y: torch.Tensor,
    *,
    scenario: str = "continual",
    order: str = "iid",
    batch_size: int = 64,
    seed: int = 0,
    alpha: float = 0.1,
    num_samples: int | None = None,
) -> Stream:
    """Build a stream from corrupted copies ``domains[name] (N, C, H, W)`` of one test set with
    labels ``y (N,)``. ``num_samples`` keeps only the first samples of each domain (after the
    label ordering) to shorten a stream."""
    check_choice("scenario", scenario, SCENARIOS)
    check_choice("order", order, ORDERS)
    check_positive("batch_size", batch_size)
    if not domains:
        raise ValueError("domains={} is not valid; expected at least one corrupted test set")
    g = torch.Generator().manual_seed(seed)
    names = list(domains)
    xs, ys, ds, resets = [], [], [], []
    if scenario == "mixed":
        # pool every domain, then order the pooled labels (so a label shift persists)
        pool_x = torch.cat([domains[n] for n in names])
        pool_y = y.repeat(len(names))
        pool_d = torch.arange(len(names)).repeat_interleave(len(y))
        idx = label_order(pool_y, order, g, alpha=alpha)
        if num_samples is not None:
            idx = idx[: num_samples * len(names)]
        for chunk in idx.split(batch_size):
            xs.append(pool_x[chunk]), ys.append(pool_y[chunk]), ds.append(pool_d[chunk])
            resets.append(False)
    else:
        for d, name in enumerate(names):
            idx = label_order(y, order, g, alpha=alpha)
            if num_samples is not None:
                idx = idx[:num_samples]
            for j, chunk in enumerate(idx.split(batch_size)):
                xs.append(domains[name][chunk]), ys.append(y[chunk])
                ds.append(torch.full((len(chunk),), d))
                resets.append(scenario == "reset" and j == 0 and d > 0)
    desc = f"{scenario} / {order} / batch {batch_size} / {len(names)} domain(s)"
    return Stream(xs, ys, ds, resets, names, desc)


def evaluate(method: nn.Module, stream: Stream, *, progress: bool = False) -> StreamResult:
    """Run ``method`` over ``stream`` in order (calling ``method.reset()`` before each new domain
    of a ``"reset"`` stream) and score its predictions. The method is not reset at the start:
    pass a freshly built one. A plain model without ``reset`` works on streams without resets."""
    device = next(iter(method.parameters()), torch.empty(0)).device
    preds, correct, batch_errors = [], [], []
    for i in tqdm(range(len(stream)), desc=stream.description, disable=not progress, leave=False):
        if stream.reset[i]:
            method.reset()
        logits = method(stream.x[i].to(device))
        p = logits.argmax(dim=1).cpu()
        ok = p == stream.y[i]
        preds.append(p), correct.append(ok)
        batch_errors.append(100.0 * (1 - ok.float().mean().item()))
    pred, corr = torch.cat(preds), torch.cat(correct)
    dom = torch.cat(stream.domain)
    domain_errors = {
        name: 100.0 * (1 - corr[dom == d].float().mean().item())
        for d, name in enumerate(stream.domain_names)
        if (dom == d).any()
    }
    return StreamResult(
        100.0 * (1 - corr.float().mean().item()), batch_errors, domain_errors, pred, corr
    )
