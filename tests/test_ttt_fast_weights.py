"""Linear attention and the delta rule: chunked == recurrent, the delta rule is an SGD step,
and both work as causal, streamable TinyGPT mixers."""

import pytest
import torch
import torch.nn.functional as F

from testtime.models import GPTConfig, TinyGPT, get_mixer
from testtime.ttt import (
    delta_rule_chunked,
    delta_rule_recurrent,
    linear_attention_chunked,
    linear_attention_recurrent,
)

D64 = torch.float64


def qkv(T=37, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, T, d, generator=g, dtype=D64) for _ in range(3)]


@pytest.mark.parametrize("chunk", [1, 8, 64])
@pytest.mark.parametrize("gated", [False, True])
def test_linear_attention_chunked_equals_recurrent(chunk, gated):
    q, k, v = qkv()
    gate = 0.5 + 0.5 * torch.rand(2, 3, 37, dtype=D64) if gated else None
    s0 = torch.randn(2, 3, 5, 5, dtype=D64)
    a, sa = linear_attention_recurrent(q, k, v, gate, s0)
    b, sb = linear_attention_chunked(q, k, v, gate, s0, chunk_size=chunk)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(sa, sb, atol=1e-10, rtol=1e-10)


def test_linear_attention_is_sum_of_outer_products():
    q, k, v = qkv(T=6)
    out, M = linear_attention_recurrent(q, k, v)
    torch.testing.assert_close(M, torch.einsum("bhtd,bhte->bhde", k, v))
    scores = (q @ k.transpose(-1, -2)).tril()  # causal, unnormalized attention
    torch.testing.assert_close(out, scores @ v)


@pytest.mark.parametrize("chunk", [1, 8, 64])
def test_delta_rule_chunked_equals_recurrent(chunk):
    q, k, v = qkv()
    k = F.normalize(k, dim=-1)
    beta = torch.rand(2, 3, 37, dtype=D64)
    s0 = torch.randn(2, 3, 5, 5, dtype=D64)
    a, sa = delta_rule_recurrent(q, k, v, beta, s0)
    b, sb = delta_rule_chunked(q, k, v, beta, s0, chunk_size=chunk)
    torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(sa, sb, atol=1e-10, rtol=1e-10)


def test_delta_rule_write_is_one_sgd_step_on_the_regression_loss():
    q, k, v = qkv(T=1)
    M0 = torch.randn(2, 3, 5, 5, dtype=D64, requires_grad=True)
    beta = torch.full((2, 3, 1), 0.3, dtype=D64)
    loss = 0.5 * ((k[:, :, 0, None, :] @ M0)[:, :, 0] - v[:, :, 0]).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, M0)
    _, M1 = delta_rule_recurrent(q, k, v, beta, M0.detach())
    torch.testing.assert_close(M1, M0.detach() - 0.3 * grad)


def test_delta_rule_with_unit_step_stores_the_pair_exactly():
    q, k, v = qkv(T=1)
    k = F.normalize(k, dim=-1)
    M0 = torch.randn(2, 3, 5, 5, dtype=D64)
    _, M = delta_rule_recurrent(q, k, v, torch.ones(2, 3, 1, dtype=D64), M0)
    torch.testing.assert_close(k[:, :, 0, None, :] @ M, v[:, :, :1])


MIXERS = [("linear_attention", {}), ("linear_attention", {"gated": True}), ("delta_rule", {})]


@pytest.mark.parametrize("name,kw", MIXERS)
def test_mixer_is_causal_and_streams(name, kw):
    torch.manual_seed(0)
    mixer = get_mixer(name)(n_embd=32, n_head=4, block_size=64, chunk_size=8, **kw).double()
    x = torch.randn(2, 45, 32, dtype=D64)
    y, _ = mixer(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 30:] += 1.0
    y2, _ = mixer(x2)
    torch.testing.assert_close(y[:, :30], y2[:, :30])
    assert not torch.allclose(y[:, 30:], y2[:, 30:])
    pieces, state = [], None
    for s, e in [(0, 5), (5, 6), (6, 27), (27, 45)]:
        out, state = mixer(x[:, s:e], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, 1), y, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", ["linear_attention", "delta_rule"])
def test_tinygpt_cached_decoding_equals_full(name):
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=11, block_size=40, n_layer=2, n_head=2, n_embd=16,
                              mixer=name)).eval()
    x = torch.randint(0, 11, (2, 33), generator=torch.Generator().manual_seed(1))
    full, _ = model(x)
    logits, state = model.step(x[:, :10])
    pieces = [logits]
    for t in range(10, 33):
        logits, state = model.step(x[:, t : t + 1], state)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-4)


def test_bad_arguments_raise():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention_chunked(q, k, v, chunk_size=0)
    with pytest.raises(ValueError, match="n_embd"):
        get_mixer("delta_rule")(n_embd=30, n_head=4)
