"""The shipped reference checkpoints: present, current, loaded first, and reproducible.

``python -m testtime.checkpoints build`` makes them; a recipe change that is not followed by a
build fails ``test_every_reference_is_shipped``. The retrain test trains every recipe again on
this machine and checks that the new model lands within the reference's quality band of the
shipped one (on the machine that built them it is the same model; elsewhere float rounding
differs and the band is what a student's own retraining can expect).
"""

from __future__ import annotations

import hashlib

import pytest
import torch

from testtime import cache
from testtime.checkpoints import Reference, read_manifest, references, register

REFS = references()


def test_every_reference_is_shipped() -> None:
    manifest = read_manifest()
    folder = cache.shipped_dir()
    for ref in REFS:
        path = folder / ref.filename
        assert path.exists(), (f"{ref.filename} is not shipped: run "
                               "`python -m testtime.checkpoints build` after changing a recipe")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert manifest[ref.filename]["sha256"] == digest, f"{ref.filename}: manifest is stale"
    extra = {p.name for p in folder.glob("*.pt")} - {ref.filename for ref in REFS}
    assert not extra, f"shipped files no reference produces: {sorted(extra)}"
    total = sum(p.stat().st_size for p in folder.glob("*.pt"))
    assert total < 8e6, f"the shipped checkpoints take {total / 1e6:.1f} MB; keep them a few MB"


def test_load_or_train_prefers_shipped(tmp_path, monkeypatch) -> None:
    shipped, store = tmp_path / "shipped", tmp_path / "cache"
    shipped.mkdir()
    monkeypatch.setattr(cache, "shipped_dir", lambda: shipped)
    config = {"a": 1}
    torch.save({"from": "shipped"}, shipped / f"toy-{cache.config_key('toy', config)}.pt")
    trained = lambda: {"from": "training"}  # noqa: E731
    assert cache.load_or_train("toy", config, trained, directory=store) == {"from": "shipped"}
    assert not list(store.glob("*.pt")), "a shipped entry must not be copied into the cache"
    monkeypatch.setenv(cache.SHIPPED_ENV, "0")
    assert cache.load_or_train("toy", config, trained, directory=store) == {"from": "training"}
    monkeypatch.setenv(cache.SHIPPED_ENV, "1")
    (shipped / f"toy-{cache.config_key('toy', config)}.pt").write_text("version https://git-lfs")
    with pytest.warns(UserWarning, match="unreadable"):  # a broken shipped file: the cache serves
        assert cache.load_or_train("toy", config, trained, directory=store) == {"from": "training"}


def test_register_rejects_a_bad_band() -> None:
    with pytest.raises(ValueError, match="band="):
        register(Reference("x", {}, train=dict, quality=lambda r: {}, band={}))


RECIPES = [r for r in REFS if r.same_recipe_as is None]  # other seeds of a recipe: trained once


@pytest.mark.parametrize("ref", RECIPES, ids=[r.filename for r in RECIPES])
def test_retrained_reference_lands_in_band(ref: Reference) -> None:
    shipped = read_manifest()[ref.filename]["quality"]
    retrained = ref.quality(ref.train())
    for metric, band in ref.band.items():
        gap = abs(retrained[metric] - shipped[metric])
        assert gap <= band, (f"{ref.filename}: retrained {metric} = {retrained[metric]:.3f}, "
                             f"shipped {shipped[metric]:.3f}; allowed difference {band}")
