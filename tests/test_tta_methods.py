"""BN adapt, alpha-BN, TENT, EATA/ETA, SAR and the stream helpers, on a tiny ConvNet."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from testtime.models import ConvNet
from testtime.tta.base import Source, configure_bn_adaptation, softmax_entropy
from testtime.tta.bn import AlphaBN, BNAdapt
from testtime.tta.eata import (
    EATA,
    ETA,
    compute_fishers,
    entropy_margin,
    select_samples,
    setup_entropy_adaptation,
)
from testtime.tta.sar import SAM, SAR
from testtime.tta.source import error_rate
from testtime.tta.streams import corrupt_domains, evaluate, label_order, make_stream
from testtime.tta.tent import Tent


def tiny_model(seed: int = 0) -> ConvNet:
    torch.manual_seed(seed)
    model = ConvNet(1, 10, width=4)
    model.train()
    with torch.no_grad():  # give BN non-trivial running statistics
        for _ in range(5):
            model(torch.rand(16, 1, 8, 8) * 2 + 0.5)
    return model.eval()


def batch(n: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def changed(before: ConvNet, after: ConvNet) -> set[str]:
    b = dict(before.named_parameters())
    return {n for n, p in after.named_parameters() if not torch.equal(p, b[n])}


ALL = math.log(10) + 1e-3  # an entropy margin every sample passes
BN_AFFINE = {f"features.{i}.{w}" for i in (1, 4, 7) for w in ("weight", "bias")}

ADAPTERS = {
    "tent": lambda m: Tent(m, lr=1e-2),
    "eta": lambda m: ETA(m, lr=1e-2, e_margin=ALL, d_margin=2.0),
    "eata": lambda m: EATA(m, lr=1e-2, e_margin=ALL, d_margin=2.0,
                           fishers=compute_fishers(configure_bn_adaptation(tiny_model()), batch(32, 5))),
    "sar": lambda m: SAR(m, lr=1e-2, e_margin=ALL),
}


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_only_bn_affine_parameters_change(name: str) -> None:
    model = tiny_model()
    before = copy.deepcopy(model)
    method = ADAPTERS[name](model)
    method(batch())
    assert changed(before, model) == BN_AFFINE


@pytest.mark.parametrize("make", [BNAdapt, lambda m: AlphaBN(m, 0.3), Source])
def test_normalization_methods_change_no_parameter(make) -> None:
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    make(model)(batch())
    for k, v in model.state_dict().items():
        if k in before:
            torch.testing.assert_close(v, before[k])


def test_bn_adapt_and_alpha_bn_endpoints() -> None:
    x = batch()
    source = tiny_model()(x)
    bn = BNAdapt(tiny_model())(x)
    train_mode = tiny_model().train()(x)  # batch statistics, as BN adapt
    torch.testing.assert_close(bn, train_mode)
    assert not torch.allclose(bn, source, atol=1e-3)
    torch.testing.assert_close(AlphaBN(tiny_model(), 0.0)(x), bn, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(AlphaBN(tiny_model(), 1.0)(x), source, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        AlphaBN(tiny_model(), 1.5)


def test_alpha_bn_mixes_statistics_of_one_layer() -> None:
    model = tiny_model()
    bn = model.features[1]
    h = model.features[0](batch())
    alpha = 0.3
    mean = alpha * bn.running_mean + (1 - alpha) * h.mean((0, 2, 3))
    var = alpha * bn.running_var + (1 - alpha) * h.var((0, 2, 3), unbiased=False)
    expected = (h - mean[:, None, None]) / (var[:, None, None] + bn.eps).sqrt()
    expected = expected * bn.weight[:, None, None] + bn.bias[:, None, None]
    method = AlphaBN(model, alpha)
    torch.testing.assert_close(method.model.features[1](h), expected, atol=1e-5, rtol=1e-5)


def test_tent_matches_one_manual_adam_step_and_returns_pre_update_logits() -> None:
    x = batch()
    ref = configure_bn_adaptation(tiny_model())
    params = [p for p in ref.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999))
    logits_ref = ref(x)
    softmax_entropy(logits_ref).mean().backward()
    opt.step()
    tent = Tent(tiny_model())
    logits = tent(x)
    torch.testing.assert_close(logits, logits_ref.detach())
    for p, q in zip(tent.model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q)


def test_tent_episodic_and_reset() -> None:
    x = batch()
    tent = Tent(tiny_model(), lr=1e-2, episodic=True)
    first, second = tent(x), tent(x)
    torch.testing.assert_close(first, second)
    online = Tent(tiny_model(), lr=1e-2)
    a = online(x)
    assert not torch.allclose(online(x), a)
    online.reset()
    torch.testing.assert_close(online(x), a)


def test_eata_filters_select_what_the_thresholds_say() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=g) * 3
    probs, ent = logits.softmax(1), softmax_entropy(logits)
    e0 = entropy_margin(10)
    assert e0 == pytest.approx(0.4 * math.log(10))
    reliable, selected = select_samples(probs, ent, e0, 0.4, None)
    assert torch.equal(reliable, ent < e0) and torch.equal(selected, reliable)
    mean = torch.softmax(torch.randn(10, generator=g), 0)
    reliable, selected = select_samples(probs, ent, e0, 0.4, mean)
    cos = F.cosine_similarity(probs, mean[None], dim=1)
    assert torch.equal(selected, (ent < e0) & (cos < 0.4))
    assert 0 < selected.sum() < reliable.sum() < 64


def test_eata_skips_the_step_when_nothing_is_selected() -> None:
    model = tiny_model()
    before = copy.deepcopy(model)
    method = ETA(model, lr=1e-2, e_margin=0.0)  # no entropy is below 0
    method(batch())
    assert changed(before, model) == set()
    assert method.num_selected == 0 and method.mean_probs is None


def test_eata_weights_and_redundancy_memory() -> None:
    method = ETA(tiny_model(), lr=1e-2, e_margin=ALL, d_margin=2.0)
    method(batch())
    assert method.num_selected == 16 and method.mean_probs is not None
    torch.testing.assert_close(method.mean_probs.sum(), torch.tensor(1.0))
    method.reset()
    assert method.mean_probs is None


def test_fisher_penalty_pulls_towards_the_source() -> None:
    fishers = compute_fishers(configure_bn_adaptation(tiny_model()), batch(32, 5))
    assert set(fishers) == BN_AFFINE and all((f >= 0).all() for f, _ in fishers.values())
    drift = {}
    for alpha in (0.0, 1e6):
        model = tiny_model()
        src = copy.deepcopy(model)
        m = EATA(model, lr=1e-2, optimizer="adam", e_margin=ALL, d_margin=2.0,
                 fishers=fishers, fisher_alpha=alpha)
        for s in range(5):
            m(batch(seed=s))
        drift[alpha] = sum((p - q).abs().sum().item() for p, q in zip(model.parameters(), src.parameters()))
    assert drift[1e6] < drift[0.0]


def test_sam_restores_the_weights_before_the_optimizer_step() -> None:
    model = configure_bn_adaptation(tiny_model())
    params = [p for p in model.parameters() if p.requires_grad]
    base = torch.optim.SGD(params, lr=0.1)
    seen = {}
    original_step = base.step

    def spy_step(*args, **kwargs):
        seen["at_step"] = [p.detach().clone() for p in params]
        return original_step(*args, **kwargs)

    base.step = spy_step
    sam = SAM(base, rho=0.5)
    start = [p.detach().clone() for p in params]
    softmax_entropy(model(batch())).mean().backward()
    sam.first_step()
    assert any(not torch.equal(p, s) for p, s in zip(params, start))  # perturbed
    softmax_entropy(model(batch())).mean().backward()
    sam.second_step()
    for s, a in zip(start, seen["at_step"]):
        torch.testing.assert_close(a, s)


def test_sar_refilters_and_resets_on_collapse() -> None:
    model = tiny_model()
    before = copy.deepcopy(model)
    sar = SAR(model, lr=1e-2, e_margin=ALL, reset_constant=100.0)  # any loss "collapses"
    sar(batch())
    assert sar.num_resets == 1 and changed(before, model) == set()
    sar = SAR(tiny_model(), lr=1e-2, e_margin=0.0)  # nothing reliable: no update, no EMA
    before = copy.deepcopy(sar.model)
    sar(batch())
    assert changed(before, sar.model) == set() and sar.ema is None


def test_streams_cover_every_sample_and_evaluate_matches_error_rate() -> None:
    x, y = batch(40), torch.arange(40) % 4
    domains = corrupt_domains(x, ["gaussian_noise", "contrast"], 3, seed=0)
    for scenario in ("reset", "continual", "mixed"):
        for order in ("iid", "class_sorted", "dirichlet"):
            s = make_stream(domains, y, scenario=scenario, order=order, batch_size=8, seed=0)
            assert s.num_samples == 80
            assert sorted(torch.cat(s.y).tolist()) == sorted(y.repeat(2).tolist())
    s = make_stream(domains, y, scenario="reset", order="class_sorted", batch_size=10, seed=0)
    assert s.reset == [False] * 4 + [True] + [False] * 3
    assert all(len(b.unique()) == 1 for b in s.y)
    model = tiny_model()
    result = evaluate(Source(model), s)
    expected = error_rate(model, torch.cat(s.x), torch.cat(s.y))
    assert result.error == pytest.approx(expected)
    assert set(result.domain_errors) == {"gaussian_noise", "contrast"}


def test_dirichlet_alpha_controls_label_correlation() -> None:
    y = torch.arange(1000) % 10
    def classes_per_window(alpha: float) -> float:
        order = label_order(y, "dirichlet", torch.Generator().manual_seed(0), alpha=alpha)
        return sum(len(y[c].unique()) for c in order.split(50)) / 20
    assert classes_per_window(0.01) < 4 < 9 < classes_per_window(100.0)
    with pytest.raises(ValueError, match="order"):
        label_order(y, "sorted", torch.Generator())


def test_setup_entropy_adaptation_margin_and_bn_affine_optimizer() -> None:
    model = tiny_model()
    margin, opt = setup_entropy_adaptation(model, 10, None, "sgd", 0.01)
    assert margin == pytest.approx(0.4 * math.log(10))
    assert setup_entropy_adaptation(tiny_model(), 10, 0.7, "sgd", 0.01)[0] == 0.7
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for g in opt.param_groups for p in g["params"]} == trainable
    assert trainable and trainable < {id(p) for p in model.parameters()}
