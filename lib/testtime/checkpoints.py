"""Reference checkpoints shipped with the library, so that every machine starts from the same weights.

The models that notebooks *load* (the tiny reasoners, their verifiers, the RL policy, the Part
II source ConvNet, notebook 09's jointly trained networks) are small: a few MB in all. Trained
from scratch they differ from machine to machine (another CPU's vector width or another thread
count changes the float rounding, and a few thousand optimiser steps amplify it), and the
course's asserts would then depend on which machine trained them. So the library ships one
trained copy of each, made by

    python -m testtime.checkpoints build        # retrain every reference into lib/testtime/shipped/

and :func:`testtime.cache.load_or_train` looks in that folder before the cache: the same
``load_*`` calls load them, and anything not shipped is still trained on demand and cached.
``TESTTIME_SHIPPED=0`` turns the shipped folder off (everything is trained from scratch).

Each part registers its references with :func:`register` (the core imports no part: the
command imports the parts by name, as ``models.get_mixer`` does). A reference knows its cache
name and config, how to train it, and how to measure its quality; ``manifest.json`` records
each file's hash and quality, and ``tests/test_checkpoints.py`` retrains every recipe and checks
that the new model lands within the reference's band of the shipped one.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from testtime.cache import atomic_save, atomic_write_text, config_key, shipped_dir

# the modules that register references (imported by name: the core imports no part)
PARTS = ("testtime.reasoning.sft", "testtime.search.trained", "testtime.rl.policies",
         "testtime.tta.source", "testtime.tta.joint_nets")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Reference:
    """One shipped checkpoint: the cache entry ``name``/``config`` that ``train()`` produces.

    ``quality(result)`` measures the trained result (a few seconds on a CPU) and returns named
    metrics; a retrained model must land within ``band[metric]`` of the shipped one's.
    ``same_recipe_as`` names the file of a reference trained by the same recipe with another
    seed: the retrain test trains each recipe once.
    """

    name: str
    config: dict[str, Any]
    train: Callable[[], Any]
    quality: Callable[[Any], dict[str, float]]
    band: dict[str, float] = field(default_factory=dict)
    same_recipe_as: str | None = None

    @property
    def key(self) -> str:
        return config_key(self.name, self.config)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.key}.pt"


REFERENCES: dict[str, Reference] = {}


def register(reference: Reference) -> Reference:
    """Add a reference; its ``filename`` (cache name + config hash) identifies it."""
    if not reference.band or not all(isinstance(v, float) and v > 0
                                     for v in reference.band.values()):
        raise ValueError(f"band={reference.band!r} is not valid; expected a non-empty dict "
                         "metric -> allowed absolute difference (a float > 0)")
    REFERENCES[reference.filename] = reference
    return reference


def references() -> list[Reference]:
    """Every registered reference, in registration order (dependencies first)."""
    for part in PARTS:
        importlib.import_module(part)
    return list(REFERENCES.values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    path = (folder or shipped_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def build(select: list[str] | None = None, *, folder: Path | None = None) -> dict[str, Any]:
    """Retrain the selected references (all by default) into ``folder`` and update the manifest.

    Dependencies load from ``folder`` (a verifier is trained on the shipped reasoner), so build
    all of them, in order, after changing a recipe.
    """
    folder = folder or shipped_dir()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    for ref in references():
        if select and not any(s in ref.filename for s in select):
            continue
        start = time.perf_counter()
        result = ref.train()
        path = folder / ref.filename
        atomic_save(result, path)
        metrics = ref.quality(result)
        manifest[ref.filename] = {
            "name": ref.name,
            "sha256": _sha256(path),
            "bytes": path.stat().st_size,
            "quality": {k: round(v, 4) for k, v in metrics.items()},
            "band": ref.band,
            "trained_with": f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        }
        print(f"{ref.filename}: {metrics} ({time.perf_counter() - start:.0f} s)")
    known = {ref.filename for ref in references()}
    for stale in sorted(set(manifest) - known):  # a recipe changed: its old file is dead weight
        (folder / stale).unlink(missing_ok=True)
        del manifest[stale]
    atomic_write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", folder / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testtime.checkpoints",
                                     description="build or list the shipped reference checkpoints")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="retrain references into lib/testtime/shipped/")
    b.add_argument("select", nargs="*", help="substrings of file names (default: all)")
    sub.add_parser("list", help="list the references and their recorded quality")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.select or None)
        return 0
    manifest = read_manifest()
    for ref in references():
        entry = manifest.get(ref.filename)
        status = f"{entry['bytes'] / 1e3:.0f} kB {entry['quality']}" if entry else "NOT SHIPPED"
        print(f"{ref.filename}: {status}")
    return 0


if __name__ == "__main__":  # run the imported module's main: the parts register there
    from testtime.checkpoints import main as _main

    sys.exit(_main())
