import pytest
import torch
import torch.nn.functional as F

from testtime.models import (
    ConvNet,
    DecodeState,
    GPTConfig,
    TinyGPT,
    apply_rope,
    get_mixer,
    sample_next,
    sequence_logprobs,
    top_k_filter,
    top_p_filter,
)


def tiny(**kw) -> TinyGPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=17, block_size=48, n_layer=2, n_head=2, n_embd=32)
    cfg.update(kw)
    return TinyGPT(GPTConfig(**cfg)).eval()


@pytest.mark.parametrize("mixer_kwargs", [{}, {"window": 5}, {"rope": True}])
def test_kv_cached_decoding_equals_full_recomputation(mixer_kwargs):
    model = tiny(mixer_kwargs=mixer_kwargs)
    x = torch.randint(0, 17, (3, 40), generator=torch.Generator().manual_seed(1))
    full, _ = model(x)
    for chunk in (3, 1):  # several new tokens per call, then one per call (how decoding runs)
        logits, state = model.step(x[:, :7])
        pieces = [logits]
        for t in range(7, 40, chunk):
            logits, state = model.step(x[:, t : t + chunk], state)
            pieces.append(logits)
        torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-4)


def test_kv_cache_states_are_values():
    """Decoding twice from one state (two branches) or from a rolled-back state gives what a
    full pass gives, although appends write into a shared buffer."""
    model = tiny()
    x = torch.randint(0, 17, (2, 24), generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[:, 12:] = (y[:, 12:] + 1) % 17
    with torch.no_grad():
        _, mid = model.step(x[:, :10])
        _, mid = model.step(x[:, 10:12], mid)  # now in a buffer
        state = mid
        for t in range(12, 20):  # the newer state grows in the buffer `mid` shares
            _, state = model.step(x[:, t : t + 1], state)
        b, _ = model.step(y[:, 12:], mid)  # the older state branches off...
        a, _ = model.step(x[:, 20:], state)  # ...and the newer one still holds its own keys
        c, _ = model.step(x[:, 16:], DecodeState(16, [kv.truncate(16) for kv in state.layers]))
    torch.testing.assert_close(b, model(y)[0][:, 12:], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a, model(x)[0][:, 20:], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(c, model(x)[0][:, 16:], atol=1e-5, rtol=1e-4)
    assert state.layers[0].keys.size(2) == 20  # the cache reports the tokens it holds


def test_decoding_with_gradients_backpropagates():
    model = tiny().train()
    x = torch.randint(0, 17, (2, 12), generator=torch.Generator().manual_seed(2))
    logits, state = model.step(x[:, :6])
    more, _ = model.step(x[:, 6:], state)
    (logits.sum() + more.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_outputs_are_causal():
    model = tiny()
    x = torch.randint(0, 17, (1, 30))
    y = x.clone()
    y[0, 20:] = (y[0, 20:] + 1) % 17
    a, _ = model(x)
    b, _ = model(y)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_sampling_is_reproducible_and_cache_agnostic():
    model = tiny()
    prompt = torch.randint(0, 17, (8, 4), generator=torch.Generator().manual_seed(2))
    kw = dict(temperature=0.9, top_k=10, top_p=0.95)
    a = model.generate(prompt, 20, generator=torch.Generator().manual_seed(3), **kw)
    b = model.generate(prompt, 20, generator=torch.Generator().manual_seed(3), **kw)
    c = model.generate(prompt, 20, generator=torch.Generator().manual_seed(3), use_cache=False, **kw)
    d = model.generate(prompt, 20, generator=torch.Generator().manual_seed(4), **kw)
    assert torch.equal(a, b) and torch.equal(a, c) and not torch.equal(a, d)
    assert a.shape == (8, 24) and torch.equal(a[:, :4], prompt)


def test_stop_tokens_pad_finished_rows():
    model = tiny()
    prompt = torch.zeros(16, 2, dtype=torch.long)
    out = model.generate(prompt, 30, generator=torch.Generator().manual_seed(0), stop_tokens=[3, 5],
                         pad_token=0)
    for row in out[:, 2:]:
        hits = torch.nonzero((row == 3) | (row == 5))
        if len(hits):
            assert (row[hits[0, 0] + 1 :] == 0).all()


def test_greedy_is_argmax():
    logits = torch.randn(5, 11)
    assert torch.equal(sample_next(logits, temperature=0), logits.argmax(-1))


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isfinite(top_k_filter(logits, 2)).sum() == 2
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False, False]]  # 0.5 + 0.2 reaches 0.7
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()
    shuffled = logits[:, torch.tensor([3, 0, 4, 1, 2])]
    assert torch.isfinite(top_p_filter(shuffled, 0.7)).tolist() == [[False, True, False, True, False]]
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(logits, 0.0)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(logits, 0)


def test_top_p_sampling_matches_the_renormalised_distribution():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])).repeat(20000, 1)
    draws = sample_next(logits, top_p=0.8, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).float() / len(draws)
    torch.testing.assert_close(freq, torch.tensor([0.625, 0.375, 0.0, 0.0]), atol=0.015, rtol=0)


def test_sequence_logprobs_match_cross_entropy():
    model = tiny()
    x = torch.randint(0, 17, (2, 12))
    logits, _ = model(x[:, :-1])
    expected = -F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none")
    torch.testing.assert_close(sequence_logprobs(model, x), expected)
    masked = sequence_logprobs(model, x, start=torch.tensor([4, 6]))
    assert (masked[0, :3] == 0).all() and (masked[1, :5] == 0).all() and (masked[1, 5:] != 0).all()


def test_loss_ignores_masked_targets():
    model = tiny()
    x = torch.randint(0, 17, (2, 10))
    y = x.clone()
    y[:, :5] = -100
    logits, loss = model(x, y)
    expected = F.cross_entropy(logits[:, 5:].reshape(-1, 17), x[:, 5:].reshape(-1))
    torch.testing.assert_close(loss, expected)


def test_rope_rotates_pairs_and_scores_depend_on_offsets_only():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    # from scratch: the RoFormer rotation of each pair (i, i + D/2) by position * 10000**(-2i/D)
    pos = torch.tensor([3.0, 11.0])
    theta = 10000.0 ** (-torch.arange(4) / 4)
    angle = pos[:, None] * theta
    x1, x2 = q[:, :4], q[:, 4:]
    cos, sin = angle.cos(), angle.sin()
    by_hand = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], 1)
    torch.testing.assert_close(apply_rope(q, pos.long()), by_hand)
    torch.testing.assert_close(apply_rope(q, pos.long()).norm(dim=1), q.norm(dim=1))

    def score(i: int, j: int) -> torch.Tensor:
        return apply_rope(q[:1], torch.tensor([i])) @ apply_rope(k[:1], torch.tensor([j])).T

    torch.testing.assert_close(score(7, 4), score(40, 37))  # the same offset, the same score
    assert not torch.allclose(score(7, 4), score(7, 5))
    # rotary attention sees the order of the prefix even without learned positions
    x, shuffled = torch.tensor([[1, 2, 3, 4]]), torch.tensor([[3, 2, 1, 4]])
    for rope, differs in ((False, False), (True, True)):
        model = tiny(mixer_kwargs={"rope": rope}, pos_emb=False, n_layer=1)
        last, last_shuffled = model(x)[0][0, -1], model(shuffled)[0][0, -1]
        assert torch.allclose(last, last_shuffled, atol=1e-5) != differs


def test_invalid_configs_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="window=5 is not valid with rope=True"):
        tiny(mixer_kwargs={"rope": True, "window": 5})
    with pytest.raises(ValueError, match="n_embd=6 is not valid"):
        tiny(n_embd=6, n_head=2, mixer_kwargs={"rope": True})
    with pytest.raises(ValueError, match="mixer='nope' is not valid"):
        get_mixer("nope")
    with pytest.raises(ValueError, match="n_layer=0 is not valid"):
        TinyGPT(GPTConfig(vocab_size=5, n_layer=0))
    model = tiny()
    with pytest.raises(ValueError, match="exceeds block_size=48"):
        model.generate(torch.zeros(1, 40, dtype=torch.long), 20)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(torch.zeros(1, 4, dtype=torch.long), -1)


def test_convnet_shapes_and_size():
    net = ConvNet(in_channels=1, num_classes=10, width=32)
    assert net(torch.randn(4, 1, 16, 16)).shape == (4, 10)
    assert net.features(torch.randn(4, 1, 32, 32)).shape == (4, net.feature_dim)
    assert 40_000 < sum(p.numel() for p in net.parameters()) < 70_000
    assert ConvNet(in_channels=3)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
