"""tools/strip_outputs.py removes outputs and saved widget state, and the committed notebooks
(instructor and student versions) carry neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "strip_outputs.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)


def test_strip_removes_outputs_counts_and_widget_state(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.execution_count = 3
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, str(path))
    assert _run("--check", str(path)).returncode == 1, "--check should fail on an executed notebook"
    assert _run(str(path)).returncode == 0, "stripping should succeed"
    out = nbformat.read(str(path), as_version=4)
    kept = out.cells[0]
    assert (kept.outputs, kept.execution_count) == ([], None), (
        f"outputs/count left: {kept.outputs!r}, {kept.execution_count!r}")
    assert "widgets" not in out.metadata, f"widget state left: {sorted(out.metadata)}"
    assert kept.metadata == {"tags": ["parameters"]}, f"tags must survive, got {kept.metadata}"
    assert _run("--check", str(path)).returncode == 0, "a stripped notebook should pass --check"


def test_committed_notebooks_are_stripped():
    paths = sorted(str(p) for folder in ("notebooks", "assignments")
                   for p in (ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    done = _run("--check", *paths)
    assert done.returncode == 0, f"run `python tools/strip_outputs.py` on:\n{done.stdout}"
