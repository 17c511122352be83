"""TTT-Linear / TTT-MLP: the hand-written gradients, dual == primal in float64, both equal an
autograd reference of mini-batch TTT, and the mixers are causal and streamable."""

import pytest
import torch
import torch.nn.functional as F

from testtime.models import GPTConfig, TinyGPT, get_mixer
from testtime.ttt import TTTState, ttt_linear_dual, ttt_linear_primal, ttt_mlp_dual, ttt_mlp_primal
from testtime.ttt.ttt_layers import gelu_grad, layer_norm, ln_l2_grad

D64 = torch.float64
B, H, d = 2, 3, 6


def inputs(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, d, generator=g, dtype=D64) for _ in range(3))
    eta = torch.rand(B, H, T, generator=g, dtype=D64)
    lnw = 1 + 0.3 * torch.randn(H, d, generator=g, dtype=D64)
    lnb = 0.3 * torch.randn(H, d, generator=g, dtype=D64)
    return q, k, v, eta, lnw, lnb


def params(kind, seed=1):
    g = torch.Generator().manual_seed(seed)
    shapes = [(d, d), (1, d)] if kind == "linear" else [(d, 4 * d), (1, 4 * d), (4 * d, d), (1, d)]
    return tuple(0.3 * torch.randn(B, H, *s, generator=g, dtype=D64) for s in shapes)


def g_inner(kind, p, x):
    if kind == "linear":
        return x @ p[0] + p[1]
    return F.gelu(x @ p[0] + p[1], approximate="tanh") @ p[2] + p[3]


def autograd_reference(kind, q, k, v, eta, lnw, lnb, b, mean_grad):
    """Mini-batch TTT from its definition: gradients by autograd at the mini-batch start."""
    theta, outs = params(kind), []
    for s in range(0, q.size(2), b):
        th0 = tuple(t.detach().requires_grad_(True) for t in theta)
        for p in range(min(b, q.size(2) - s)):
            j = slice(s, s + p + 1)
            f_k = k[:, :, j] + layer_norm(g_inner(kind, th0, k[:, :, j]), lnw, lnb)
            loss = (0.5 * eta[:, :, j, None] * (f_k - v[:, :, j]) ** 2).sum()
            grads = torch.autograd.grad(loss, th0)
            scale = 1.0 / (p + 1) if mean_grad else 1.0
            th = tuple(t - scale * gr for t, gr in zip(th0, grads))
            qt = q[:, :, s + p : s + p + 1]
            outs.append((qt + layer_norm(g_inner(kind, th, qt), lnw, lnb)).detach())
        theta = tuple(t.detach() for t in th)
    return torch.cat(outs, dim=2)


FORMS = {"linear": (ttt_linear_primal, ttt_linear_dual), "mlp": (ttt_mlp_primal, ttt_mlp_dual)}


def test_layernorm_l2_gradient_matches_autograd():
    _, _, v, _, lnw, lnb = inputs(5)
    z = torch.randn(B, H, 5, d, dtype=D64, requires_grad=True)
    loss = 0.5 * ((layer_norm(z, lnw, lnb) - v) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, z)
    torch.testing.assert_close(ln_l2_grad(z.detach(), v, lnw, lnb), grad)
    x = torch.linspace(-5, 5, 101, dtype=D64, requires_grad=True)
    (gx,) = torch.autograd.grad(F.gelu(x, approximate="tanh").sum(), x)
    torch.testing.assert_close(gelu_grad(x.detach()), gx)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("mean_grad", [True, False])
def test_dual_equals_primal_equals_autograd_reference(kind, mean_grad):
    T, b = 37, 8  # four full mini-batches and a partial one
    q, k, v, eta, lnw, lnb = inputs(T)
    primal, dual = FORMS[kind]
    zp, sp = primal(q, k, v, eta, lnw, lnb, TTTState.start(params(kind)), b, mean_grad)
    zd, sd = dual(q, k, v, eta, lnw, lnb, TTTState.start(params(kind)), b, mean_grad)
    assert zd.shape == (B, H, T, d) and sp.n == sd.n == T % b
    assert (zd - zp).abs().max().item() <= 1e-8
    for a, c in zip(sp.params + sp.grads, sd.params + sd.grads):
        assert (a - c).abs().max().item() <= 1e-8
    ref = autograd_reference(kind, q, k, v, eta, lnw, lnb, b, mean_grad)
    torch.testing.assert_close(zd, ref, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_state_carries_a_partial_mini_batch(kind):
    q, k, v, eta, lnw, lnb = inputs(40)
    _, dual = FORMS[kind]
    full, s_full = dual(q, k, v, eta, lnw, lnb, TTTState.start(params(kind)), 16)
    state, pieces = TTTState.start(params(kind)), []
    for s, e in [(0, 5), (5, 6), (6, 23), (23, 40)]:
        piece = (t[:, :, s:e] for t in (q, k, v, eta))
        out, state = dual(*piece, lnw, lnb, state, 16)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, 2), full, atol=1e-12, rtol=1e-12)
    assert state.n == s_full.n == 8


def test_mini_batch_of_one_is_online_gradient_descent():
    q, k, v, eta, lnw, lnb = inputs(12)
    z1, _ = ttt_linear_dual(q, k, v, eta, lnw, lnb, TTTState.start(params("linear")), 1)
    W, b = params("linear")
    for t in range(12):
        kt, vt, qt = k[:, :, t : t + 1], v[:, :, t : t + 1], q[:, :, t : t + 1]
        g = ln_l2_grad(kt @ W + b, vt - kt, lnw, lnb) * eta[:, :, t, None, None]
        W, b = W - kt.transpose(-1, -2) @ g, b - g
        torch.testing.assert_close(z1[:, :, t : t + 1], qt + layer_norm(qt @ W + b, lnw, lnb))
    z16, _ = ttt_linear_dual(q, k, v, eta, lnw, lnb, TTTState.start(params("linear")), 16)
    assert not torch.allclose(z1, z16)  # the mini-batch size matters


@pytest.mark.parametrize("name", ["ttt_linear", "ttt_mlp"])
def test_mixer_is_causal_streams_and_forms_agree(name):
    torch.manual_seed(0)
    mixer = get_mixer(name)(n_embd=24, n_head=2, block_size=64, mini_batch=8).double()
    x = torch.randn(2, 29, 24, dtype=D64)
    y, _ = mixer(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 13:] += 1.0  # token 13 sits inside the second mini-batch
    y2, _ = mixer(x2)
    torch.testing.assert_close(y[:, :13], y2[:, :13])
    assert not torch.allclose(y[:, 13:], y2[:, 13:])
    pieces, state = [], None
    for s, e in [(0, 3), (3, 4), (4, 19), (19, 29)]:
        out, state = mixer(x[:, s:e], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, 1), y, atol=1e-10, rtol=1e-10)
    mixer.form = "primal"
    torch.testing.assert_close(mixer(x)[0], y, atol=1e-10, rtol=1e-10)


def test_outer_parameters_get_gradients_through_the_inner_loop():
    torch.manual_seed(0)
    mixer = get_mixer("ttt_linear")(n_embd=16, n_head=2, mini_batch=4)
    y, _ = mixer(torch.randn(2, 10, 16))
    y.pow(2).sum().backward()
    for name in ("W", "b", "lr_weight", "ln_weight", "ln_bias"):
        grad = getattr(mixer, name).grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", ["ttt_linear", "ttt_mlp"])
def test_tinygpt_cached_decoding_equals_full(name):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=11, block_size=40, n_layer=2, n_head=2, n_embd=16, mixer=name,
                    mixer_kwargs={"mini_batch": 4})
    model = TinyGPT(cfg).eval()
    x = torch.randint(0, 11, (2, 30), generator=torch.Generator().manual_seed(1))
    full, _ = model(x)
    logits, state = model.step(x[:, :7])
    pieces = [logits]
    for t in range(7, 30):
        logits, state = model.step(x[:, t : t + 1], state)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-4)


def test_bad_arguments_raise():
    q, k, v, eta, lnw, lnb = inputs(4)
    with pytest.raises(ValueError, match="mini_batch"):
        ttt_linear_dual(q, k, v, eta, lnw, lnb, TTTState.start(params("linear")), 0)
    with pytest.raises(ValueError, match="state.n"):
        ttt_linear_dual(q, k, v, eta, lnw, lnb, TTTState(params("linear"), params("linear"), 5), 4)
    with pytest.raises(ValueError, match="form"):
        get_mixer("ttt_linear")(n_embd=16, n_head=2, form="fast")
