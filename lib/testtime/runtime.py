"""The run every notebook starts from: device, quick/full mode, seeding, parameter checks.

Every notebook calls :func:`setup` right after its ``parameters`` cell, so that papermill
overrides (which may arrive as strings: ``-p QUICK true`` gives ``'true'``) take effect::

    run = testtime.setup(QUICK=QUICK, DEVICE=DEVICE, SEED=SEED, FIGURES_DIR=FIGURES_DIR)
    steps = run.pick(quick=200, full=5000)
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")

QUICK_ENV = "TESTTIME_QUICK"
THREADS_ENV = "TESTTIME_THREADS"
# torch threads for quick-mode runs on a CPU when neither setup(threads=...) nor
# TESTTIME_THREADS says otherwise; None keeps torch's default (one per core). See setup().
QUICK_CPU_THREADS: int | None = None
_TRUE = {"1", "true", "yes", "on", "quick", "y", "t"}
_FALSE = {"0", "false", "no", "off", "full", "n", "f"}
DEVICES = ("auto", "cpu", "cuda", "mps")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError naming both."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {choices}")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Return a positive (or non-negative) number, else raise a ValueError naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} is not valid; expected a number {bound}")
    return value


def parse_quick(value: Any) -> bool | None:
    """``QUICK``: None (auto), a bool, 0/1, or the strings true/false/yes/no/on/off/1/0/auto."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "auto", "null"):
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(
        f"QUICK={value!r} is not valid; use None/'auto', True/False, 1/0, or the strings "
        "'true'/'false', 'yes'/'no', 'on'/'off'"
    )


def parse_device(value: Any) -> torch.device:
    """``DEVICE``: 'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    if isinstance(value, torch.device):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"DEVICE={value!r} is not valid; choose one of {DEVICES} or 'cuda:N'")
    text = value.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = text.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"DEVICE={value!r} is not valid; choose one of {DEVICES} or 'cuda:N'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"DEVICE={value!r} is not valid on this machine: CUDA is not available; "
            "use 'auto' or 'cpu'"
        )
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ValueError(
            f"DEVICE={value!r} is not valid: only {torch.cuda.device_count()} CUDA device(s)"
        )
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"DEVICE={value!r} is not valid on this machine: MPS is not available")
    return torch.device(text)


def parse_seed(value: Any) -> int:
    """``SEED``: a non-negative integer (a string of digits is accepted too)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValueError(f"SEED={value!r} is not valid; expected an integer in [0, 2**32)")
    return value


def parse_threads(value: Any, name: str = "threads") -> int | None:
    """A torch thread count: None/'auto' (no choice made) or an integer >= 1 (or its digits)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto", "none")):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not valid; expected None, 'auto' or an int >= 1")
    return value


def choose_threads(threads: Any, device: torch.device, quick: bool) -> int | None:
    """The torch thread count a run asks for: ``threads`` if given, else ``$TESTTIME_THREADS``,
    else :data:`QUICK_CPU_THREADS` for quick mode on a CPU; None leaves torch's default."""
    chosen = parse_threads(threads)
    if chosen is None:
        chosen = parse_threads(os.environ.get(THREADS_ENV), THREADS_ENV)
    if chosen is None and quick and device.type == "cpu":
        chosen = QUICK_CPU_THREADS
    return chosen


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (and CUDA); on CPU also ask torch for determinism."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass(frozen=True)
class Run:
    """A resolved notebook run. ``pick(quick=..., full=...)`` chooses a size by mode."""

    device: torch.device
    quick: bool
    seed: int
    figures_dir: Path | None

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def pick(self, quick: T, full: T) -> T:
        return quick if self.quick else full

    def generator(self, offset: int = 0, device: torch.device | str | None = None) -> torch.Generator:
        """A fresh ``torch.Generator`` seeded from the run's seed (plus ``offset``)."""
        gen = torch.Generator(device=device or "cpu")
        gen.manual_seed(self.seed + offset)
        return gen

    def __str__(self) -> str:
        return f"mode={self.mode} device={self.device} seed={self.seed}"


def setup(
    QUICK: Any = None,  # noqa: N803 - the notebooks' parameter names
    DEVICE: Any = "auto",  # noqa: N803
    SEED: Any = 0,  # noqa: N803
    FIGURES_DIR: Any = None,  # noqa: N803
    *,
    threads: Any = None,
    verbose: bool = True,
) -> Run:
    """Resolve the notebook parameters into a :class:`Run` and seed everything.

    QUICK=None means quick on CPU and full on a GPU. The environment variable
    ``TESTTIME_QUICK=1`` (or ``0``) forces the mode whatever the notebook says, so that nbval,
    the grader and plain JupyterLab sessions can be made quick.

    ``threads`` sets torch's CPU thread count (``torch.set_num_threads``); without it the
    variable ``TESTTIME_THREADS`` does, else :data:`QUICK_CPU_THREADS` in quick mode on a CPU,
    else torch keeps its default of one thread per core. Why one may want fewer: the course's
    models are tiny (64-128 wide), so each op is too small to split well across threads, and
    on a machine shared with other work a waiting thread stalls every op. Measured on a
    2-core machine shared with other jobs (load average 8-15; torch 2.13 CPU wheel; seconds
    per step, the range over 3-4 alternating rounds; one thread / two threads): SFT of the
    reasoner (TinyGPT 2x64, batch 64) 0.10-0.21 / 0.92-5.4; a TinyGPT 2x128 on batch 32 x 128
    characters 1.1-2.8 / 4.5-6.7; the ConvNet on 16x16 digits, batch 64, 0.10-0.27 / 0.88-2.7;
    a TENT step 0.12-0.29 / 1.3-2.2 (issue 12 saw 0.067 / 0.336 for a TinyGPT). An idle machine
    was not measured. The thread count changes the order of float sums, so results (and
    models trained from scratch) differ slightly between thread counts.
    """
    device = parse_device(DEVICE)
    quick = parse_quick(QUICK)
    env = os.environ.get(QUICK_ENV)
    if env is not None and env.strip() != "":
        try:
            forced = parse_quick(env)
        except ValueError as err:
            raise ValueError(f"environment variable {QUICK_ENV}={env!r}: {err}") from None
        quick = forced if forced is not None else quick
    if quick is None:
        quick = device.type == "cpu"
    seed = parse_seed(SEED)
    figures_dir = None if FIGURES_DIR in (None, "", "None") else Path(str(FIGURES_DIR))
    n_threads = choose_threads(threads, device, quick)
    if n_threads is not None and n_threads != torch.get_num_threads():
        torch.set_num_threads(n_threads)
    seed_everything(seed, deterministic=device.type == "cpu")
    run = Run(device=device, quick=quick, seed=seed, figures_dir=figures_dir)
    if verbose:
        print(f"testtime run: {run}")
    return run
