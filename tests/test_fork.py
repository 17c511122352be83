"""A fork renamed with tools/fork.py passes the course checks, and the setup cell explains a
failed install. Everything runs in a temporary copy of the repository, never in place."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testtime.course import REPO, SETUP_CELL, list_notebooks

ROOT = Path(__file__).resolve().parents[1]
FORK = "alice-example/ttc-fork"
COPIED = ("notebooks", "lib", "tools", "assignments", "README.md", "syllabus.md", "CITATION.cff",
          "CONTRIBUTING.md", "pyproject.toml", "environment.yml")


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd / "lib")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def forked(tmp_path_factory) -> Path:
    root = _copy_repo(tmp_path_factory.mktemp("fork"))
    done = _run(["tools/fork.py", FORK], root)
    assert done.returncode == 0, f"tools/fork.py failed:\n{done.stdout}\n{done.stderr}"
    return root


def test_the_fork_names_itself_everywhere(forked):
    leftovers = [str(p.relative_to(forked)) for p in forked.rglob("*")
                 if p.is_file() and p.suffix in (".py", ".md", ".ipynb", ".cff", ".toml", ".yml")
                 and REPO in p.read_text(encoding="utf-8")]
    assert leftovers == [], f"the upstream name {REPO} is still in {leftovers}"
    readme = (forked / "README.md").read_text()
    for path in list_notebooks(forked / "notebooks"):
        badge = f"https://colab.research.google.com/github/{FORK}/blob/main/notebooks/{path.name}"
        assert badge in readme, f"README has no Colab link to {FORK}'s {path.name}"
        student = (forked / "assignments" / path.name).read_text()
        assert f"github/{FORK}/blob/main/assignments/{path.name}" in student, (
            f"the student version of {path.name} does not open {FORK}'s copy in Colab")
        assert f"git+https://github.com/{FORK}.git" in student, (
            f"the setup cell of the student version of {path.name} does not install from {FORK}")


def test_the_fork_passes_the_course_checks(forked):
    check = _run(["-m", "testtime.course", "check"], forked)
    assert check.returncode == 0, f"`python -m testtime.course check` in the fork:\n{check.stdout}"
    stale = _run(["-m", "testtime.assignments", "build", "--check"], forked)
    assert stale.returncode == 0, f"assignments/ is stale in the fork:\n{stale.stdout}"


def test_fork_rejects_a_malformed_name(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from fork import fork
    finally:
        sys.path.remove(str(ROOT / "tools"))
    for bad in ("no-slash", "a/b/c", "-owner/name", "owner/"):
        with pytest.raises(ValueError, match="repo="):
            fork(bad, root=tmp_path)


def test_setup_cell_says_what_to_do_when_the_install_fails(tmp_path):
    # -S hides site-packages (so the library is missing) and the install target does not
    # exist (so pip fails at once, without the network).
    url = f"git+https://github.com/{REPO}.git"
    assert url in SETUP_CELL, f"the setup cell no longer installs from {url}"
    cell = SETUP_CELL.replace(url, str(tmp_path / "missing"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_NO_INDEX"] = "1"
    done = subprocess.run([sys.executable, "-S", "-c", cell], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert done.returncode != 0 and last.startswith("RuntimeError: pip could not install"), (
        f"expected a RuntimeError naming the failed install, got rc={done.returncode}: {last!r}")
    assert "pip install -e ." in last and "lib/testtime" in last, (
        f"the message should say what to do instead (pip install -e ., or upload lib/testtime): {last!r}")
    assert "CalledProcessError" not in done.stderr, "the failure should not surface as CalledProcessError"
