"""LaCT: the closed-form fast-weight gradient, chunked == token-by-token reference with the same
chunk semantics, carried state == one pass, causality, the mixer's cached decoding, FLOPs."""

import pytest
import torch
import torch.nn.functional as F

from testtime.models import MIXERS, GPTConfig, TinyGPT
from testtime.ttt.lact import (
    LaCTMixer,
    inv_softplus,
    lact_chunked,
    lact_flops,
    lact_reference,
    renormalize,
    swiglu_apply,
    swiglu_update,
)

B, H, D, DH = 2, 3, 8, 12


def _inputs(T, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, D, generator=g, dtype=dtype) for _ in range(3))
    lr = 0.2 * torch.rand(B, H, T, 3, generator=g, dtype=dtype)
    mom = torch.rand(B, H, T, generator=g, dtype=dtype)
    w = (
        torch.randn(H, DH, D, generator=g, dtype=dtype) / D**0.5,
        torch.randn(H, D, DH, generator=g, dtype=dtype) / DH**0.5,
        torch.randn(H, DH, D, generator=g, dtype=dtype) / D**0.5,
    )
    return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v, lr, mom, w


def test_update_is_minus_the_lr_weighted_gradient():
    q, k, v, lr, _, w = _inputs(7)
    w = tuple(t.expand(B, H, *t.shape[-2:]).clone().requires_grad_(True) for t in w)
    dw = swiglu_update(w, k, v, lr)
    for i in range(3):  # one learning rate per weight: differentiate each weighted loss alone
        loss = -(lr[..., i : i + 1] * v * swiglu_apply(w, k)).sum()
        (grad,) = torch.autograd.grad(loss, w[i])
        torch.testing.assert_close(dw[i], -grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 5, 8, 64])
@pytest.mark.parametrize("use_muon", [False, True])
@pytest.mark.parametrize("with_momentum", [False, True])
def test_chunked_equals_token_by_token_reference(chunk, use_muon, with_momentum):
    q, k, v, lr, mom, w = _inputs(29, seed=chunk)
    mom = mom if with_momentum else None
    out, _ = lact_chunked(q, k, v, lr, w, chunk, momentum=mom, use_muon=use_muon)
    ref = lact_reference(q, k, v, lr, w, chunk, momentum=mom, use_muon=use_muon)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)


def test_reference_is_not_trivially_equal():
    """The chunk size matters, so the equality above is not vacuous."""
    q, k, v, lr, _, w = _inputs(29)
    a, _ = lact_chunked(q, k, v, lr, w, 4)
    b, _ = lact_chunked(q, k, v, lr, w, 8)
    assert (a[..., 4:, :] - b[..., 4:, :]).abs().max() > 1e-3


def test_apply_then_update():
    """The first chunk is read with the initial weights; its own keys change only later chunks."""
    q, k, v, lr, _, w = _inputs(16)
    out, _ = lact_chunked(q, k, v, lr, w, 8)
    torch.testing.assert_close(out[..., :8, :], swiglu_apply(w, q[..., :8, :]))
    k2 = k.clone()
    k2[..., 3, :] = -k2[..., 3, :]
    out2, _ = lact_chunked(q, k2, v, lr, w, 8)
    torch.testing.assert_close(out2[..., :8, :], out[..., :8, :])
    assert (out2[..., 8:, :] - out[..., 8:, :]).abs().max() > 1e-4


@pytest.mark.parametrize("use_muon", [False, True])
def test_state_carries_across_calls(use_muon):
    q, k, v, lr, mom, w = _inputs(30, seed=2)
    full, state_full = lact_chunked(q, k, v, lr, w, 8, momentum=mom, use_muon=use_muon)
    outs, state = [], None
    for a, b in [(0, 1), (1, 8), (8, 9), (9, 23), (23, 30)]:
        o, state = lact_chunked(
            q[..., a:b, :], k[..., a:b, :], v[..., a:b, :], lr[..., a:b, :],
            w if state is None else None, 8, momentum=mom[..., a:b], use_muon=use_muon,
            state=state,
        )
        outs.append(o)
    torch.testing.assert_close(torch.cat(outs, dim=-2), full)
    assert state.filled == state_full.filled == 30 % 8
    for x, y in zip(state.weights, state_full.weights):
        torch.testing.assert_close(x, y)


def test_renormalization_keeps_row_norms():
    q, k, v, lr, _, w = _inputs(40, seed=3)
    _, state = lact_chunked(q, k, v, lr, w, 8, use_muon=True)
    for new, old in zip(state.weights, w):
        torch.testing.assert_close(
            new.norm(dim=-1), old.norm(dim=-1).expand(B, H, -1), rtol=1e-4, atol=0
        )  # exact up to the eps=1e-5 in the denominator
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(renormalize(3 * x, x.norm(dim=-1, keepdim=True)), x, rtol=1e-5,
                               atol=1e-5)


def test_causal():
    q, k, v, lr, mom, w = _inputs(24, seed=4)
    out, _ = lact_chunked(q, k, v, lr, w, 6, momentum=mom, use_muon=True)
    t = 13
    changed = [x.clone() for x in (q, k, v, lr, mom)]
    for x in changed:
        if x.dim() == 4:
            x[..., t + 1 :, :] = torch.rand_like(x[..., t + 1 :, :])
        else:
            x[..., t + 1 :] = torch.rand_like(x[..., t + 1 :])
    out2, _ = lact_chunked(*changed[:4], w, 6, momentum=changed[4], use_muon=True)
    torch.testing.assert_close(out2[..., : t + 1, :], out[..., : t + 1, :])


def _tiny_lm(**mixer_kwargs):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=11, block_size=40, n_layer=2, n_head=2, n_embd=16,
                       mixer="lact", mixer_kwargs=mixer_kwargs)
    return TinyGPT(config).double().eval()


@pytest.mark.parametrize(
    "kwargs",
    [dict(chunk_size=4, window=3), dict(chunk_size=5, window=0, use_muon=True),
     dict(chunk_size=8, window=6, use_momentum=False, inter_multi=2.0, n_fw_head=1)],
)
def test_mixer_decoding_equals_full_pass(kwargs):
    model = _tiny_lm(**kwargs)
    idx = torch.randint(0, 11, (2, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = model(idx)
        logits, state = model.step(idx[:, :7])  # a prompt, then one token at a time
        steps = [logits]
        for t in range(7, idx.size(1)):
            logits, state = model.step(idx[:, t : t + 1], state)
            steps.append(logits)
    # float64; Newton-Schulz amplifies summation-order differences, hence not 1e-12
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-6, atol=1e-7)


def test_mixer_is_registered_causal_and_trains():
    assert "lact" in MIXERS
    mixer = LaCTMixer(n_embd=16, n_head=2, chunk_size=4, window=3).double()
    x = torch.randn(2, 13, 16, dtype=torch.float64)
    y, _ = mixer(x)
    x2 = x.clone()
    x2[:, 9:] = torch.randn_like(x2[:, 9:])
    y2, _ = mixer(x2)
    torch.testing.assert_close(y2[:, :9], y[:, :9])
    y.square().sum().backward()
    for name in ("w0", "w1", "w2", "lr_proj.weight", "momentum_proj.weight"):
        grad = mixer.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_flops():
    assert lact_flops(100, 64, 64) == 18 * 64 * 64 * 100  # the official code's count
    assert lact_flops(100, 64, 128, 32) == 100 * (12 * 128 * 64 + 6 * 32 * 128)
    extra = lact_flops(128, 16, 16, chunk_size=32, use_muon=True) - lact_flops(128, 16, 16)
    assert extra == 4 * 3 * 30 * 16**3


def test_inv_softplus():
    for y in (1e-3, 0.1, 2.0):
        x = torch.tensor(inv_softplus(y), dtype=torch.float64)
        assert abs(F.softplus(x).item() - y) < 1e-12


def test_bad_input():
    q, k, v, lr, _, w = _inputs(8)
    with pytest.raises(ValueError, match="chunk_size"):
        lact_chunked(q, k, v, lr, w, 0)
    with pytest.raises(ValueError, match="lr of shape"):
        lact_chunked(q, k, v, lr[..., :2], w, 4)
    with pytest.raises(ValueError, match="exactly one"):
        lact_chunked(q, k, v, lr, None, 4)
    with pytest.raises(ValueError, match="n_fw_head"):
        LaCTMixer(n_embd=16, n_head=2, n_fw_head=3)
    with pytest.raises(ValueError, match="use_muon"):
        lact_flops(10, 4, 4, use_muon=True)


def test_muon_uses_lacts_newton_schulz_schedule():
    """With Muon, each chunk update goes through LaCT's five per-step triples (as in the official
    ``zeropower_via_newtonschulz5``), written out here from scratch, not one repeated triple."""
    schedule = (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    )

    def orthogonalize(G, triples):  # batched over (B, H): Frobenius scaling, then the steps
        tall = G.size(-2) > G.size(-1)
        X = G.mT if tall else G
        X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
        for a, b, c in triples:
            A = X @ X.mT
            X = a * X + b * A @ X + c * A @ A @ X
        return X.mT if tall else X

    def by_hand(q, k, v, lr, w, chunk, triples):
        w = tuple(t.expand(B, H, *t.shape[-2:]) for t in w)
        norms = [t.norm(dim=-1, keepdim=True) for t in w]
        outs = []
        for s in range(0, q.size(-2), chunk):
            c = slice(s, s + chunk)
            outs.append(swiglu_apply(w, q[..., c, :]))
            if s + chunk <= q.size(-2):  # a complete chunk commits its update
                dw = swiglu_update(w, k[..., c, :], v[..., c, :], lr[..., c, :])
                w = tuple(renormalize(a + orthogonalize(d, triples), n)
                          for a, d, n in zip(w, dw, norms))
        return torch.cat(outs, dim=-2)

    q, k, v, lr, _, w = _inputs(24, seed=11)
    out, _ = lact_chunked(q, k, v, lr, w, 8, use_muon=True)
    torch.testing.assert_close(out, by_hand(q, k, v, lr, w, 8, schedule), rtol=1e-9, atol=1e-10)
    single = by_hand(q, k, v, lr, w, 8, [(3.4445, -4.7750, 2.0315)] * 5)
    assert (out - single).abs().max() > 1e-4  # the schedule is not Keller Jordan's single triple


def test_fused_apply_update_is_the_same_arithmetic():
    """lact_chunked's per-chunk kernel (W0 and W2 stacked into one matmul) gives exactly the
    readout and the update of swiglu_apply and swiglu_update."""
    from testtime.ttt.lact import swiglu_apply_update

    q, k, v, lr, _, w = _inputs(11, seed=5, dtype=torch.float32)
    out, dw = swiglu_apply_update(w, q, k, v, lr)
    torch.testing.assert_close(out, swiglu_apply(w, q), rtol=1e-6, atol=1e-7)
    for mine, ref in zip(dw, swiglu_update(w, k, v, lr)):
        torch.testing.assert_close(mine, ref, rtol=1e-6, atol=1e-7)
