"""Muon's orthogonalization: replace an update ``G = U S V^T`` by (roughly) ``U V^T``.

Keller Jordan, "Muon: An optimizer for hidden layers in neural networks" (blog, 2024) and
``muon.py`` in github.com/KellerJordan/Muon. After scaling ``X_0 = G / ||G||_F`` (so every
singular value is at most 1), five steps of the quintic Newton-Schulz iteration

    X_{k+1} = a X_k + b (X_k X_k^T) X_k + c (X_k X_k^T)^2 X_k,
    (a, b, c) = (3.4445, -4.7750, 2.0315)

act on each singular value as ``s -> a s + b s^3 + c s^5`` and push it towards 1 while leaving
the singular vectors alone. The coefficients maximize the slope at zero rather than converge
exactly, so the result is ``U S' V^T`` with ``S'`` inside a band around 1 (about 0.7 to 1.2
for singular values not too small relative to the Frobenius norm), not exactly ``U V^T``.

Differences from the reference: the reference casts to bfloat16; here the iteration runs in
the input's dtype (pass bfloat16 yourself for speed; float64 makes tests exact). LaCT's own
code ("Test-Time Training Done Right", arXiv 2505.23884) uses five *different* per-step
coefficient triples; we use Keller Jordan's single triple, as the course text does.
"""

from __future__ import annotations

import torch

from testtime.runtime import check_positive

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(
    G: torch.Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
) -> torch.Tensor:
    """Approximately orthogonalize the last two dimensions of ``G`` (any batch shape in front).

    Returns ``X ~ U V^T`` for ``G = U S V^T``, of the same shape and dtype as ``G``.
    """
    if G.dim() < 2:
        raise ValueError(f"G of shape {tuple(G.shape)} is not valid; expected at least 2 dims")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r} is not valid; expected an int >= 0")
    check_positive("eps", eps)
    a, b, c = coefficients
    wide = G.size(-2) <= G.size(-1)
    X = G if wide else G.mT  # iterate on the side where X X^T is the smaller matrix
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        A = X @ X.mT
        X = a * X + (b * A + c * A @ A) @ X
    return X if wide else X.mT


def newton_schulz_map(s: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """What ``steps`` iterations do to a singular value ``s`` in [0, 1]: ``a s + b s^3 + c s^5``."""
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return s


def polar_factor(G: torch.Tensor) -> torch.Tensor:
    """The exact orthogonal factor ``U V^T`` of ``G = U S V^T`` (by SVD), for comparison."""
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh


def newton_schulz_flops(rows: int, cols: int, steps: int = 5) -> int:
    """Matmul FLOPs of :func:`newton_schulz` on a ``rows x cols`` matrix (``m = min``, ``n = max``):
    per step ``X X^T`` (2 m^2 n), ``A A`` (2 m^3), ``B X`` (2 m^2 n)."""
    m, n = min(rows, cols), max(rows, cols)
    return steps * (4 * m * m * n + 2 * m**3)
