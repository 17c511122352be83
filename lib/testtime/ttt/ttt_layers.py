"""TTT-Linear and TTT-MLP: a sequence layer whose hidden state is a model trained at test time.

"Learning to (Learn at Test Time): RNNs with Expressive Hidden States" (Sun et al. 2024,
arXiv 2407.04620). Per head, the hidden state is the weights ``theta`` of an inner model
``f(x) = x + LN(g(x; theta))`` (Sec. 2.7; ``g`` linear for TTT-Linear, a 2-layer GELU MLP with
hidden width ``4d`` for TTT-MLP). Each token takes a gradient step on the self-supervised
reconstruction loss of projected views (Eq. 4, with ``k = theta_K x``, ``v = theta_V x``)

    l(theta; x_t) = 1/2 || f(k_t; theta) - v_t ||^2,

and the output is ``f(q_t; theta_t)`` with ``q = theta_Q x`` (update, then apply). Mini-batch TTT
(Sec. 2.4, Eq. 7) takes all gradients of a mini-batch of ``b`` tokens at the weights the
mini-batch started from, ``theta_0``; token ``p`` of the mini-batch sees

    theta_p = theta_0 - s_p G_p,   G_p = sum_{j <= p} eta_j grad l(theta_0; x_j),

with a per-token learning rate ``eta_j = base_lr * sigmoid(x_j . w_lr + b_lr) / d``
(Sec. 2.7) and ``s_p = 1/(p+1)`` when ``mean_grad`` (the official code scales the sum of the
``p+1`` gradients to their mean; ``mean_grad=False`` is the paper's plain Eq. 7).

Two forms compute exactly the same thing:

* the **primal** form (:func:`ttt_linear_primal`, :func:`ttt_mlp_primal`) walks the tokens one
  by one and materializes ``theta_p`` for every token - the definition;
* the **dual** form (:func:`ttt_linear_dual`, :func:`ttt_mlp_dual`, Sec. 2.5) never builds
  ``theta_p``: for a linear layer (bias left out)
  ``q_i theta_p = q_i theta_0 - s_i sum_{j<=i} eta_j (q_i . k_j) g_j``, with ``g_j`` the gradient
  of the loss at the output ``k_j theta_0``: one masked ``b x b`` matmul per mini-batch.

Defaults follow the official ``ttt-lm-pytorch`` code: ``b = 16``, ``base_lr = 1``, the LN
inside ``f`` with learnable per-head scale and shift (eps 1e-6), initial weights
``N(0, 0.02)`` and zero biases, tanh-GELU, a LayerNorm on the output before ``o_proj``.
Differences: no RoPE on ``q, k``, no causal convolution, no output gate, and the learnable
offset of the ``1/(p+1)`` token scale is fixed at zero. A mini-batch may be split across calls:
the state carries ``theta_0``, the gradient sums ``G`` and the position ``n`` in the mini-batch.

Tensors are ``(B, H, T, d)``; ``eta`` is ``(B, H, T)``; LN parameters are ``(H, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from testtime.models import register_mixer
from testtime.runtime import check_choice, check_positive

LN_EPS = 1e-6
_C = math.sqrt(2.0 / math.pi)


@dataclass
class TTTState:
    """What a TTT layer carries between calls.

    ``params``: the inner weights at the start of the current mini-batch, each ``(B, H, ...)``;
    ``grads``: the learning-rate-weighted gradient sums ``G`` of the tokens already seen in that
    mini-batch; ``n``: how many tokens that is (0 <= n < mini_batch).
    """

    params: tuple[torch.Tensor, ...]
    grads: tuple[torch.Tensor, ...]
    n: int = 0

    @classmethod
    def start(cls, params: tuple[torch.Tensor, ...]) -> TTTState:
        return cls(tuple(params), tuple(torch.zeros_like(p) for p in params), 0)


def layer_norm(z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the last dim with per-head ``weight, bias`` of shape ``(H, d)``."""
    mu = z.mean(-1, keepdim=True)
    var = z.var(-1, keepdim=True, unbiased=False)
    return weight[:, None] * (z - mu) / torch.sqrt(var + LN_EPS) + bias[:, None]


def ln_l2_grad(
    z: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Gradient w.r.t. ``z`` of ``1/2 ||LN(z) - target||^2`` (LayerNorm backward written out)."""
    d = z.size(-1)
    mu = z.mean(-1, keepdim=True)
    std = torch.sqrt(z.var(-1, keepdim=True, unbiased=False) + LN_EPS)
    z_hat = (z - mu) / std
    g_hat = (weight[:, None] * z_hat + bias[:, None] - target) * weight[:, None]
    return (
        d * g_hat - g_hat.sum(-1, keepdim=True) - z_hat * (g_hat * z_hat).sum(-1, keepdim=True)
    ) / (d * std)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (as in the official TTT code)."""
    return F.gelu(x, approximate="tanh")


def gelu_grad(x: torch.Tensor) -> torch.Tensor:
    """Derivative of :func:`gelu`."""
    t = torch.tanh(_C * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _C * (1 + 3 * 0.044715 * x * x)


def _scales(n: int, m: int, mean_grad: bool, like: torch.Tensor) -> torch.Tensor:
    """``s_p`` for the in-mini-batch positions ``n .. n+m-1``, shape ``(m, 1)``."""
    p = torch.arange(n, n + m, dtype=like.dtype, device=like.device)
    return (1.0 / (p + 1) if mean_grad else torch.ones_like(p))[:, None]


def _segments(T: int, n: int, b: int) -> list[tuple[int, int]]:
    """Split ``T`` new tokens into pieces that end on mini-batch boundaries, given ``n`` carried."""
    out, s = [], 0
    while s < T:
        e = min(T, s + b - n)
        out.append((s, e))
        s, n = e, 0
    return out


def _check(mini_batch: int, state: TTTState) -> None:
    check_positive("mini_batch", mini_batch)
    if not 0 <= state.n < mini_batch:
        raise ValueError(f"state.n={state.n} is not valid; expected 0 <= n < mini_batch")


def _close_mini_batch(state: TTTState, b: int, mean_grad: bool) -> TTTState:
    """At the end of a mini-batch: ``theta_0 <- theta_0 - s_{b-1} G``, ``G <- 0``."""
    if state.n < b:
        return state
    s = 1.0 / b if mean_grad else 1.0
    return TTTState.start(tuple(p - s * g for p, g in zip(state.params, state.grads)))


def inner_learning_rate(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, base_lr: float, head_dim: int
) -> torch.Tensor:
    """Per-token, per-head inner learning rate ``eta = base_lr * sigmoid(x w + b) / d`` (Sec. 2.7).

    ``x (B, T, C)``, ``weight (C, H)``, ``bias (H,)`` -> ``(B, H, T)``. The ``1 / d`` is the
    official code's scaling by the head dimension.
    """
    return (base_lr * torch.sigmoid(x @ weight + bias) / head_dim).transpose(1, 2)


# ----------------------------------------------------------------------------- TTT-Linear
def ttt_linear_dual(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    eta: torch.Tensor,
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    state: TTTState,
    mini_batch: int = 16,
    mean_grad: bool = True,
) -> tuple[torch.Tensor, TTTState]:
    """TTT-Linear, dual form. ``state.params = (W (B,H,d,d), b (B,H,1,d))``, ``g(x) = x W + b``.

    Returns the inner model's outputs ``f(q_t; theta_t)`` ``(B, H, T, d)`` and the new state.
    """
    _check(mini_batch, state)
    outs = []
    for s, e in _segments(q.size(2), state.n, mini_batch):
        (W, b), (GW, Gb), n = state.params, state.grads, state.n
        qc, kc, vc, lr = q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], eta[:, :, s:e, None]
        g = ln_l2_grad(kc @ W + b, vc - kc, ln_weight, ln_bias)  # dl/dz at theta_0, (B,H,m,d)
        sc = _scales(n, e - s, mean_grad, q)
        attn = (qc @ kc.transpose(-1, -2) + 1.0).tril()  # q_i . k_j + 1 (the 1 is the bias)
        z = qc @ W + b - sc * (qc @ GW + Gb + attn @ (lr * g))
        outs.append(qc + layer_norm(z, ln_weight, ln_bias))
        grads = (GW + kc.transpose(-1, -2) @ (lr * g), Gb + (lr * g).sum(2, keepdim=True))
        state = _close_mini_batch(TTTState((W, b), grads, n + e - s), mini_batch, mean_grad)
    return torch.cat(outs, dim=2), state


def ttt_linear_primal(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    eta: torch.Tensor,
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    state: TTTState,
    mini_batch: int = 16,
    mean_grad: bool = True,
) -> tuple[torch.Tensor, TTTState]:
    """TTT-Linear, primal form: token by token, building ``W_t = W_0 - s_p G_p`` explicitly."""
    _check(mini_batch, state)
    outs = []
    for t in range(q.size(2)):
        (W, b), (GW, Gb), n = state.params, state.grads, state.n
        qt, kt, vt = (x[:, :, t : t + 1] for x in (q, k, v))
        lr = eta[:, :, t, None, None]
        g = ln_l2_grad(kt @ W + b, vt - kt, ln_weight, ln_bias)  # gradient at the mini-batch start
        GW, Gb = GW + lr * kt.transpose(-1, -2) @ g, Gb + lr * g
        s = 1.0 / (n + 1) if mean_grad else 1.0
        W_t, b_t = W - s * GW, b - s * Gb
        outs.append(qt + layer_norm(qt @ W_t + b_t, ln_weight, ln_bias))
        state = _close_mini_batch(TTTState((W, b), (GW, Gb), n + 1), mini_batch, mean_grad)
    return torch.cat(outs, dim=2), state


# ----------------------------------------------------------------------------- TTT-MLP
def ttt_mlp_dual(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    eta: torch.Tensor,
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    state: TTTState,
    mini_batch: int = 16,
    mean_grad: bool = True,
) -> tuple[torch.Tensor, TTTState]:
    """TTT-MLP, dual form. ``state.params = (W1, b1, W2, b2)``, ``g(x) = gelu(x W1 + b1) W2 + b2``.

    Both layers use the dual trick; the second layer's "keys" are the hidden activations
    ``gelu(k W1 + b1)`` at ``theta_0``, its queries those of the updated first layer.
    """
    _check(mini_batch, state)
    outs = []
    for s, e in _segments(q.size(2), state.n, mini_batch):
        (W1, b1, W2, b2), (GW1, Gb1, GW2, Gb2), n = state.params, state.grads, state.n
        qc, kc, vc, lr = q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], eta[:, :, s:e, None]
        z1 = kc @ W1 + b1
        h = gelu(z1)
        g2 = ln_l2_grad(h @ W2 + b2, vc - kc, ln_weight, ln_bias)
        g1 = (g2 @ W2.transpose(-1, -2)) * gelu_grad(z1)
        sc = _scales(n, e - s, mean_grad, q)
        attn1 = (qc @ kc.transpose(-1, -2) + 1.0).tril()
        hq = gelu(qc @ W1 + b1 - sc * (qc @ GW1 + Gb1 + attn1 @ (lr * g1)))
        attn2 = (hq @ h.transpose(-1, -2) + 1.0).tril()
        z2 = hq @ W2 + b2 - sc * (hq @ GW2 + Gb2 + attn2 @ (lr * g2))
        outs.append(qc + layer_norm(z2, ln_weight, ln_bias))
        grads = (
            GW1 + kc.transpose(-1, -2) @ (lr * g1),
            Gb1 + (lr * g1).sum(2, keepdim=True),
            GW2 + h.transpose(-1, -2) @ (lr * g2),
            Gb2 + (lr * g2).sum(2, keepdim=True),
        )
        state = _close_mini_batch(TTTState(state.params, grads, n + e - s), mini_batch, mean_grad)
    return torch.cat(outs, dim=2), state


def ttt_mlp_primal(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    eta: torch.Tensor,
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    state: TTTState,
    mini_batch: int = 16,
    mean_grad: bool = True,
) -> tuple[torch.Tensor, TTTState]:
    """TTT-MLP, primal form: token by token with explicit weights ``theta_t``."""
    _check(mini_batch, state)
    outs = []
    for t in range(q.size(2)):
        (W1, b1, W2, b2), G, n = state.params, state.grads, state.n
        qt, kt, vt = (x[:, :, t : t + 1] for x in (q, k, v))
        lr = eta[:, :, t, None, None]
        z1 = kt @ W1 + b1
        h = gelu(z1)
        g2 = ln_l2_grad(h @ W2 + b2, vt - kt, ln_weight, ln_bias)
        g1 = (g2 @ W2.transpose(-1, -2)) * gelu_grad(z1)
        step = (kt.transpose(-1, -2) @ g1, g1, h.transpose(-1, -2) @ g2, g2)
        G = tuple(acc + lr * dg for acc, dg in zip(G, step))
        s = 1.0 / (n + 1) if mean_grad else 1.0
        V1, c1, V2, c2 = (p - s * acc for p, acc in zip(state.params, G))
        outs.append(qt + layer_norm(gelu(qt @ V1 + c1) @ V2 + c2, ln_weight, ln_bias))
        state = _close_mini_batch(TTTState(state.params, G, n + 1), mini_batch, mean_grad)
    return torch.cat(outs, dim=2), state


# ----------------------------------------------------------------------------- mixers
class _TTTBase(nn.Module):
    """Projections, learnable inner learning rate, inner LN and output norm shared by both."""

    primal = staticmethod(ttt_linear_primal)
    dual = staticmethod(ttt_linear_dual)

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        block_size: int = 0,
        mini_batch: int = 16,
        base_lr: float = 1.0,
        mean_grad: bool = True,
        form: str = "dual",
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not valid; it must be divisible by n_head")
        check_positive("mini_batch", mini_batch)
        check_positive("base_lr", base_lr)
        self.form = check_choice("form", form, ("dual", "primal"))
        self.n_head, self.d = n_head, n_embd // n_head
        self.mini_batch, self.base_lr, self.mean_grad = mini_batch, base_lr, mean_grad
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.o_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.post_norm = nn.LayerNorm(n_embd, eps=LN_EPS)
        self.lr_weight = nn.Parameter(torch.randn(n_embd, n_head) * 0.02)
        self.lr_bias = nn.Parameter(torch.zeros(n_head))
        self.ln_weight = nn.Parameter(torch.ones(n_head, self.d))
        self.ln_bias = nn.Parameter(torch.zeros(n_head, self.d))

    def initial_params(self, batch: int) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, state: TTTState | None = None
    ) -> tuple[torch.Tensor, TTTState]:
        B, T, C = x.shape
        q, k, v = (
            t.view(B, T, self.n_head, self.d).transpose(1, 2) for t in self.qkv(x).split(C, dim=2)
        )
        eta = inner_learning_rate(x, self.lr_weight, self.lr_bias, self.base_lr, self.d)
        if state is None:
            state = TTTState.start(self.initial_params(B))
        fn = self.dual if self.form == "dual" else self.primal
        z, state = fn(
            q, k, v, eta, self.ln_weight, self.ln_bias, state,
            self.mini_batch, self.mean_grad,
        )
        return self.o_proj(self.post_norm(z.transpose(1, 2).reshape(B, T, C))), state


@register_mixer("ttt_linear")
class TTTLinear(_TTTBase):
    """TTT-Linear token mixer: inner model ``f(x) = x + LN(x W + b)`` per head."""

    primal = staticmethod(ttt_linear_primal)
    dual = staticmethod(ttt_linear_dual)

    def __init__(self, n_embd: int, n_head: int, block_size: int = 0, **kwargs) -> None:
        super().__init__(n_embd, n_head, block_size, **kwargs)
        self.W = nn.Parameter(torch.randn(n_head, self.d, self.d) * 0.02)
        self.b = nn.Parameter(torch.zeros(n_head, 1, self.d))

    def initial_params(self, batch: int) -> tuple[torch.Tensor, ...]:
        return tuple(p.expand(batch, *p.shape) for p in (self.W, self.b))


@register_mixer("ttt_mlp")
class TTTMLP(_TTTBase):
    """TTT-MLP token mixer: inner model ``f(x) = x + LN(gelu(x W1 + b1) W2 + b2)``, width 4d."""

    primal = staticmethod(ttt_mlp_primal)
    dual = staticmethod(ttt_mlp_dual)

    def __init__(self, n_embd: int, n_head: int, block_size: int = 0, **kwargs) -> None:
        super().__init__(n_embd, n_head, block_size, **kwargs)
        d = self.d
        self.W1 = nn.Parameter(torch.randn(n_head, d, 4 * d) * 0.02)
        self.b1 = nn.Parameter(torch.zeros(n_head, 1, 4 * d))
        self.W2 = nn.Parameter(torch.randn(n_head, 4 * d, d) * 0.02)
        self.b2 = nn.Parameter(torch.zeros(n_head, 1, d))

    def initial_params(self, batch: int) -> tuple[torch.Tensor, ...]:
        return tuple(p.expand(batch, *p.shape) for p in (self.W1, self.b1, self.W2, self.b2))
