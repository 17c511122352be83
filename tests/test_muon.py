"""Newton-Schulz orthogonalization (Muon): singular values pushed into the quintic's band,
singular vectors kept, shapes and input checks."""

import pytest
import torch

from testtime.ttt.muon import (
    LACT_NS_SCHEDULE,
    NS_COEFFICIENTS,
    newton_schulz,
    newton_schulz_flops,
    newton_schulz_map,
    polar_factor,
)


def _gaussian(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_coefficients_are_keller_jordans():
    assert NS_COEFFICIENTS == (3.4445, -4.7750, 2.0315)


@pytest.mark.parametrize("shape", [(32, 128), (128, 32), (64, 256), (3, 24, 96)])
@pytest.mark.parametrize("seed", [0, 1])
def test_singular_values_land_in_the_band(shape, seed):
    G = _gaussian(*shape, seed=seed)
    s = torch.linalg.svdvals(newton_schulz(G))
    # the 5-step quintic maps [~0.003, 1] into about [0.68, 1.21]; far from the input's spread
    assert s.min() > 0.65 and s.max() < 1.25
    s_in = torch.linalg.svdvals(G)
    assert (s_in.max() / s_in.min()) > 1.5  # the input was far from orthogonal


def test_singular_vectors_are_kept():
    G = _gaussian(24, 80, seed=3)
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    X = newton_schulz(G)
    core = U.mT @ X @ Vh.mT  # diagonal iff X = U S' V^T
    off = core - torch.diag_embed(torch.diagonal(core))
    assert off.abs().max() < 1e-10
    # and it is closer to the polar factor U V^T than the normalized input is
    P = polar_factor(G)
    assert (X - P).norm() < 0.7 * (G / torch.linalg.matrix_norm(G, 2) - P).norm()


def test_matches_the_scalar_map():
    G = _gaussian(16, 40, seed=4)
    s_in = torch.linalg.svdvals(G / G.norm())
    s_out = torch.linalg.svdvals(newton_schulz(G, eps=1e-30))
    expected = newton_schulz_map(s_in).sort(descending=True).values  # the map is not monotone
    torch.testing.assert_close(s_out, expected, rtol=1e-9, atol=1e-9)


def test_scalar_map_band():
    s = torch.linspace(0.01, 1.0, 2000, dtype=torch.float64)
    out = newton_schulz_map(s)
    assert out.min() > 0.68 and out.max() < 1.21


def test_batched_equals_one_by_one_and_dtype_kept():
    G = _gaussian(5, 8, 12, seed=5).float()
    X = newton_schulz(G)
    assert X.shape == G.shape and X.dtype == torch.float32
    for i in range(5):
        torch.testing.assert_close(X[i], newton_schulz(G[i]))


def test_bad_input():
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(torch.ones(3, 3), steps=-1)
    with pytest.raises(ValueError, match="G of shape"):
        newton_schulz(torch.ones(3))


def test_flops_count():
    assert newton_schulz_flops(64, 64, steps=5) == 30 * 64**3  # the official code's count
    assert newton_schulz_flops(32, 128) == newton_schulz_flops(128, 32)


def _ns_loop(G, schedule):
    """From scratch: Frobenius scaling, then one quintic step per (a, b, c) of the schedule."""
    X = G / (G.norm() + 1e-7)
    tall = X.size(0) > X.size(1)
    X = X.T if tall else X
    for a, b, c in schedule:
        X = a * X + b * (X @ X.T) @ X + c * (X @ X.T) @ (X @ X.T) @ X
    return X.T if tall else X


def test_lact_schedule_is_the_official_one():
    # zeropower_via_newtonschulz5 in lact_llm/lact_model/ttt_operation.py (github.com/a1600012888/LaCT)
    assert LACT_NS_SCHEDULE == (
        (4.0848, -6.8946, 2.9270),
        (3.9505, -6.3029, 2.6377),
        (3.7418, -5.5913, 2.3037),
        (2.8769, -3.1427, 1.2046),
        (2.8366, -3.0525, 1.2012),
    )


@pytest.mark.parametrize("shape", [(12, 40), (40, 12), (16, 16)])
def test_schedule_matches_a_from_scratch_loop(shape):
    G = _gaussian(*shape, seed=7)
    torch.testing.assert_close(newton_schulz(G, coefficients=LACT_NS_SCHEDULE),
                               _ns_loop(G, LACT_NS_SCHEDULE), rtol=1e-10, atol=1e-12)
    # a single triple is the schedule that repeats it
    torch.testing.assert_close(newton_schulz(G), _ns_loop(G, [NS_COEFFICIENTS] * 5),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(newton_schulz(G, steps=3),
                               newton_schulz(G, coefficients=[NS_COEFFICIENTS] * 3))
    # the order of the schedule matters: the steps are not interchangeable
    reversed_out = newton_schulz(G, coefficients=LACT_NS_SCHEDULE[::-1])
    assert (reversed_out - newton_schulz(G, coefficients=LACT_NS_SCHEDULE)).abs().max() > 1e-3


def test_schedule_scalar_map_and_band():
    G = _gaussian(16, 40, seed=8)
    s_in = torch.linalg.svdvals(G / G.norm())
    s_out = torch.linalg.svdvals(newton_schulz(G, coefficients=LACT_NS_SCHEDULE, eps=1e-30))
    expected = newton_schulz_map(s_in, coefficients=LACT_NS_SCHEDULE).sort(descending=True).values
    torch.testing.assert_close(s_out, expected, rtol=1e-9, atol=1e-9)
    s = torch.linspace(0.01, 1.0, 2000, dtype=torch.float64)
    out = newton_schulz_map(s, coefficients=LACT_NS_SCHEDULE)
    assert out.min() > 0.6 and out.max() < 1.25, (out.min(), out.max())
    assert (out - newton_schulz_map(s)).abs().max() > 0.05  # a different map from the single triple


def test_bad_schedule():
    G = torch.ones(3, 3)
    with pytest.raises(ValueError, match="coefficients"):
        newton_schulz(G, coefficients=[])
    with pytest.raises(ValueError, match="coefficients"):
        newton_schulz(G, coefficients=[(1.0, 2.0)])
    with pytest.raises(ValueError, match="coefficients"):
        newton_schulz(G, coefficients="abc")
    with pytest.raises(ValueError, match="steps"):
        newton_schulz(G, steps=4, coefficients=LACT_NS_SCHEDULE)
