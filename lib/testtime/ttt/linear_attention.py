"""Linear attention as a fast-weight memory: write ``M += k^T v``, read ``y = q M``.

"Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
(Katharopoulos et al., 2020, arXiv 2006.16236), Eq. 4-6, without the normalizing
denominator: the state ``M_t = g_t M_{t-1} + k_t^T v_t`` (a ``d_k x d_v`` matrix per head) is a
sum of outer products, and the output is ``o_t = q_t M_t``. The optional per-token gate
``g_t in (0, 1]`` gives the decayed / gated variants (RetNet, GLA, Mamba-2 style scalar decay).

Two pure functions compute the same thing:

* :func:`linear_attention_recurrent` - token by token, the definition;
* :func:`linear_attention_chunked` - blockwise, as "lightning attention" in MiniMax-01/M1
  computes it: inside a chunk an ordinary causal ``(Q K^T) V`` product, across chunks the
  state ``M``. Cost ``O(T C d + T d^2)`` instead of ``O(T^2 d)``.

Tensors are ``(B, H, T, d)``; gates ``(B, H, T)``; the state is ``(B, H, d_k, d_v)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.models import register_mixer
from testtime.runtime import check_positive
from testtime.ttt.ttt_layers import LN_EPS


def _initial_state(q: torch.Tensor, v: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
    if state is not None:
        return state
    B, H, _, dk = q.shape
    return q.new_zeros(B, H, dk, v.size(-1))


def linear_attention_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    gate: torch.Tensor | None = None,
    state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_t = g_t M_{t-1} + k_t^T v_t``, ``o_t = q_t M_t``, one token at a time (the reference)."""
    M = _initial_state(q, v, state)
    outs = []
    for t in range(q.size(2)):
        if gate is not None:
            M = gate[:, :, t, None, None] * M
        M = M + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], M))
    return torch.stack(outs, dim=2), M


def linear_attention_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    gate: torch.Tensor | None = None,
    state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same outputs and final state as :func:`linear_attention_recurrent`, chunk by chunk.

    With cumulative log-gates ``G_i = sum_{s<=i} log g_s`` inside a chunk,
    ``o_i = e^{G_i} q_i M_0 + sum_{j<=i} e^{G_i - G_j} (q_i . k_j) v_j`` and
    ``M_C = e^{G_C} M_0 + sum_j e^{G_C - G_j} k_j^T v_j``.
    """
    check_positive("chunk_size", chunk_size)
    M = _initial_state(q, v, state)
    T = q.size(2)
    outs = []
    for s in range(0, T, chunk_size):
        qc, kc, vc = (t[:, :, s : s + chunk_size] for t in (q, k, v))
        C = qc.size(2)
        causal = torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
        scores = qc @ kc.transpose(-1, -2)
        if gate is None:
            o = qc @ M + scores.masked_fill(~causal, 0.0) @ vc
            M = M + kc.transpose(-1, -2) @ vc
        else:
            G = torch.cumsum(torch.log(gate[:, :, s : s + chunk_size]), dim=-1)  # (B, H, C)
            decay = (G[..., :, None] - G[..., None, :]).masked_fill(~causal, float("-inf")).exp()
            o = G.exp()[..., None] * (qc @ M) + (scores * decay) @ vc
            to_end = (G[..., -1:] - G).exp()[..., None]  # e^{G_C - G_j}
            M = G[..., -1].exp()[..., None, None] * M + (kc * to_end).transpose(-1, -2) @ vc
        outs.append(o)
    return torch.cat(outs, dim=2), M


@register_mixer("linear_attention")
class LinearAttention(nn.Module):
    """Multi-head linear attention as a TinyGPT token mixer (state: the fast weights ``M``).

    Queries and keys are L2-normalized per head (as in DeltaNet, so that every write has the
    same size and the memory does not blow up with length); no softmax, no denominator.
    ``gated=True`` adds a data-dependent scalar decay per head, ``g_t = sigmoid(x w_g + b_g)``,
    with ``b_g`` initialized so that ``g`` starts near 0.97 (a memory of ~30 tokens). This is
    the recurrence ``S_t = G_t * S_{t-1} + k_t^T v_t`` of "Gated Linear Attention Transformers
    with Hardware-Efficient Training" (Yang et al., 2023, arXiv 2312.06635) with one scalar
    gate per head instead of GLA's vector ``alpha_t`` over the key dimension.
    ``post_norm=True`` puts a LayerNorm over the heads' concatenated outputs before the output
    projection, the same output norm as TTT-Linear's (``ttt_layers._TTTBase.post_norm``), so the
    two mixers differ only in how the state is written.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        block_size: int = 0,
        gated: bool = False,
        chunk_size: int = 64,
        post_norm: bool = False,
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not valid; it must be divisible by n_head")
        check_positive("chunk_size", chunk_size)
        self.n_head, self.chunk_size, self.gated = n_head, chunk_size, gated
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)
        self.post_norm = nn.LayerNorm(n_embd, eps=LN_EPS) if post_norm else nn.Identity()
        if gated:  # plain parameters, so that TinyGPT's Linear init leaves them alone
            self.gate_w = nn.Parameter(torch.zeros(n_embd, n_head))
            self.gate_b = nn.Parameter(torch.full((n_head,), 3.5))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for t in self.qkv(x).split(C, dim=2)
        )
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        q, k, v = self.heads(x)
        gate = torch.sigmoid(x @ self.gate_w + self.gate_b).transpose(1, 2) if self.gated else None
        y, state = linear_attention_chunked(q, k, v, gate, state, self.chunk_size)
        return self.proj(self.post_norm(y.transpose(1, 2).reshape(B, T, C))), state
