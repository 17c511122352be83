"""Voting when outputs are continuous: consensus regions, perturb-and-vote, and the power law.

- GUI-RC ("Test-Time Reinforcement Learning for GUI Grounding via Region Consistency",
  arXiv 2508.05615): every sampled box votes for the cells of a grid it covers; the consensus
  region is the set of cells with the most votes, and its centre is the prediction.
- RoboMonkey ("RoboMonkey: Scaling Test-Time Sampling and Verification for
  Vision-Language-Action Models", arXiv 2506.17811): sample a few actions, grow the candidate set
  with Gaussian perturbations, then vote; here the vote is the densest point (the candidate
  with the most neighbours within a radius), optionally re-ranked by a verifier. The paper finds
  that action error falls with the number of samples ``k`` as a power law; we fit
  ``err(k) = a k^(-b)`` by least squares in log-log space, and the "exponentiated power law"
  ``y(k) = exp(a k^b)`` of "Large Language Monkeys" by a log-log fit of ``-log y``.
"""

from __future__ import annotations

import math

import torch

from testtime.runtime import check_positive


def perturb(samples: torch.Tensor, n_extra: int, sigma: float,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """RoboMonkey's proposal set: ``samples (k, d)`` plus ``n_extra`` Gaussian perturbations of
    randomly chosen samples (std ``sigma``); returns ``(k + n_extra, d)``."""
    if samples.dim() != 2:
        raise ValueError(f"samples of shape {tuple(samples.shape)} is not valid; expected (k, d)")
    check_positive("sigma", sigma, allow_zero=True)
    idx = torch.randint(samples.size(0), (n_extra,), generator=generator)
    noise = torch.randn(n_extra, samples.size(1), generator=generator, dtype=samples.dtype)
    return torch.cat([samples, samples[idx] + sigma * noise], dim=0)


def density_vote(samples: torch.Tensor, radius: float) -> torch.Tensor:
    """The sample with the most other samples within ``radius`` (a continuous majority vote);
    ties go to the first. Returns the mean of that sample's neighbourhood, shape ``(d,)``."""
    check_positive("radius", radius)
    d = torch.cdist(samples, samples)
    near = d <= radius
    best = int(near.sum(1).argmax())
    return samples[near[best]].mean(0)


def region_votes(boxes: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float,
                 grid: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GUI-RC's spatial voting grid for 2-D boxes ``(k, 4)`` = ``(x0, y0, x1, y1)``.

    A ``grid x grid`` lattice covers ``[lo, hi]^2``; a box covers the cells whose centre lies
    inside it. Returns ``(cover, votes, centres)``: ``cover (k, grid, grid)`` which cells each
    box covers (0/1), ``votes (grid, grid)`` their sum, and ``centres (2, grid)`` the cell
    centres along x and y. A point prediction is a box of zero size: it covers the cell it
    falls into.
    """
    check_positive("grid", grid)
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"boxes of shape {tuple(boxes.shape)} is not valid; expected (k, 4)")
    lo_t = torch.as_tensor(lo, dtype=boxes.dtype).expand(2)
    hi_t = torch.as_tensor(hi, dtype=boxes.dtype).expand(2)
    step = (hi_t - lo_t) / grid
    centres = torch.stack([lo_t[i] + step[i] * (torch.arange(grid, dtype=boxes.dtype) + 0.5)
                           for i in range(2)])
    # a degenerate box still covers the cell it falls in: widen boxes by half a cell
    x0, y0 = boxes[:, 0:1] - step[0] / 2, boxes[:, 1:2] - step[1] / 2
    x1, y1 = boxes[:, 2:3] + step[0] / 2, boxes[:, 3:4] + step[1] / 2
    in_x = (centres[0][None] >= x0) & (centres[0][None] < x1)  # (k, grid)
    in_y = (centres[1][None] >= y0) & (centres[1][None] < y1)
    cover = in_x.to(boxes.dtype)[:, :, None] * in_y.to(boxes.dtype)[:, None, :]
    return cover, cover.sum(0), centres


def region_vote(boxes: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float,
                grid: int = 64) -> torch.Tensor:
    """GUI-RC region consistency ("Test-Time Reinforcement Learning for GUI Grounding via
    Region Consistency"): every box votes for the cells it covers (:func:`region_votes`);
    returns the centre ``(2,)`` of the cells that got the maximum vote."""
    _, votes, centres = region_votes(boxes, lo, hi, grid)
    xs, ys = (votes == votes.max()).nonzero(as_tuple=True)
    return torch.stack([centres[0][xs].mean(), centres[1][ys].mean()])


def fit_power_law(k: torch.Tensor, err: torch.Tensor) -> tuple[float, float]:
    """Fit ``err = a k^(-b)``: least squares of ``log err`` on ``log k``; returns ``(a, b)``."""
    k, err = torch.as_tensor(k, dtype=torch.float64), torch.as_tensor(err, dtype=torch.float64)
    if k.numel() < 2 or k.shape != err.shape or (k <= 0).any() or (err <= 0).any():
        raise ValueError("k and err are not valid; expected >= 2 matching positive values")
    x, y = k.log(), err.log()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    intercept = y.mean() - slope * x.mean()
    return math.exp(float(intercept)), -float(slope)


def fit_exponentiated_power_law(k: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Fit ``y = exp(a k^b)`` for ``y`` in (0, 1) (``a < 0``), via ``log(-log y) = log(-a) +
    b log k``; returns ``(a, b)``."""
    y = torch.as_tensor(y, dtype=torch.float64)
    if ((y <= 0) | (y >= 1)).any():
        raise ValueError("y is not valid; expected values in (0, 1)")
    c, minus_b = fit_power_law(k, -y.log())
    return -c, -minus_b
