"""Compute utilization of LaCT's fast-weight update + apply versus chunk size.

"Test-Time Training Done Right" (arXiv 2505.23884) argues that tiny TTT mini-batches leave
the hardware idle: a chunk of ``b`` tokens costs a few matmuls with an inner dimension of
``b``, plus a fixed per-chunk overhead. This script times :func:`testtime.ttt.lact.lact_chunked`
(no Muon, no momentum) on one sequence for chunk sizes 16 ... 4096, counts its matmul FLOPs
with :func:`testtime.ttt.lact.lact_flops`, and prints the achieved GFLOP/s next to the rate of a
plain square matmul measured in the same run, so every number is a ratio on the same device.

    python benchmarks/lact_utilization.py                           # CPU, float32
    python benchmarks/lact_utilization.py --device cuda             # GPU, bfloat16 tensors
    python benchmarks/lact_utilization.py --device cuda --compile   # ... through torch.compile

``--dtype bf16`` (the default on a GPU) gives the kernels bfloat16 tensors; ``--dtype fp32``
keeps float32 tensors, under bf16 autocast on a GPU, which casts every matmul's inputs again
(about half the rate by itself, measured on an H200). ``--compile`` passes
``compiled=True`` to ``lact_chunked``: each chunk's work runs through ``torch.compile``, which
fuses the element-wise work between the matmuls.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from testtime.ttt.lact import lact_chunked, lact_flops

CHUNKS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call (the device synchronized before and after)."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def best_time(fn: Callable[[], object], device: torch.device, repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls, after one warm-up call."""
    fn()
    return min(seconds(fn, device) for _ in range(repeats))


def matmul_rate(size: int, device: torch.device, dtype: torch.dtype) -> float:
    """Achieved FLOP/s of one ``size x size`` matmul."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    return 2 * size**3 / best_time(lambda: a @ b, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["bf16", "fp32"], default=None,
                        help="tensor dtype (default: bf16 on a GPU, fp32 on a CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="run each chunk through torch.compile (lact_chunked(compiled=True))")
    parser.add_argument("--heads", type=int, default=None, help="batch x heads (default by device)")
    parser.add_argument("--dim", type=int, default=None, help="head dim d = d_h")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds over all chunks")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    heads = args.heads or (64 if gpu else 8)
    d = args.dim or (256 if gpu else 64)
    dtype = torch.bfloat16 if (args.dtype or ("bf16" if gpu else "fp32")) == "bf16" else torch.float32
    autocast = gpu and dtype == torch.float32  # fp32 tensors on a GPU: matmuls in bf16 anyway
    if args.compile:
        if not hasattr(torch, "compile"):
            parser.error("--compile needs torch.compile (torch >= 2.0)")
        for name in ("recompile_limit", "cache_size_limit"):  # one graph per chunk size
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 64)
    ref = matmul_rate(8192 if gpu else 1024, device, torch.bfloat16 if gpu else dtype)
    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(1, heads, args.tokens, d, device=device, generator=g).to(dtype)
               for _ in range(3))
    lr = torch.full((1, heads, args.tokens, 3), 1e-3, device=device, dtype=dtype)
    w = tuple((torch.randn(heads, d, d, device=device, generator=g) / d**0.5).to(dtype)
              for _ in range(3))
    flops = heads * lact_flops(args.tokens, d, d)
    print(f"device={device} dtype={dtype}{' under bf16 autocast' if autocast else ''} "
          f"compiled={args.compile} heads={heads} d=d_h={d} tokens={args.tokens}")
    print(f"square matmul: {ref / 1e9:.1f} GFLOP/s")
    print(f"{'chunk':>6} {'ms':>9} {'GFLOP/s':>9} {'% matmul':>9} {'x chunk 16':>10}")
    chunks = [c for c in CHUNKS if c <= args.tokens]

    def step(chunk: int) -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            lact_chunked(q, k, v, lr, w, chunk, compiled=args.compile)

    # interleaved rounds, fastest time per chunk size: robust to bursts of load from elsewhere
    best = {c: float("inf") for c in chunks}
    for _ in range(args.repeats + 1):  # the first round also warms up
        for c in chunks:
            best[c] = min(best[c], seconds(lambda c=c: step(c), device))
    base = flops / best[chunks[0]]
    for c in chunks:
        rate = flops / best[c]
        print(f"{c:>6} {1e3 * best[c]:>9.2f} {rate / 1e9:>9.1f} {100 * rate / ref:>8.1f}% "
              f"{rate / base:>9.1f}x")


if __name__ == "__main__":
    main()
