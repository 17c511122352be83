"""Synthetic memory tasks: multi-query associative recall and in-context regression.

* :func:`mqar` - multi-query associative recall as in "Zoology: Measuring and Improving Recall
  in Efficient Language Models" (Arora et al. 2023, arXiv 2312.04927): a sequence of
  key-value pairs ``k1 v1 k2 v2 ...`` followed by queries ``k v`` where each queried key
  appeared among the pairs and the model must produce its value.
* :func:`icl_regression` - in-context linear regression ``y_t = w_t . x_t + noise``, stationary
  (``w_t = w``) or drifting (``w_t`` follows a norm-preserving AR(1) random walk), the setting of
  "Test-time regression: a unifying framework for designing sequence models with associative
  memory" (Wang, Shi, Fox 2025, arXiv 2501.12352).

Every generator takes an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from testtime.runtime import check_positive


class MQARBatch(NamedTuple):
    tokens: torch.Tensor  # (B, 2W + 2Q) token ids, W = num_pairs + rewrites written pairs
    targets: torch.Tensor  # (B, 2W + 2Q) next-token targets, -100 except at query keys
    keys: torch.Tensor  # (B, W) the written key ids in order, in [0, num_keys)
    values: torch.Tensor  # (B, W) the written value ids, in [num_keys, num_keys + num_values)
    query_keys: torch.Tensor  # (B, Q) the queried keys
    answers: torch.Tensor  # (B, Q) the latest value written for each queried key


def mqar(
    batch: int,
    num_pairs: int,
    num_queries: int,
    num_keys: int,
    num_values: int,
    generator: torch.Generator,
    rewrites: int = 0,
) -> MQARBatch:
    """A batch of MQAR sequences ``k v k v ... | k v k v`` (pairs, then queries).

    ``num_pairs`` distinct keys get values (values may repeat); then ``rewrites`` of those keys
    (distinct, chosen at random) are written again with fresh values, so a memory must *update*
    what it stored; each query asks for the latest value of a stored key. Vocabulary: keys are
    ids ``0 .. num_keys-1``, values ``num_keys .. num_keys+num_values-1``. The target is set at
    every query-key position (predict its value) and -100 elsewhere.
    """
    for name, value in [("batch", batch), ("num_pairs", num_pairs), ("num_queries", num_queries),
                        ("num_keys", num_keys), ("num_values", num_values)]:
        if not isinstance(value, int):
            raise ValueError(f"{name}={value!r} is not valid; expected an int")
        check_positive(name, value)
    if num_pairs > num_keys:
        raise ValueError(f"num_pairs={num_pairs} is not valid; it must be <= num_keys={num_keys}")
    if not isinstance(rewrites, int) or not 0 <= rewrites <= num_pairs:
        raise ValueError(f"rewrites={rewrites!r} is not valid; expected an int in [0, num_pairs]")
    keys = torch.rand(batch, num_keys, generator=generator).argsort(dim=1)[:, :num_pairs]
    values = num_keys + torch.randint(num_values, (batch, num_pairs), generator=generator)
    again = torch.rand(batch, num_pairs, generator=generator).argsort(dim=1)[:, :rewrites]
    new_values = num_keys + torch.randint(num_values, (batch, rewrites), generator=generator)
    latest = values.scatter(1, again, new_values)
    queries = torch.randint(num_pairs, (batch, num_queries), generator=generator)
    query_keys, answers = keys.gather(1, queries), latest.gather(1, queries)
    keys = torch.cat([keys, keys.gather(1, again)], dim=1)
    values = torch.cat([values, new_values], dim=1)
    context = torch.stack([keys, values], dim=2).flatten(1)
    asked = torch.stack([query_keys, answers], dim=2).flatten(1)
    tokens = torch.cat([context, asked], dim=1)
    targets = torch.full_like(tokens, -100)
    targets[:, context.size(1) :: 2] = answers  # at each query key, predict its value
    return MQARBatch(tokens, targets, keys, values, query_keys, answers)


class RegressionBatch(NamedTuple):
    x: torch.Tensor  # (B, T, d) inputs (keys)
    y: torch.Tensor  # (B, T, 1) targets (values)
    w: torch.Tensor  # (B, T, d) the regression weights in force at each step


def icl_regression(
    batch: int,
    length: int,
    dim: int,
    generator: torch.Generator,
    noise: float = 0.1,
    drift: float = 0.0,
) -> RegressionBatch:
    """In-context linear regression sequences ``y_t = w_t . x_t + noise * eps_t``.

    ``x_t ~ N(0, I_d)``, ``w_0 ~ N(0, I_d / d)`` (so ``y`` has unit signal variance), and
    ``w_t = sqrt(1 - drift^2) w_{t-1} + drift * xi_t`` with ``xi_t ~ N(0, I_d / d)``: ``drift = 0``
    is the stationary task, ``drift > 0`` a slowly wandering target whose statistics do not change
    (its correlation time is about ``1 / drift^2`` steps).
    """
    for name, value in [("batch", batch), ("length", length), ("dim", dim)]:
        if not isinstance(value, int):
            raise ValueError(f"{name}={value!r} is not valid; expected an int")
        check_positive(name, value)
    check_positive("noise", noise, allow_zero=True)
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift={drift!r} is not valid; expected a float in [0, 1]")
    scale = 1.0 / math.sqrt(dim)
    x = torch.randn(batch, length, dim, generator=generator)
    steps = torch.randn(batch, length, dim, generator=generator) * scale
    w = [steps[:, 0]]
    keep = math.sqrt(1.0 - drift**2)
    for t in range(1, length):
        w.append(keep * w[-1] + drift * steps[:, t])
    w = torch.stack(w, dim=1)
    y = (w * x).sum(-1, keepdim=True) + noise * torch.randn(batch, length, 1, generator=generator)
    return RegressionBatch(x, y, w)

