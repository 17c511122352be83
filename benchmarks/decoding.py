"""Decoding speed of the tiny reasoner, measured side by side in one run (ratios, not limits).

    python benchmarks/decoding.py [--device cpu|cuda] [--problems 8]

1. naive decoding (recompute the prefix every step) vs KV-cached, batch 1, vs KV-cached batched;
2. plain greedy decoding vs model-free speculative decoding (prompt lookup), one sequence at a
   time, with identical outputs checked;
3. one attention layer decoding a whole completion: appending each token's keys with
   ``torch.cat`` (a copy of the whole cache) vs writing them into :class:`KVCache`'s buffer, at
   the reasoner's shapes, with equal outputs checked.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from testtime.models import KVCache
from testtime.reasoning import (
    BLOCK_SIZE,
    EOS_ID,
    PAD_ID,
    PROMPT_LEN,
    encode_prompts,
    load_reasoner,
    make_problems,
)
from testtime.search.speculative import prompt_lookup_draft, speculative_generate


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that the clock measures it (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int = 1):
    """The output of ``fn()`` and the fastest of ``repeats`` synchronized wall times."""
    best, out = float("inf"), None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return out, best


def generated_tokens(out: torch.Tensor) -> int:
    return int((out[:, PROMPT_LEN:] != PAD_ID).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--problems", type=int, default=8, help="problems per difficulty level")
    parser.add_argument("--repeats", type=int, default=None,
                        help="best of this many timed runs (default: 3 on a GPU, 1 on a CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = args.repeats or (1 if device.type == "cpu" else 3)
    model = load_reasoner("small", device=args.device, verbose=False)
    problems = make_problems(args.problems, seed=7, split="test")
    prompts = encode_prompts(problems, device=args.device)
    max_new = BLOCK_SIZE - PROMPT_LEN
    kw = dict(temperature=1.0, stop_tokens=[EOS_ID], pad_token=PAD_ID)

    def sample(rows, use_cache):
        gen = torch.Generator(device=args.device).manual_seed(0)
        return model.generate(rows, max_new, generator=gen, use_cache=use_cache, **kw)

    few = prompts[:8]
    many = prompts.repeat(16, 1)
    for rows, use_cache in ((few[:1], False), (few[:1], True), (many, True)):  # warm-up
        sample(rows, use_cache)
    naive, t_naive = timed(lambda: [sample(few[i : i + 1], False) for i in range(len(few))],
                           device, repeats)
    cached1, t_cached1 = timed(lambda: [sample(few[i : i + 1], True) for i in range(len(few))],
                               device, repeats)
    batched, t_batched = timed(lambda: sample(many, True), device, repeats)
    rate = {
        "naive, batch 1": sum(map(generated_tokens, naive)) / t_naive,
        "KV cache, batch 1": sum(map(generated_tokens, cached1)) / t_cached1,
        f"KV cache, batch {len(many)}": generated_tokens(batched) / t_batched,
    }
    print(f"device {device}: sampling tokens/s (best of {repeats}, after a warm-up)")
    for name, value in rate.items():
        print(f"  {name:>22}: {value:10.0f}  ({value / rate['naive, batch 1']:.1f}x naive)")

    greedy_rows, t_plain = timed(lambda: [
        model.generate(prompts[i : i + 1], max_new, temperature=0, stop_tokens=[EOS_ID],
                       pad_token=PAD_ID) for i in range(len(prompts))], device, repeats)
    spec, t_spec = timed(lambda: [
        speculative_generate(model, prompts[i].tolist(), max_new, prompt_lookup_draft, k=4,
                             stop_tokens=[EOS_ID]) for i in range(len(prompts))], device, repeats)
    same = all(row[0, PROMPT_LEN:].tolist()[: len(out)] == out
               for row, (out, _) in zip(greedy_rows, spec))
    tokens = sum(s.generated for _, s in spec)
    passes = sum(s.forward_passes for _, s in spec)
    print(f"greedy, one sequence at a time ({len(prompts)} problems, identical outputs: {same})")
    print(f"  {'plain':>22}: {tokens / t_plain:10.0f} tokens/s, 1.00 tokens per forward pass")
    print(f"  {'speculative (lookup)':>22}: {tokens / t_spec:10.0f} tokens/s, "
          f"{tokens / passes:.2f} tokens per forward pass  ({t_plain / t_spec:.2f}x plain)")

    B, H, D = len(many), model.config.n_head, model.config.n_embd // model.config.n_head
    steps = BLOCK_SIZE - PROMPT_LEN
    prompt_kv = torch.randn(B, H, PROMPT_LEN, D, device=device)
    new = torch.randn(steps, B, H, 1, D, device=device)

    def with_cat():
        k = prompt_kv
        for t in range(steps):
            k = torch.cat([k, new[t]], dim=2)
            y = F.scaled_dot_product_attention(new[t], k, k)
        return y

    def with_buffer():  # the buffer's allocation is timed too
        cache = KVCache(prompt_kv, prompt_kv)
        for t in range(steps):
            cache = cache.append(new[t], new[t], BLOCK_SIZE)
            y = F.scaled_dot_product_attention(new[t], cache.keys, cache.values)
        return y

    with_cat(), with_buffer()  # warm-up
    y_cat, t_cat = timed(with_cat, device, repeats)
    y_buf, t_buf = timed(with_buffer, device, repeats)
    print(f"one attention layer, a {PROMPT_LEN}-token prompt then {steps} one-token steps, "
          f"batch {B} (equal outputs: {torch.allclose(y_cat, y_buf, atol=1e-5)})")
    print(f"  {'torch.cat cache':>22}: {t_cat / steps * 1e3:7.3f} ms per step")
    print(f"  {'KVCache buffer':>22}: {t_buf / steps * 1e3:7.3f} ms per step  "
          f"({t_cat / t_buf:.2f}x torch.cat)")


if __name__ == "__main__":
    main()
