"""The delta rule: a fast-weight memory that corrects what it stores, ``M += beta k^T (v - k M)``.

"Linear Transformers Are Secretly Fast Weight Programmers" (Schlag, Irie, Schmidhuber 2021,
arXiv 2102.11174), Eq. 15-17, and "Parallelizing Linear Transformers with the Delta Rule over
Sequence Length" (Yang et al. 2024, arXiv 2406.06484) for the chunked form. The write
``M_t = M_{t-1} + beta_t k_t^T (v_t - k_t M_{t-1})`` is one gradient step, with step size
``beta_t``, on the online regression loss ``1/2 ||k_t M - v_t||^2``; the read is ``o_t = q_t M_t``.

* :func:`delta_rule_recurrent` - token by token, the definition;
* :func:`delta_rule_chunked` - the WY / UT form: inside a chunk the corrected values
  ``U = (I + tril(diag(beta) K K^T, -1))^{-1} diag(beta) (V - K M_0)`` solve a unit lower
  triangular system, then ``O = Q M_0 + tril(Q K^T) U`` and ``M_C = M_0 + K^T U``.

Tensors are ``(B, H, T, d)``; ``beta`` is ``(B, H, T)``; the state is ``(B, H, d_k, d_v)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.models import register_mixer
from testtime.runtime import check_positive


def delta_rule_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_t = M_{t-1} + beta_t k_t^T (v_t - k_t M_{t-1})``, ``o_t = q_t M_t`` (the reference)."""
    B, H, T, dk = q.shape
    M = q.new_zeros(B, H, dk, v.size(-1)) if state is None else state
    outs = []
    for t in range(T):
        kt = k[:, :, t]
        err = v[:, :, t] - torch.einsum("bhd,bhde->bhe", kt, M)
        M = M + beta[:, :, t, None, None] * kt[..., :, None] * err[..., None, :]
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], M))
    return torch.stack(outs, dim=2), M


def delta_rule_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same outputs and final state as :func:`delta_rule_recurrent`, chunk by chunk."""
    check_positive("chunk_size", chunk_size)
    B, H, T, dk = q.shape
    M = q.new_zeros(B, H, dk, v.size(-1)) if state is None else state
    outs = []
    for s in range(0, T, chunk_size):
        qc, kc, vc = (t[:, :, s : s + chunk_size] for t in (q, k, v))
        bc = beta[:, :, s : s + chunk_size, None]
        C = qc.size(2)
        eye = torch.eye(C, dtype=q.dtype, device=q.device)
        A = eye + (bc * (kc @ kc.transpose(-1, -2))).tril(-1)
        U = torch.linalg.solve_triangular(A, bc * (vc - kc @ M), upper=False, unitriangular=True)
        outs.append(qc @ M + (qc @ kc.transpose(-1, -2)).tril() @ U)
        M = M + kc.transpose(-1, -2) @ U
    return torch.cat(outs, dim=2), M


@register_mixer("delta_rule")
class DeltaRule(nn.Module):
    """Multi-head delta-rule (DeltaNet) token mixer; the state is the fast weights ``M``.

    Queries and keys are L2-normalized per head and ``beta_t = sigmoid(x w_beta)`` lies in
    (0, 1), which keeps every write a contraction (DeltaNet's choice). Differences from
    DeltaNet: no short convolution, no output norm.
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int = 0, chunk_size: int = 64
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not valid; it must be divisible by n_head")
        check_positive("chunk_size", chunk_size)
        self.n_head, self.chunk_size = n_head, chunk_size
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.beta = nn.Linear(n_embd, n_head, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.qkv(x).split(C, dim=2)
        )
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        beta = torch.sigmoid(self.beta(x)).transpose(1, 2)
        y, state = delta_rule_chunked(q, k, v, beta, state, self.chunk_size)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), state
