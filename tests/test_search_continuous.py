import math

import pytest
import torch

from testtime.search import (
    density_vote,
    fit_exponentiated_power_law,
    fit_power_law,
    perturb,
    region_vote,
)


@pytest.mark.parametrize("a,b", [(2.0, 0.5), (0.3, 1.2), (5.0, 0.1)])
def test_power_law_recovers_exponents(a, b):
    k = torch.tensor([1, 2, 4, 8, 16, 32, 64.0])
    g = torch.Generator().manual_seed(0)
    noise = torch.exp(0.01 * torch.randn(k.shape, generator=g))
    a_hat, b_hat = fit_power_law(k, a * k ** (-b) * noise)
    assert a_hat == pytest.approx(a, rel=0.05) and b_hat == pytest.approx(b, abs=0.02)


def test_exponentiated_power_law():
    k = torch.tensor([1, 2, 4, 8, 16.0])
    y = torch.exp(-0.8 * k ** 0.4)
    a, b = fit_exponentiated_power_law(k, y)
    assert a == pytest.approx(-0.8, rel=1e-6) and b == pytest.approx(0.4, rel=1e-6)
    with pytest.raises(ValueError):
        fit_exponentiated_power_law(k, torch.ones(5))


def test_region_and_density_votes_ignore_outliers():
    g = torch.Generator().manual_seed(0)
    good = torch.tensor([0.3, 0.6]) + 0.01 * torch.randn(12, 2, generator=g)
    bad = torch.rand(6, 2, generator=g)
    pts = torch.cat([good, bad])
    assert torch.dist(density_vote(pts, 0.05), torch.tensor([0.3, 0.6])) < 0.02
    assert torch.dist(pts.mean(0), torch.tensor([0.3, 0.6])) > torch.dist(
        density_vote(pts, 0.05), torch.tensor([0.3, 0.6]))
    boxes = torch.cat([pts - 0.02, pts + 0.02], dim=1)
    centre = region_vote(boxes, 0.0, 1.0, grid=50)
    assert torch.dist(centre, torch.tensor([0.3, 0.6])) < 0.03
    # one box alone: its centre cell
    c = region_vote(torch.tensor([[0.2, 0.2, 0.4, 0.4]]), 0.0, 1.0, grid=10)
    assert torch.allclose(c, torch.tensor([0.3, 0.3]), atol=0.06)


def test_perturb_shape_and_error():
    s = torch.zeros(3, 2)
    out = perturb(s, 5, 0.1, torch.Generator().manual_seed(0))
    assert out.shape == (8, 2) and torch.equal(out[:3], s)
    assert 0 < float(out[3:].std()) < 1
    with pytest.raises(ValueError, match="samples"):
        perturb(torch.zeros(3), 2, 0.1)
    assert math.isfinite(fit_power_law([1, 2], [1.0, 0.5])[1])
