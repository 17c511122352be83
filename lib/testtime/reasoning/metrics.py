"""pass@k, accuracy by level, and compute accounting for the tiny reasoner."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from testtime.reasoning.task import Problem
from testtime.reasoning.verify import is_correct


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al. 2021,
    "Evaluating Large Language Models Trained on Code", arXiv 2107.03374, Eq. 1 and its
    numerically stable product form):

        pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k / i)

    the probability that at least one of ``k`` samples drawn without replacement from the
    ``n`` is correct.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}={value!r} is not valid; expected an int >= 0")
    if not 1 <= k <= n:
        raise ValueError(f"k={k!r} is not valid; expected 1 <= k <= n={n}")
    if c > n:
        raise ValueError(f"c={c!r} is not valid; expected 0 <= c <= n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def correctness(problems: Sequence[Problem], completions: Sequence[Sequence[str]],
                verifier: Callable[[Problem, str], bool] = is_correct) -> np.ndarray:
    """Boolean matrix ``(problems, samples)``: whether each completion is correct."""
    return np.array([[verifier(p, c) for c in cs] for p, cs in zip(problems, completions)],
                    dtype=bool)


def pass_at_k_by_level(problems: Sequence[Problem], correct: np.ndarray,
                       ks: Sequence[int]) -> dict[int, dict[int, float]]:
    """Mean unbiased pass@k over the problems of each level: ``{level: {k: value}}``."""
    n = correct.shape[1]
    out: dict[int, dict[int, float]] = {}
    for level in sorted({p.level for p in problems}):
        rows = [i for i, p in enumerate(problems) if p.level == level]
        out[level] = {
            k: float(np.mean([pass_at_k(n, int(correct[i].sum()), k) for i in rows])) for k in ks
        }
    return out


def generation_flops(flops_per_token: float, tokens: int, prompt_tokens: int = 0) -> float:
    """Forward FLOPs of processing ``tokens`` generated tokens (and, if given, the prompt
    tokens once), with ~2 x parameters per token ("Scaling Laws for Neural Language
    Models", Kaplan et al. 2020, arXiv 2001.08361; attention FLOPs neglected). Pass
    ``model.flops_per_token()`` as the first argument."""
    return float(flops_per_token) * (tokens + prompt_tokens)
