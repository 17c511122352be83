"""LatentSeek and SRGen (testtime.rl.latent) on a tiny random TinyGPT."""

import pytest
import torch
import torch.nn.functional as F

from testtime.models import GPTConfig, TinyGPT
from testtime.rl.latent import (
    dynamic_threshold,
    generate_with_latents,
    latentseek,
    srgen_delta,
    srgen_generate,
)


def _model() -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=6, block_size=24, n_layer=1, n_head=2, n_embd=16)).eval()


def test_zero_latents_match_plain_generate():
    model = _model()
    prompts = torch.randint(0, 6, (4, 3), generator=torch.Generator().manual_seed(1))
    a = generate_with_latents(model, prompts, torch.zeros(4, 5, 16), 6,
                              generator=torch.Generator().manual_seed(2))
    b = model.generate(prompts, 6, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_latent_is_a_logit_offset_through_the_head():
    model = _model()
    x = torch.randint(0, 6, (2, 5))
    z = torch.randn(2, 16)
    h = model.hidden(x)[:, -1]
    torch.testing.assert_close(model.head(h + z), model(x)[0][:, -1] + model.head(z))


def test_latentseek_raises_the_self_reward():
    model = _model()
    prompts = torch.zeros(3, 2, dtype=torch.long)
    # reward: the first generated token is 4 (a token the random model rarely picks)
    res = latentseek(model, prompts, lambda t: (t[:, 2] == 4).float(),
                     generator=torch.Generator().manual_seed(0), n_samples=16, iterations=15,
                     lr=0.5, n_latent=2, max_new_tokens=3)
    assert res.latents.shape == (3, 2, 16)
    assert res.rewards[-1] > res.rewards[0] + 0.3
    assert all(p.requires_grad for p in model.parameters())  # the model is left trainable


def test_latentseek_bad_input():
    model = _model()
    with pytest.raises(ValueError, match="n_latent"):
        latentseek(model, torch.zeros(1, 2, dtype=torch.long), lambda t: t[:, 0].float(),
                   generator=torch.Generator(), n_latent=5, max_new_tokens=3)
    with pytest.raises(ValueError, match="lr"):
        latentseek(model, torch.zeros(1, 2, dtype=torch.long), lambda t: t[:, 0].float(),
                   generator=torch.Generator(), lr=0.0)


def test_dynamic_threshold_hand_case():
    hist = torch.tensor([[1.0, 2.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    thr = dynamic_threshold(hist, torch.tensor([3, 1]), k=2.0, min_std=0.5, min_threshold=0.0)
    assert thr[0].item() == pytest.approx(2.0 + 2.0 * 1.0)  # mean 2, std 1 (unbiased)
    assert thr[1].item() == float("inf")  # fewer than 2 entropies: never fires
    thr = dynamic_threshold(hist, torch.tensor([4, 4]), k=1.0, min_std=0.5, min_threshold=3.0)
    assert thr[1].item() == pytest.approx(3.0)  # the floor


def test_srgen_delta_lowers_its_loss():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 5, bias=False)
    pl, tg = torch.randn(2, 4, 5), torch.randint(0, 5, (2, 4))
    cur, mask = torch.randn(2, 5), torch.ones(2, 4)

    def loss(shift, lam=0.5):
        ce = F.cross_entropy((pl + shift[:, None]).flatten(0, 1), tg.flatten(), reduction="none")
        p = F.log_softmax(cur + shift, -1)
        return ((1 - lam) * ce.view(2, 4).mean(1) - lam * (p.exp() * p).sum(-1)).sum()

    delta = srgen_delta(pl, tg, mask, cur, head, steps=20, lr=0.1, lam=0.5)
    assert loss(head(delta)) < loss(torch.zeros(2, 5)) - 0.05


def test_srgen_generate_is_seeded_and_fires():
    model = _model()
    prompts = torch.randint(0, 6, (4, 3), generator=torch.Generator().manual_seed(3))
    kw = dict(k=0.0, min_std=0.0, min_threshold=0.0, window=4)
    a, n = srgen_generate(model, prompts, 5, generator=torch.Generator().manual_seed(0), **kw)
    b, _ = srgen_generate(model, prompts, 5, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(a, b) and a.shape == (4, 8) and n > 0
    # a threshold nothing reaches gives plain sampling
    c, n0 = srgen_generate(model, prompts, 5, generator=torch.Generator().manual_seed(0),
                           min_threshold=1e9)
    d = model.generate(prompts, 5, generator=torch.Generator().manual_seed(0))
    assert n0 == 0 and torch.equal(c, d)
