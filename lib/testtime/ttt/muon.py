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

The iteration also accepts a *schedule*: one ``(a, b, c)`` triple per step. LaCT's official
code ("Test-Time Training Done Right", arXiv 2505.23884: ``zeropower_via_newtonschulz5`` in
``lact_llm/lact_model/ttt_operation.py`` of github.com/a1600012888/LaCT, whose docstring says
it is modified from the Muon code of modded-nanogpt and Moonlight) runs five steps with five
different triples, copied as ``LACT_NS_SCHEDULE`` below. The LaCT layer (``lact.py``) uses
that schedule; the rest of the course uses Keller Jordan's single triple.

Differences from the reference: the reference casts to bfloat16; here the iteration runs in
the input's dtype (pass bfloat16 yourself for speed; float64 makes tests exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import torch

from testtime.runtime import check_positive

Triple = tuple[float, float, float]

NS_COEFFICIENTS: Triple = (3.4445, -4.7750, 2.0315)

# LaCT's official per-step coefficients (one triple per Newton-Schulz step, five steps)
LACT_NS_SCHEDULE: tuple[Triple, ...] = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)


def _is_triple(x: object) -> bool:
    return (isinstance(x, Sequence) and len(x) == 3
            and all(isinstance(c, Real) and not isinstance(c, bool) for c in x))


def ns_schedule(
    coefficients: Triple | Sequence[Triple] = NS_COEFFICIENTS, steps: int | None = None
) -> list[Triple]:
    """The ``(a, b, c)`` triple of every step: one triple repeated ``steps`` times (5 when
    ``steps`` is None), or a schedule of triples taken as given (``steps``, if given, must equal
    its length)."""
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 0):
        raise ValueError(f"steps={steps!r} is not valid; expected an int >= 0 or None")
    if _is_triple(coefficients):
        return [tuple(float(c) for c in coefficients)] * (5 if steps is None else steps)
    if (not isinstance(coefficients, Sequence) or len(coefficients) == 0
            or not all(_is_triple(t) for t in coefficients)):
        raise ValueError(f"coefficients={coefficients!r} is not valid; expected one (a, b, c) "
                         "triple of numbers or a non-empty sequence of such triples (one per step)")
    if steps is not None and steps != len(coefficients):
        raise ValueError(f"steps={steps!r} is not valid with a schedule of {len(coefficients)} "
                         f"triples; expected None or {len(coefficients)}")
    return [tuple(float(c) for c in t) for t in coefficients]


def newton_schulz(
    G: torch.Tensor,
    steps: int | None = None,
    coefficients: Triple | Sequence[Triple] = NS_COEFFICIENTS,
    eps: float = 1e-7,
) -> torch.Tensor:
    """Approximately orthogonalize the last two dimensions of ``G`` (any batch shape in front).

    Returns ``X ~ U V^T`` for ``G = U S V^T``, of the same shape and dtype as ``G``.
    ``coefficients`` is one ``(a, b, c)`` triple used for all ``steps`` steps (default 5), or a
    schedule with one triple per step, e.g. ``LACT_NS_SCHEDULE``.
    """
    if G.dim() < 2:
        raise ValueError(f"G of shape {tuple(G.shape)} is not valid; expected at least 2 dims")
    schedule = ns_schedule(coefficients, steps)
    check_positive("eps", eps)
    wide = G.size(-2) <= G.size(-1)
    X = G if wide else G.mT  # iterate on the side where X X^T is the smaller matrix
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + eps)
    for a, b, c in schedule:
        A = X @ X.mT
        X = a * X + (b * A + c * A @ A) @ X
    return X if wide else X.mT


def newton_schulz_map(
    s: torch.Tensor,
    steps: int | None = None,
    coefficients: Triple | Sequence[Triple] = NS_COEFFICIENTS,
) -> torch.Tensor:
    """What the iteration does to a singular value ``s`` in [0, 1]: ``a s + b s^3 + c s^5`` per
    step, with the same ``steps`` and ``coefficients`` as :func:`newton_schulz`."""
    for a, b, c in ns_schedule(coefficients, steps):
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
