import os
import stat

import torch

from testtime.cache import atomic_save, atomic_write_text, config_key, load_or_train


def test_trains_once_then_loads(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return {"w": torch.arange(3.0)}

    first = load_or_train("m", {"a": 1}, train, directory=tmp_path, verbose=False)
    second = load_or_train("m", {"a": 1}, train, directory=tmp_path, verbose=False)
    assert len(calls) == 1 and torch.equal(first["w"], second["w"])
    load_or_train("m", {"a": 2}, train, directory=tmp_path, verbose=False)
    assert len(calls) == 2  # another config, another entry


def test_key_ignores_dict_order():
    assert config_key("m", {"a": 1, "b": 2}) == config_key("m", {"b": 2, "a": 1})
    assert config_key("m", {"a": 1}) != config_key("n", {"a": 1})


def test_corrupt_entry_is_retrained(tmp_path):
    load_or_train("m", {"a": 1}, lambda: {"x": 1}, directory=tmp_path, verbose=False)
    (path,) = tmp_path.glob("m-*.pt")
    path.write_bytes(path.read_bytes()[:10])  # a partial write
    calls = []
    result = load_or_train(
        "m", {"a": 1}, lambda: calls.append(1) or {"x": 2}, directory=tmp_path, verbose=False
    )
    assert result == {"x": 2} and calls == [1]
    assert load_or_train("m", {"a": 1}, lambda: {"x": 3}, directory=tmp_path, verbose=False) == {"x": 2}


def test_failed_training_leaves_nothing_behind(tmp_path):
    def boom():
        raise RuntimeError("interrupted")

    try:
        load_or_train("m", {}, boom, directory=tmp_path, verbose=False)
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    atomic_save({"a": 1}, tmp_path / "x.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_atomic_writes_are_readable_by_others(tmp_path):
    """Checkpoints get the permissions of a plain open() (not mkstemp's owner-only 0600): the
    grader's sandboxed kernels run as other users and must read shipped and cached models."""
    old = os.umask(0o022)
    try:
        atomic_save({"w": torch.ones(2)}, tmp_path / "a.pt")
        atomic_write_text("{}", tmp_path / "b.json")
    finally:
        os.umask(old)
    for name in ("a.pt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_bad_names_are_rejected(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="name="):
        load_or_train("a/b", {}, dict, directory=tmp_path)
