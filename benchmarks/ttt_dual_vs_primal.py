"""Primal vs dual form of mini-batch TTT, measured side by side on the same sequence.

    python benchmarks/ttt_dual_vs_primal.py [--device cuda] [--T 2048] [--d 64]

Prints, for TTT-Linear and TTT-MLP, the median time of each form, the speed ratio
primal / dual, and the largest difference between their outputs. The dual form ("Learning to
(Learn at Test Time): RNNs with Expressive Hidden States", Sec. 2.5) replaces the per-token
weight materialization with a few matmuls per mini-batch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from testtime.runtime import parse_device
from testtime.ttt import TTTState, ttt_linear_dual, ttt_linear_primal, ttt_mlp_dual, ttt_mlp_primal


def timed(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--T", type=int, default=512)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--mini-batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = parse_device(args.device)
    torch.manual_seed(0)
    B, H, T, d = args.batch, args.heads, args.T, args.d
    q, k, v = (torch.randn(B, H, T, d, device=device) for _ in range(3))
    eta = torch.rand(B, H, T, device=device) / d
    lnw, lnb = torch.ones(H, d, device=device), torch.zeros(H, d, device=device)
    linear = (torch.randn(B, H, d, d, device=device) * 0.02, torch.zeros(B, H, 1, d, device=device))
    mlp = (
        torch.randn(B, H, d, 4 * d, device=device) * 0.02,
        torch.zeros(B, H, 1, 4 * d, device=device),
        torch.randn(B, H, 4 * d, d, device=device) * 0.02,
        torch.zeros(B, H, 1, d, device=device),
    )
    print(f"device={device} B={B} H={H} T={T} d={d} mini_batch={args.mini_batch}")
    print(f"{'layer':<12}{'primal ms':>12}{'dual ms':>12}{'primal/dual':>14}{'max |diff|':>14}")
    with torch.no_grad():
        for name, primal, dual, params in [
            ("TTT-Linear", ttt_linear_primal, ttt_linear_dual, linear),
            ("TTT-MLP", ttt_mlp_primal, ttt_mlp_dual, mlp),
        ]:
            def run(fn, params=params):
                return fn(q, k, v, eta, lnw, lnb, TTTState.start(params), args.mini_batch)[0]

            diff = (run(primal) - run(dual)).abs().max().item()
            tp = timed(lambda fn=primal: run(fn), device, args.repeats)
            td = timed(lambda fn=dual: run(fn), device, args.repeats)
            print(f"{name:<12}{1e3 * tp:>12.1f}{1e3 * td:>12.1f}{tp / td:>14.1f}{diff:>14.2e}")


if __name__ == "__main__":
    main()
