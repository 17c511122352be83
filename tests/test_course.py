"""``python -m testtime.course run --jobs N``: which notebooks wait for which shared checkpoints,
the side-by-side scheduler (with a stand-in for papermill), and one real run of two tiny
notebooks two at a time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from testtime.course import (
    NotebookResult,
    checkpoint_dependencies,
    list_notebooks,
    main,
    run_notebooks,
    shared_checkpoints,
)

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_shared_checkpoints_ignore_device_and_verbosity(tmp_path):
    path = _notebook(
        tmp_path / "11_x.ipynb",
        'model = load_reasoner("small", device=run.device)\n'
        'orm = load_orm("small", device=run.device, verbose=False)\n'
        'prm = load_prm("small", device=run.device, **STEP_PRM)\n'
        'policy = load_rl_policy("grpo", seed=run.seed, device=run.device)',
    )
    assert shared_checkpoints(path) == {
        'load_reasoner("small")', 'load_orm("small")', 'load_prm("small", **STEP_PRM)',
        'load_rl_policy("grpo")',
    }


def test_course_notebooks_wait_for_the_ones_that_train_their_checkpoints():
    needs = checkpoint_dependencies(list_notebooks(ROOT / "notebooks"))
    short = {name[:2]: {d[:2] for d in deps} for name, deps in needs.items()}
    assert short["00"] == set() and short["06"] == set() and short["10"] == set()
    assert short["07"] == {"06"}  # the TTA source model is trained by 06
    assert "10" in short["17"]  # the reasoner is trained by 10
    if "11" in short:  # (11 may sit in notebooks/drafts)
        assert "10" in short["11"] and "11" in short["14"]  # the ORM, first loaded in 11
    if "19" in short:
        assert "15" in short["19"]  # the GRPO policy, first loaded in 15


def _fake_execute(path: Path, output: Path, parameters: dict) -> NotebookResult:
    """Stands in for papermill: records when it ran and writes the output. The first two
    notebooks each wait (up to a minute) until the other has started too."""
    start = time.time()
    output.parent.mkdir(parents=True, exist_ok=True)
    (output.parent / f"started-{path.stem}").touch()
    if path.stem in ("00_a", "01_b"):
        other = output.parent / ("started-01_b" if path.stem == "00_a" else "started-00_a")
        while not other.exists() and time.time() < start + 60:
            time.sleep(0.05)
    time.sleep(0.1)
    output.write_text(json.dumps({"start": start, "end": time.time(), "parameters": parameters}))
    return NotebookResult(path.name, True, 0.3, "full", "cpu")


def test_scheduler_runs_side_by_side_and_respects_dependencies(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    paths = [
        _notebook(notebooks / "00_a.ipynb", "x = 1"),
        _notebook(notebooks / "01_b.ipynb", "src = load_source(run)"),  # trains it
        _notebook(notebooks / "02_c.ipynb", "src = load_source(run)"),  # loads it
        _notebook(notebooks / "03_d.ipynb", "x = 2"),
    ]
    out = tmp_path / "build"
    seen = []
    results = run_notebooks(paths, out, {"QUICK": False}, jobs=2, execute=_fake_execute,
                            on_result=seen.append)
    assert [r.notebook for r in results] == [p.name for p in paths]  # course order
    assert len(seen) == 4 and all(r.ok for r in results)
    times = {p.name: json.loads((out / "executed" / p.name).read_text()) for p in paths}
    assert times["02_c.ipynb"]["start"] >= times["01_b.ipynb"]["end"], "02 started before 01 ended"
    assert times["01_b.ipynb"]["parameters"] == {"QUICK": False}
    overlaps = any(times[a.name]["start"] < times[b.name]["end"]
                   and times[b.name]["start"] < times[a.name]["end"]
                   for a in paths for b in paths if a != b)
    assert overlaps, "with jobs=2 no two notebooks ran at the same time"
    with pytest.raises(ValueError, match="jobs=0 is not valid"):
        run_notebooks(paths, out, jobs=0)


@pytest.mark.notebook
def test_course_run_with_two_jobs_writes_the_report(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("00_first.ipynb", "01_second.ipynb"):
        _notebook(folder / name, "QUICK = None", "print('testtime run: mode=quick device=cpu seed=0')")
    out = tmp_path / "build"
    assert main(["run", "--jobs", "2", "--out", str(out), "--notebooks", str(folder)]) == 0
    report = (out / "course_report.md").read_text()
    assert "2 at a time" in report and "wall clock" in report, report
    assert "| 00_first.ipynb | quick | cpu |" in report and "2/2 passed" in report, report
    record = json.loads((out / "course_report.json").read_text())
    assert record["jobs"] == 2 and [r["ok"] for r in record["notebooks"]] == [True, True]


def test_executed_notebooks_keep_the_text_of_widget_views(tmp_path):
    """A headless run saves no widget state: the executed copy keeps each view's text fallback
    (tqdm's last line) and drops the view, so it never reopens as "model not found"."""
    from testtime.course import WIDGET_VIEW, drop_widget_views

    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(8)): pass")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "100%|##########| 8/8"}),
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "def"}}),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]
    path = tmp_path / "run.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
    assert drop_widget_views(path) == 2
    outputs = nbformat.read(str(path), as_version=4).cells[0].outputs
    assert [dict(o.get("data", {})) for o in outputs[:1]] == [{"text/plain": "100%|##########| 8/8"}]
    assert len(outputs) == 2 and outputs[1].text == "done\n", outputs
    assert drop_widget_views(path) == 0, "a second pass finds nothing to drop"


def test_make_lab_turns_on_saving_widget_state():
    """`make lab` writes JupyterLab's settings override for the widget manager; the setting's
    name is checked against the installed extension's schema when it is there."""
    import sys

    assert ('{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}'
            in (ROOT / "Makefile").read_text()), "the lab target no longer saves widget state"
    schema = (Path(sys.prefix) / "share/jupyter/labextensions/@jupyter-widgets/"
              "jupyterlab-manager/schemas/@jupyter-widgets/jupyterlab-manager/plugin.json")
    if schema.exists():
        assert "saveState" in json.loads(schema.read_text())["properties"], schema
