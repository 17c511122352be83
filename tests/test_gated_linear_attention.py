"""Gated linear attention with TTT-Linear's output norm (the control of notebook 05): the mixer
equals a token-by-token loop written here from its definition, streams, and its norm is
TTT-Linear's."""

import torch
import torch.nn.functional as F

from testtime.models import GPTConfig, TinyGPT
from testtime.ttt import LinearAttention, TTTLinear

D64 = torch.float64


def gated_normed_mixer(seed=0, n_embd=12, n_head=3, chunk_size=4):
    """A mixer with random gate and norm parameters (their initial values would hide mistakes)."""
    torch.manual_seed(seed)
    mixer = LinearAttention(n_embd, n_head, gated=True, post_norm=True, chunk_size=chunk_size)
    with torch.no_grad():
        mixer.gate_w.normal_(0.0, 0.5)
        mixer.gate_b.normal_(1.0, 0.5)
        mixer.post_norm.weight.normal_(1.0, 0.3)
        mixer.post_norm.bias.normal_(0.0, 0.3)
    return mixer.double()


def naive_loop(mixer, x):
    """Per head: ``S_t = g_t S_{t-1} + k_t^T v_t``, ``o_t = q_t S_t``, one token and head at a time;
    then LayerNorm over the concatenated heads and the output projection."""
    B, T, C = x.shape
    H = mixer.n_head
    d = C // H
    wq, wk, wv = mixer.qkv.weight.split(C, dim=0)
    out = torch.zeros(B, T, C, dtype=x.dtype)
    for b in range(B):
        S = [torch.zeros(d, d, dtype=x.dtype) for _ in range(H)]
        for t in range(T):
            xt = x[b, t]
            gate = torch.sigmoid(xt @ mixer.gate_w + mixer.gate_b)
            for h in range(H):
                rows = slice(h * d, (h + 1) * d)
                q = F.normalize(wq[rows] @ xt, dim=0)
                k = F.normalize(wk[rows] @ xt, dim=0)
                v = wv[rows] @ xt
                S[h] = gate[h] * S[h] + torch.outer(k, v)
                out[b, t, rows] = q @ S[h]
    normed = F.layer_norm(out, (C,), mixer.post_norm.weight, mixer.post_norm.bias, eps=1e-6)
    return normed @ mixer.proj.weight.T


def test_gated_normed_linear_attention_equals_naive_loop():
    mixer = gated_normed_mixer()
    x = torch.randn(2, 11, 12, generator=torch.Generator().manual_seed(1), dtype=D64)
    with torch.no_grad():
        y, _ = mixer(x)  # chunked (chunk 4, with a partial last chunk)
        ref = naive_loop(mixer, x)
    err = (y - ref).abs().max().item()
    assert err < 1e-10, f"chunked gated linear attention differs from the naive loop by {err:.2e}"


def test_gated_normed_linear_attention_streams_and_decodes():
    mixer = gated_normed_mixer(chunk_size=5)
    x = torch.randn(2, 23, 12, generator=torch.Generator().manual_seed(2), dtype=D64)
    with torch.no_grad():
        y, _ = mixer(x)
        pieces, state = [], None
        for s, e in [(0, 3), (3, 4), (4, 17), (17, 23)]:
            out, state = mixer(x[:, s:e], state)
            pieces.append(out)
    err = (torch.cat(pieces, 1) - y).abs().max().item()
    assert err < 1e-10, f"feeding the sequence in pieces changes the outputs by {err:.2e}"
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=11, block_size=40, n_layer=2, n_head=2, n_embd=16,
                              mixer="linear_attention",
                              mixer_kwargs=dict(gated=True, post_norm=True))).eval()
    idx = torch.randint(0, 11, (2, 30), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full, _ = model(idx)
        logits, state = model.step(idx[:, :9])
        steps = [logits]
        for t in range(9, 30):
            logits, state = model.step(idx[:, t : t + 1], state)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_post_norm_is_ttt_linears_output_norm():
    gla = LinearAttention(16, 4, gated=True, post_norm=True).post_norm
    ttt = TTTLinear(16, 4).post_norm
    same = (type(gla), gla.normalized_shape, gla.eps) == (type(ttt), ttt.normalized_shape, ttt.eps)
    assert same, f"gated linear attention's output norm {gla} should be TTT-Linear's {ttt}"
    plain = LinearAttention(16, 4)
    assert sum(p.numel() for p in plain.parameters()) == 4 * 16 * 16, (  # qkv and proj only
        f"post_norm=False should add no parameters; got "
        f"{sum(p.numel() for p in plain.parameters())}")
