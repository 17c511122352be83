"""Sequence layers as regressions solved at test time: each reads out a fit of ``v ~ k``.

"Test-time regression: a unifying framework for designing sequence models with associative
memory" (Wang, Shi, Fox 2025, arXiv 2501.12352): a layer stores the pairs ``(k_i, v_i)`` it has
seen and answers a query ``q`` with the prediction of some regression of values on keys.

* :func:`linear_attention_regression` - one gradient step, from zero, on the least-squares loss
  ``1/2 sum_i ||W k_i - v_i||^2``: ``W = lr sum_i v_i k_i^T`` (Sec. 4.1), i.e. linear attention.
* :func:`ridge_regression` - the least-squares problem solved exactly (the optimum that linear
  attention approximates by ignoring the key covariance).
* :func:`nadaraya_watson` - locally constant regression with a kernel: softmax attention is
  Nadaraya-Watson with the exponential kernel ``exp(q . k / h)`` (Sec. 4.2).
* :func:`local_linear_attention` - locally linear regression with the same kernel, "Local
  Linear Attention: An Optimal Interpolation of Linear and Softmax Attention For Test-Time
  Regression" (Zuo et al. 2025, arXiv 2510.01450), naive ``O(N d^2)``-per-query form: at each
  query ``q`` solve ``min_{a, W} sum_i w_i(q) ||v_i - a - W (k_i - q)||^2 + ridge ||W||^2`` and
  answer ``a = vbar + (q - kbar)^T (S_kk + ridge I)^{-1} S_kv`` (weighted means and covariances).
  The paper's FlashLLA blockwise algorithm is not reproduced.

(The delta rule, online gradient descent on the same loss, is in :mod:`testtime.ttt.delta_rule`.)

Shapes: queries ``(B, M, d)``, keys ``(B, N, d)``, values ``(B, N, d_v)``; ``mask`` ``(B, M, N)``
or ``(M, N)`` is True where query ``m`` may use pair ``n`` (None: every pair). A query without
any usable pair is answered with zeros.
"""

from __future__ import annotations

import torch

from testtime.runtime import check_choice, check_positive

KERNELS = ("softmax", "rbf")


def _mask(mask: torch.Tensor | None, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones(q.size(-2), k.size(-2), dtype=torch.bool, device=q.device)
    return mask


def outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., :, None] * b[..., None, :]


def kernel_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    mask: torch.Tensor | None = None,
    kernel: str = "softmax",
    bandwidth: float = 1.0,
) -> torch.Tensor:
    """Normalized kernel weights ``w_i(q)`` ``(B, M, N)``; each row sums to 1 (or 0 if empty).

    ``softmax``: ``exp(q . k_i / h)`` (attention; ``h = sqrt(d)`` is the usual scale).
    ``rbf``: ``exp(-||q - k_i||^2 / (2 h^2))``, which is the softmax of
    ``(q . k_i - ||k_i||^2 / 2) / h^2`` since the ``||q||^2`` term cancels in the normalization.
    """
    check_choice("kernel", kernel, KERNELS)
    check_positive("bandwidth", bandwidth)
    mask = _mask(mask, q, k)
    scores = q @ k.transpose(-1, -2)
    if kernel == "softmax":
        scores = scores / bandwidth
    else:
        scores = (scores - 0.5 * (k * k).sum(-1)[..., None, :]) / bandwidth**2
    scores = scores.masked_fill(~mask, float("-inf"))
    top = scores.amax(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).min)
    w = (scores - top).exp()
    return w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)


def linear_attention_regression(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    lr: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """``q W`` with ``W = lr sum_i k_i^T v_i``: one gradient step of least squares from zero.

    ``lr`` may be a tensor broadcastable to ``(B, M, 1)``, e.g. ``1 / (number of pairs)``.
    """
    scores = (q @ k.transpose(-1, -2)) * _mask(mask, q, k)
    return lr * (scores @ v)


def ridge_regression(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    ridge: float = 1e-3,
) -> torch.Tensor:
    """``q W*``, ``W* = (sum_i k_i k_i^T + ridge I)^{-1} sum_i k_i v_i^T`` over the usable pairs."""
    check_positive("ridge", ridge)
    m = _mask(mask, q, k).to(q.dtype)
    kk = torch.einsum("...mn,...nd,...ne->...mde", m, k, k)
    kv = torch.einsum("...mn,...nd,...ne->...mde", m, k, v)
    eye = torch.eye(k.size(-1), dtype=q.dtype, device=q.device)
    W = torch.linalg.solve(kk + ridge * eye, kv)
    return (q[..., None, :] @ W)[..., 0, :]


def nadaraya_watson(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    kernel: str = "softmax",
    bandwidth: float = 1.0,
) -> torch.Tensor:
    """Locally constant kernel regression ``sum_i w_i(q) v_i`` (softmax attention)."""
    return kernel_weights(q, k, mask, kernel, bandwidth) @ v


def local_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    kernel: str = "softmax",
    bandwidth: float = 1.0,
    ridge: float = 1e-2,
) -> torch.Tensor:
    """Locally linear kernel regression at every query (LLA, naive form)."""
    check_positive("ridge", ridge)
    w = kernel_weights(q, k, mask, kernel, bandwidth)  # (B, M, N), rows sum to 1
    k_bar, v_bar = w @ k, w @ v  # weighted means (B, M, d), (B, M, d_v)
    kk = torch.einsum("...mn,...nd,...ne->...mde", w, k, k) - outer(k_bar, k_bar)
    kv = torch.einsum("...mn,...nd,...ne->...mde", w, k, v) - outer(k_bar, v_bar)
    eye = torch.eye(k.size(-1), dtype=q.dtype, device=q.device)
    slope = torch.linalg.solve(kk + ridge * eye, kv)  # (B, M, d, d_v)
    return v_bar + ((q - k_bar)[..., None, :] @ slope)[..., 0, :]
