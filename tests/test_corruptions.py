"""CIFAR-10-C style corruptions: shape, range, determinism, severity ordering, validation."""

import pytest
import torch

from testtime.corruptions import CORRUPTIONS, SEVERITIES, corrupt, jpeg_roundtrip, plasma_fractal
from testtime.data import load_digits

# The official parameters trade one kind of damage for another in these (e.g. elastic's global
# affine warp shrinks with severity while its local jitter grows; frost darkens the image less
# than it adds texture), so the pixel distance to the clean image is not monotone for them.
NOT_MONOTONE_IN_PIXELS = {"glass_blur", "frost", "elastic_transform", "pixelate", "motion_blur"}


@pytest.fixture(scope="module")
def digits32() -> torch.Tensor:
    return load_digits(size=32).test_x[:24]


def rgb(n: int = 6, size: int = 20) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_shape_range_and_determinism(name: str) -> None:
    for x in (rgb(), load_digits(size=16).test_x[:6]):
        a = corrupt(x, name, 5, torch.Generator().manual_seed(3))
        b = corrupt(x, name, 5, torch.Generator().manual_seed(3))
        assert a.shape == x.shape and a.dtype == x.dtype
        assert a.min() >= 0 and a.max() <= 1
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert (a - x).abs().mean() > 1e-3, f"{name} left the image unchanged"


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_severity_grows_with_distance(digits32: torch.Tensor, name: str) -> None:
    dist = []
    for s in SEVERITIES:
        y = corrupt(digits32, name, s, torch.Generator().manual_seed(0))
        dist.append((y - digits32).pow(2).mean().sqrt().item())
    assert all(d > 1e-3 for d in dist)
    if name == "motion_blur":  # severities 3 and 4 differ only in kernel taps beyond 3 sigma
        assert all(b >= a - 1e-4 for a, b in zip(dist, dist[1:])), dist
    elif name not in NOT_MONOTONE_IN_PIXELS:
        assert all(b > a for a, b in zip(dist, dist[1:])), dist


def test_random_corruptions_depend_on_the_generator() -> None:
    x = rgb()
    for name in ("gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "snow", "fog"):
        a = corrupt(x, name, 3, torch.Generator().manual_seed(0))
        b = corrupt(x, name, 3, torch.Generator().manual_seed(1))
        assert not torch.equal(a, b), name


def test_severity_zero_is_identity_and_bad_input_raises() -> None:
    x = rgb()
    torch.testing.assert_close(corrupt(x, "fog", 0), x)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "fog", 6)
    with pytest.raises(ValueError, match="name"):
        corrupt(x, "rain", 1)
    with pytest.raises(ValueError, match="x="):
        corrupt(torch.rand(2, 2, 8, 8), "fog", 1)


def test_gaussian_noise_has_the_official_std() -> None:
    x = torch.full((4, 1, 64, 64), 0.5)
    y = corrupt(x, "gaussian_noise", 5, torch.Generator().manual_seed(0))
    assert abs((y - x).std().item() - 0.10) < 0.005


def test_jpeg_is_idempotent_on_flat_images_and_lossy_on_noise() -> None:
    flat = torch.full((1, 3, 16, 16), 0.4)
    torch.testing.assert_close(jpeg_roundtrip(flat, 40), torch.round(flat * 255) / 255, atol=2 / 255, rtol=0)
    noise = rgb(2, 16)
    err40 = (jpeg_roundtrip(noise, 40) - noise).abs().mean()
    err80 = (jpeg_roundtrip(noise, 80) - noise).abs().mean()
    assert err40 > err80 > 0.005


def test_plasma_fractal_is_normalised() -> None:
    m = plasma_fractal(3, 32, 2.0, torch.Generator().manual_seed(0))
    assert m.shape == (3, 32, 32)
    assert torch.allclose(m.amin(dim=(1, 2)), torch.zeros(3))
    assert torch.allclose(m.amax(dim=(1, 2)), torch.ones(3))
