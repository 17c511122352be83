"""Large-chunk test-time training (LaCT): a SwiGLU fast-weight memory updated once per chunk.

"Test-Time Training Done Right" (Zhang et al., 2025, arXiv 2505.23884), the LaCT layer as
the paper describes it and as the official code writes it (github.com/a1600012888/LaCT,
``lact_llm/lact_model/ttt_operation.py``). Per head, the fast weights ``W = (W0, W1, W2)``
define the SwiGLU map

    f_W(x) = W1 (silu(W0 x) * (W2 x))

trained at test time on the negative dot-product loss ``L(k, v) = -v . f_W(k)`` with a
per-token learning rate ``eta_t = softplus(x_t w_lr + b)`` for each of the three matrices:

    g = sum_{t in chunk} eta_t grad_W L(k_t, v_t)
    W <- renorm(W - g)              (or renorm(W - NewtonSchulz(g)): the Muon update)

*Apply then update* over chunks of ``b`` tokens: the outputs of chunk ``c`` are ``f_W(q_t)``
with the weights left by chunks ``< c``, and the chunk's own gradients are all taken at those
same weights, so a chunk costs a handful of big matmuls instead of ``b`` tiny ones. ``renorm``
rescales every row of every matrix back to its norm at the start of the sequence (the paper's
"weight normalization", a post-norm for the state). Optional momentum mixes in the previous
chunk's update with a per-chunk coefficient (the chunk mean of a per-token ``sigmoid``).

Shapes: tokens ``(B, H, T, d)``; fast weights ``W0, W2: (..., d_h, d_in)`` and
``W1: (..., d_out, d_h)`` where ``...`` is ``(H,)`` for the learned initial weights and
``(B, H)`` once updated; learning rates ``(B, H, T, 3)`` (for W0, W1, W2); momentum ``(B, H, T)``.

Where this differs from the official code: the update of a chunk is made as soon as the chunk
is complete (the official loop leaves the last chunk un-updated because nothing follows it),
so a state can be carried to later tokens; Newton-Schulz uses LaCT's five-step schedule of
coefficient triples (``LACT_NS_SCHEDULE``, see ``muon.py``) but in the input's dtype rather
than bfloat16; the mixer keeps TinyGPT's learned absolute positions instead of RoPE on the
fast q/k (the authors note that no positional encoding in the TTT branch also works), gives
the TTT branch its own q/k/v projection (the official layer shares attention's q/k/v with a
per-channel scale/offset) and adds the window-attention and TTT branches after their own output
projections (the official layer sums them before one shared projection).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.models import CausalSelfAttention, register_mixer
from testtime.runtime import check_positive
from testtime.ttt.muon import LACT_NS_SCHEDULE, newton_schulz, newton_schulz_flops

Weights = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (W0, W1, W2)


def swiglu_apply(w: Weights, x: torch.Tensor) -> torch.Tensor:
    """``f_W(x) = W1 (silu(W0 x) * (W2 x))`` on row vectors ``x (..., T, d_in)``."""
    w0, w1, w2 = w
    return (F.silu(x @ w0.mT) * (x @ w2.mT)) @ w1.mT


def swiglu_update(w: Weights, k: torch.Tensor, v: torch.Tensor, lr: torch.Tensor) -> Weights:
    """Minus the learning-rate-weighted gradient of ``sum_t -v_t . f_W(k_t)`` with respect to each
    fast weight, all at the same weights ``w``: the step ``dW`` with ``W <- W + dW``.

    ``k (..., T, d_in)``, ``v (..., T, d_out)``, ``lr (..., T, 3)`` (per token, for W0, W1, W2).
    Backpropagation written out: with ``a = W0 k``, ``u = W2 k``, ``h = silu(a) * u`` and
    ``e = W1^T v`` (the gradient of ``v . f`` with respect to ``h``),
    ``dW1 = sum eta1 v h^T``, ``dW2 = sum eta2 (e * silu(a)) k^T``,
    ``dW0 = sum eta0 (e * u * silu'(a)) k^T``, ``silu'(a) = s (1 + a (1 - s))``, ``s = sigmoid(a)``.
    """
    w0, w1, w2 = w
    return _swiglu_step(k @ w0.mT, k @ w2.mT, w1, k, v, lr)


def _swiglu_step(a: torch.Tensor, u: torch.Tensor, w1: torch.Tensor, k: torch.Tensor,
                 v: torch.Tensor, lr: torch.Tensor) -> Weights:
    """The update of :func:`swiglu_update` from the keys' pre-activations ``a = W0 k`` and
    ``u = W2 k`` (shared with :func:`swiglu_apply_update`, which computes them stacked)."""
    sig = torch.sigmoid(a)
    h = a * sig * u
    e = v @ w1
    da = e * u * sig * (1 + a * (1 - sig))
    du = e * a * sig
    lr0, lr1, lr2 = lr[..., 0:1], lr[..., 1:2], lr[..., 2:3]
    return (da * lr0).mT @ k, (v * lr1).mT @ h, (du * lr2).mT @ k


def swiglu_apply_update(
    w: Weights, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lr: torch.Tensor
) -> tuple[torch.Tensor, Weights]:
    """``swiglu_apply(w, q)`` and ``swiglu_update(w, k, v, lr)`` of one chunk, in fewer matmuls.

    The same arithmetic in the same order (float results are identical), arranged for speed:
    ``W0`` and ``W2`` are stacked so that one matmul gives both ``W0 x`` and ``W2 x``, for the
    queries and then for the keys: seven matmuls instead of nine. :func:`lact_chunked` runs
    every chunk through it (``compiled=True`` also fuses its element-wise work).
    """
    w0, w1, w2 = w
    d_h = w0.size(-2)
    w02 = torch.cat([w0, w2], dim=-2).mT  # (..., d_in, 2 d_h)
    a_q, u_q = (q @ w02).split(d_h, dim=-1)
    out = (F.silu(a_q) * u_q) @ w1.mT
    a, u = (k @ w02).split(d_h, dim=-1)
    return out, _swiglu_step(a, u, w1, k, v, lr)


_COMPILED: dict[str, Callable[..., Any]] = {}


def _maybe_compiled(fn: Callable[..., Any], compiled: bool) -> Callable[..., Any]:
    """``fn`` itself, or (``compiled=True``) its ``torch.compile`` version, built once."""
    if not compiled:
        return fn
    if fn.__name__ not in _COMPILED:
        _COMPILED[fn.__name__] = torch.compile(fn, dynamic=False)
    return _COMPILED[fn.__name__]


def renormalize(w: torch.Tensor, row_norms: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Rescale each row of ``w`` to the given norms (the paper's weight normalization)."""
    return w / (w.norm(dim=-1, keepdim=True) + eps) * row_norms


@dataclass
class LaCTState:
    """What a LaCT layer carries between calls.

    ``weights``: the fast weights after the last *complete* chunk; ``row_norms``: the row norms
    they are renormalized to; ``pending``: the summed update of the tokens of the current,
    incomplete chunk (taken at ``weights``), with ``pending_m`` the sum of their momentum
    coefficients and ``filled`` their number; ``velocity``: the previous chunk's update (momentum).
    """

    weights: Weights
    row_norms: Weights
    pending: Weights | None = None
    pending_m: torch.Tensor | None = None
    filled: int = 0
    velocity: Weights | None = None


def initial_state(w: Weights) -> LaCTState:
    """The state at the start of a sequence, from the (learned) initial fast weights."""
    return LaCTState(weights=w, row_norms=tuple(t.norm(dim=-1, keepdim=True) for t in w))


def commit_chunk(
    state: LaCTState, chunk_size: int, use_muon: bool, momentum: bool
) -> LaCTState:
    """End of a chunk: (momentum), (Muon), ``W + dW``, renormalize rows; clear the pending sums."""
    dw = state.pending
    velocity = state.velocity
    if momentum:
        m = (state.pending_m / chunk_size)[..., None, None]  # chunk mean, one per (B, H)
        if velocity is not None:
            dw = tuple(d + m * p for d, p in zip(dw, velocity))
        velocity = dw
    if use_muon:
        dw = tuple(newton_schulz(d, coefficients=LACT_NS_SCHEDULE) for d in dw)
    weights = tuple(
        renormalize(w + d, n) for w, d, n in zip(state.weights, dw, state.row_norms)
    )
    return LaCTState(weights, state.row_norms, None, None, 0, velocity)


def lact_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: torch.Tensor,
    w: Weights | None = None,
    chunk_size: int = 64,
    *,
    momentum: torch.Tensor | None = None,
    use_muon: bool = False,
    state: LaCTState | None = None,
    compiled: bool = False,
) -> tuple[torch.Tensor, LaCTState]:
    """LaCT over a sequence with apply-then-update chunks; returns outputs ``(B, H, T, d_out)``
    and the state after the last token.

    Give the initial fast weights ``w`` at the start of a sequence, or the ``state`` returned by
    an earlier call to continue it (chunk boundaries stay at multiples of ``chunk_size`` from
    the start, so feeding a sequence in pieces gives the same outputs as one call).
    ``momentum (B, H, T)`` in [0, 1] turns momentum on (keep giving it on every call).
    ``compiled=True`` runs each chunk's work through ``torch.compile`` (same math, fused
    element-wise kernels: for speed on a GPU; the first call of each shape compiles).
    """
    check_positive("chunk_size", chunk_size)
    if not isinstance(chunk_size, int):
        raise ValueError(f"chunk_size={chunk_size!r} is not valid; expected an int >= 1")
    if (w is None) == (state is None):
        raise ValueError("give exactly one of w (start a sequence) and state (continue one)")
    if lr.shape[:-1] != k.shape[:-1] or lr.size(-1) != 3:
        raise ValueError(f"lr of shape {tuple(lr.shape)} is not valid; expected (B, H, T, 3)")
    state = initial_state(w) if state is None else state
    use_momentum = momentum is not None
    apply_update = _maybe_compiled(swiglu_apply_update, compiled)
    commit = _maybe_compiled(commit_chunk, compiled)
    outputs = []
    T, start = k.size(-2), 0
    while start < T:
        end = min(T, start + chunk_size - state.filled)
        out, dw = apply_update(state.weights, q[..., start:end, :], k[..., start:end, :],
                               v[..., start:end, :], lr[..., start:end, :])
        outputs.append(out)  # apply (the readout at the weights before this chunk) ...
        if state.pending is not None:
            dw = tuple(p + d for p, d in zip(state.pending, dw))
        m = momentum[..., start:end].sum(-1) if use_momentum else None
        if use_momentum and state.pending_m is not None:
            m = m + state.pending_m
        state = LaCTState(state.weights, state.row_norms, dw, m,
                          state.filled + end - start, state.velocity)
        if state.filled == chunk_size:  # ... then update, once the chunk is complete
            state = commit(state, chunk_size, use_muon, use_momentum)
        start = end
    return torch.cat(outputs, dim=-2), state


def lact_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: torch.Tensor,
    w: Weights,
    chunk_size: int,
    *,
    momentum: torch.Tensor | None = None,
    use_muon: bool = False,
) -> torch.Tensor:
    """The same computation one token at a time, gradients by autograd (the test reference).

    Token ``t`` is read out with the weights after chunk ``floor(t / b) - 1``; its gradient is
    taken at those weights and added to the chunk's sum; at the end of a chunk the sum
    (with momentum and Muon) is applied and every row renormalized.
    """
    batch = k.shape[:-2]
    weights = tuple(t.detach().expand(*batch, *t.shape[-2:]) for t in w)
    norms = tuple(t.norm(dim=-1, keepdim=True) for t in weights)
    total, velocity, m_sum, outputs = None, None, 0.0, []
    for t in range(k.size(-2)):
        outputs.append(swiglu_apply(weights, q[..., t : t + 1, :]))
        leaves = tuple(x.clone().requires_grad_(True) for x in weights)
        with torch.enable_grad():
            fit = (v[..., t : t + 1, :] * swiglu_apply(leaves, k[..., t : t + 1, :])).sum()
            grads = torch.autograd.grad(fit, leaves)  # gradient of +v.f = minus that of the loss
        # per-example (b, h) gradients: the sum over (b, h) separates, each weight slice is its own
        step = tuple(lr[..., t, i, None, None] * g for i, g in enumerate(grads))
        total = step if total is None else tuple(s + d for s, d in zip(total, step))
        if momentum is not None:
            m_sum = m_sum + momentum[..., t]
        if (t + 1) % chunk_size == 0:
            if momentum is not None:
                m = (m_sum / chunk_size)[..., None, None]
                total = total if velocity is None else tuple(
                    d + m * p for d, p in zip(total, velocity))
                velocity, m_sum = total, 0.0
            if use_muon:
                total = tuple(newton_schulz(d, coefficients=LACT_NS_SCHEDULE) for d in total)
            weights = tuple(renormalize(x + d, n) for x, d, n in zip(weights, total, norms))
            total = None
    return torch.cat(outputs, dim=-2)


def lact_flops(
    tokens: int,
    d_in: int,
    d_hidden: int,
    d_out: int | None = None,
    *,
    chunk_size: int | None = None,
    use_muon: bool = False,
) -> int:
    """Matmul FLOPs of :func:`lact_chunked` for ``tokens`` tokens of one head (multiply by B*H).

    Per token: apply on the query ``2 (2 d_h d_in + d_out d_h)``, forward on the key
    ``4 d_h d_in``, backward ``e = W1^T v`` and ``dW1`` (``4 d_out d_h``), ``dW0`` and ``dW2``
    (``4 d_h d_in``): ``12 d_h d_in + 6 d_out d_h`` (= 18 D H with d_in = d_out = D, the count in
    the official code). Muon adds three Newton-Schulz runs per complete chunk. Element-wise
    work (silu, products, renormalization) is not counted.
    """
    d_out = d_in if d_out is None else d_out
    for name, value in (("tokens", tokens), ("d_in", d_in), ("d_hidden", d_hidden),
                        ("d_out", d_out)):
        check_positive(name, value)
    flops = tokens * (12 * d_hidden * d_in + 6 * d_out * d_hidden)
    if use_muon:
        if chunk_size is None:
            raise ValueError("chunk_size=None is not valid with use_muon=True; give the chunk size")
        chunks = tokens // chunk_size
        flops += chunks * (2 * newton_schulz_flops(d_hidden, d_in)
                           + newton_schulz_flops(d_out, d_hidden))
    return flops


def inv_softplus(y: float) -> float:
    """The ``x`` with ``softplus(x) = y`` (to start the learning rates at ``base_lr``)."""
    check_positive("y", y)
    return y + math.log(-math.expm1(-y))


@register_mixer("lact")
class LaCTMixer(nn.Module):
    """LaCT as a TinyGPT token mixer: sliding-window softmax attention (local structure inside a
    chunk) plus a SwiGLU fast-weight branch (memory across chunks), summed.

    ``window=0`` drops the attention branch. Defaults follow the official LLM config where it
    fits a tiny model: ``inter_multi=1``, momentum on, learned per-head output scale, per-head
    RMSNorm on the TTT output, ``silu`` on q/k/v then L2-normalized q/k, ``base_lr=1e-3``.
    The official default chunk (2048) and window (2048) are far larger than our contexts; here
    ``chunk_size=64``, ``window=64``. Muon is off by default in the official LLM config too.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        block_size: int = 0,
        chunk_size: int = 64,
        window: int = 64,
        n_fw_head: int | None = None,
        inter_multi: float = 1.0,
        use_muon: bool = False,
        use_momentum: bool = True,
        base_lr: float = 1e-3,
    ) -> None:
        super().__init__()
        n_fw_head = n_head if n_fw_head is None else n_fw_head
        check_positive("chunk_size", chunk_size)
        check_positive("window", window, allow_zero=True)
        check_positive("n_fw_head", n_fw_head)
        check_positive("inter_multi", inter_multi)
        check_positive("base_lr", base_lr)
        if n_embd % n_fw_head:
            raise ValueError(f"n_fw_head={n_fw_head} is not valid; it must divide n_embd={n_embd}")
        self.chunk_size, self.use_muon, self.use_momentum = chunk_size, use_muon, use_momentum
        self.n_fw_head, self.base_lr_inv = n_fw_head, inv_softplus(base_lr)
        self.attn = (
            CausalSelfAttention(n_embd, n_head, block_size, window=window) if window else None
        )
        d = n_embd // n_fw_head
        d_h = int(d * inter_multi)
        self.to_qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.lr_proj = nn.Linear(n_embd, 3 * n_fw_head)
        self.momentum_proj = nn.Linear(n_embd, n_fw_head) if use_momentum else None
        self.scale_proj = nn.Linear(n_embd, n_fw_head)
        self.w0 = nn.Parameter(torch.randn(n_fw_head, d_h, d) / math.sqrt(d))
        self.w1 = nn.Parameter(torch.randn(n_fw_head, d, d_h) / math.sqrt(d_h))
        self.w2 = nn.Parameter(torch.randn(n_fw_head, d_h, d) / math.sqrt(d))
        self.out_norm = nn.RMSNorm(d, eps=1e-5)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)

    def fast_inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Per head: ``q, k, v (B, H, T, d)``, rates ``(B, H, T, 3)``, momentum ``(B, H, T)``."""
        B, T, C = x.shape
        H = self.n_fw_head
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2)
                   for t in F.silu(self.to_qkv(x)).split(C, dim=2))
        lr = F.softplus(self.lr_proj(x).float() + self.base_lr_inv)
        lr = lr.view(B, T, H, 3).transpose(1, 2)
        mom = torch.sigmoid(self.momentum_proj(x)).transpose(1, 2) if self.use_momentum else None
        return {"q": F.normalize(q, dim=-1), "k": F.normalize(k, dim=-1), "v": v, "lr": lr,
                "momentum": mom}

    def forward(
        self, x: torch.Tensor, state: tuple | None = None
    ) -> tuple[torch.Tensor, tuple]:
        B, T, C = x.shape
        attn_state, fw_state = (None, None) if state is None else state
        inputs = self.fast_inputs(x)
        o, fw_state = lact_chunked(
            inputs["q"], inputs["k"], inputs["v"], inputs["lr"],
            None if fw_state is not None else (self.w0, self.w1, self.w2),
            self.chunk_size, momentum=inputs["momentum"], use_muon=self.use_muon,
            state=fw_state,
        )
        scale = F.silu(self.scale_proj(x)).transpose(1, 2)[..., None]  # (B, H, T, 1)
        o = (self.out_norm(o) * scale).transpose(1, 2).reshape(B, T, C)
        y = self.proj(o)
        if self.attn is not None:
            h, attn_state = self.attn(x, attn_state)
            y = y + h
        return y, (attn_state, fw_state)
