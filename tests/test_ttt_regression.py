"""Test-time regression views (against brute-force per-query solutions) and the task generators."""

import math

import pytest
import torch
import torch.nn.functional as F

from testtime.ttt import (
    icl_regression,
    kernel_weights,
    linear_attention_regression,
    local_linear_attention,
    mqar,
    nadaraya_watson,
    ridge_regression,
)

D64 = torch.float64


def data(seed=0, B=2, M=7, N=12, d=3, dv=2):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, M, d, generator=g, dtype=D64)
    k = torch.randn(B, N, d, generator=g, dtype=D64)
    v = torch.randn(B, N, dv, generator=g, dtype=D64)
    mask = torch.rand(B, M, N, generator=g) < 0.7
    mask[..., :5] = True  # every query sees at least 5 pairs
    return q, k, v, mask


def test_softmax_nadaraya_watson_is_softmax_attention():
    q, k, v, mask = data()
    ours = nadaraya_watson(q, k, v, mask, kernel="softmax", bandwidth=math.sqrt(3))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref)


def test_rbf_weights_match_the_gaussian_kernel():
    q, k, _, mask = data()
    w = kernel_weights(q, k, mask, kernel="rbf", bandwidth=0.7)
    raw = torch.exp(-torch.cdist(q, k) ** 2 / (2 * 0.7**2)) * mask
    torch.testing.assert_close(w, raw / raw.sum(-1, keepdim=True))


def test_linear_attention_is_one_least_squares_gradient_step_from_zero():
    q, k, v, mask = data()
    for b in range(2):
        for m in range(7):
            kk, vv = k[b, mask[b, m]], v[b, mask[b, m]]
            W = torch.zeros(3, 2, dtype=D64, requires_grad=True)
            (grad,) = torch.autograd.grad(0.5 * ((kk @ W - vv) ** 2).sum(), W)
            step = -0.1 * grad
            torch.testing.assert_close(
                linear_attention_regression(q, k, v, mask, lr=0.1)[b, m], q[b, m] @ step
            )


def test_ridge_and_local_linear_match_brute_force_weighted_least_squares():
    q, k, v, mask = data()
    lla = local_linear_attention(q, k, v, mask, kernel="rbf", bandwidth=1.3, ridge=0.05)
    ridge = ridge_regression(q, k, v, mask, ridge=0.05)
    w = kernel_weights(q, k, mask, kernel="rbf", bandwidth=1.3)
    for b in range(2):
        for m in range(7):
            sel = mask[b, m]
            kk, vv, ww = k[b, sel], v[b, sel], w[b, m, sel]
            W = torch.linalg.solve(kk.T @ kk + 0.05 * torch.eye(3, dtype=D64), kk.T @ vv)
            torch.testing.assert_close(ridge[b, m], q[b, m] @ W)
            # min_{a, S} sum_i w_i ||v_i - a - S^T (k_i - q)||^2 + ridge ||S||^2, a unpenalized
            X = torch.cat([torch.ones(len(kk), 1, dtype=D64), kk - q[b, m]], dim=1)
            pen = torch.diag(torch.tensor([0.0, 0.05, 0.05, 0.05], dtype=D64))
            coef = torch.linalg.solve(X.T @ (ww[:, None] * X) + pen, X.T @ (ww[:, None] * vv))
            torch.testing.assert_close(lla[b, m], coef[0])


def test_local_linear_is_exact_on_linear_targets_where_nadaraya_watson_is_biased():
    g = torch.Generator().manual_seed(0)
    k = torch.randn(4, 50, 3, generator=g, dtype=D64)
    q = torch.randn(4, 5, 3, generator=g, dtype=D64)
    W = torch.randn(4, 3, 1, generator=g, dtype=D64)
    lla = local_linear_attention(q, k, k @ W, kernel="rbf", bandwidth=1.0, ridge=1e-9)
    nw = nadaraya_watson(q, k, k @ W, kernel="rbf", bandwidth=1.0)
    torch.testing.assert_close(lla, q @ W, atol=1e-6, rtol=1e-6)
    assert (nw - q @ W).abs().mean() > 0.1


def test_empty_context_predicts_zero():
    q, k, v, mask = data()
    mask[0, 0] = False
    for fn in (nadaraya_watson, local_linear_attention, linear_attention_regression):
        out = fn(q, k, v, mask)
        assert torch.isfinite(out).all() and out[0, 0].abs().max() == 0


def test_mqar_answers_are_the_latest_values():
    g = torch.Generator().manual_seed(0)
    batch = mqar(16, 6, 5, num_keys=20, num_values=9, generator=g, rewrites=3)
    assert batch.tokens.shape == batch.targets.shape == (16, 2 * 9 + 2 * 5)
    assert batch.keys.shape == batch.values.shape == (16, 9)
    assert (batch.keys < 20).all() and (batch.values >= 20).all() and (batch.values < 29).all()
    for b in range(16):
        assert len(set(batch.keys[b, :6].tolist())) == 6
        latest = dict(zip(batch.keys[b].tolist(), batch.values[b].tolist()))  # later wins
        for key, ans in zip(batch.query_keys[b].tolist(), batch.answers[b].tolist()):
            assert latest[key] == ans
    ctx = 18
    assert (batch.targets[:, :ctx] == -100).all()
    torch.testing.assert_close(batch.targets[:, ctx::2], batch.answers)
    torch.testing.assert_close(batch.tokens[:, ctx::2], batch.query_keys)
    torch.testing.assert_close(batch.tokens[:, ctx + 1 :: 2], batch.answers)
    again = mqar(16, 6, 5, 20, 9, torch.Generator().manual_seed(0), rewrites=3)
    assert torch.equal(again.tokens, batch.tokens)


def test_icl_regression_statistics():
    g = torch.Generator().manual_seed(0)
    still = icl_regression(256, 200, 4, g, noise=0.1, drift=0.0)
    moving = icl_regression(256, 200, 4, g, noise=0.1, drift=0.2)
    assert still.x.shape == (256, 200, 4) and still.y.shape == (256, 200, 1)
    assert torch.equal(still.w[:, 0], still.w[:, -1])
    resid = still.y[..., 0] - (still.w * still.x).sum(-1)
    assert abs(resid.std().item() - 0.1) < 0.01
    assert abs(moving.w.pow(2).sum(-1).mean().item() - 1.0) < 0.1  # stationary norm
    assert (moving.w[:, 0] - moving.w[:, -1]).abs().mean() > 0.2


def test_bad_arguments_raise():
    q, k, v, mask = data()
    with pytest.raises(ValueError, match="kernel"):
        nadaraya_watson(q, k, v, kernel="cosine")
    with pytest.raises(ValueError, match="bandwidth"):
        local_linear_attention(q, k, v, bandwidth=0.0)
    with pytest.raises(ValueError, match="num_pairs"):
        mqar(2, 30, 2, 20, 5, torch.Generator())
    with pytest.raises(ValueError, match="rewrites"):
        mqar(2, 3, 2, 20, 5, torch.Generator(), rewrites=4)
    with pytest.raises(ValueError, match="drift"):
        icl_regression(2, 5, 3, torch.Generator(), drift=1.5)
