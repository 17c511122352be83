"""Every course notebook: conventions, then a full execution with papermill in quick mode.

Execution times go to build/notebook_times.json (one entry per notebook, updated per test).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from testtime.course import check_conventions, execute_notebook, list_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(ROOT / "notebooks")
REPORT = ROOT / "build" / "notebook_times.json"
CELL_TIMEOUT = 900  # seconds per cell (a cold cache trains the large reasoner in one cell)
NOTEBOOK_BUDGET = 1200  # seconds per notebook: a guard against runaway runs, not a speed claim
EXECUTED: dict[str, Path] = {}


def _record(name: str, seconds: float, ok: bool) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = {"seconds": round(seconds, 1), "ok": ok, "mode": "quick"}
    tmp = REPORT.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, REPORT)


def _stdout_lines(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += [ln for ln in out["text"].splitlines() if "(timing)" not in ln]
    return lines


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_course_tour.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_conventions(path):
    assert check_conventions(path) == []


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes_in_quick_mode(path, tmp_path):
    out = tmp_path / path.name
    result = execute_notebook(path, out, {"SEED": 0}, cell_timeout=CELL_TIMEOUT)
    _record(path.name, result.seconds, result.ok)
    assert result.ok, f"{path.name} failed: {result.error}"
    assert result.mode == "quick", "notebooks must run in quick mode under the tests"
    assert result.seconds < NOTEBOOK_BUDGET, f"{path.name} took {result.seconds:.0f} s"
    EXECUTED[path.name] = out


@pytest.mark.notebook
def test_same_seed_gives_identical_metrics(tmp_path):
    name = "00_course_tour.ipynb"
    first = EXECUTED.get(name)
    if first is None:
        first = tmp_path / "first.ipynb"
        assert execute_notebook(ROOT / "notebooks" / name, first, {"SEED": 0}).ok
    second = tmp_path / "second.ipynb"
    assert execute_notebook(ROOT / "notebooks" / name, second, {"SEED": 0}).ok
    a, b = _stdout_lines(first), _stdout_lines(second)
    assert any(re.search(r"\d\.\d{3}", line) for line in a), "no metrics were printed"
    assert a == b


def test_convention_checker_catches_problems(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# no badge"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi")]
    path = tmp_path / "00_bad.ipynb"
    nbformat.write(nb, str(path))
    problems = "\n".join(check_conventions(path))
    for expected in ("outputs", "Colab badge", "setup cell", "parameters", "asserts nothing"):
        assert expected in problems
    path.write_text("{not json")
    assert "not a valid notebook" in check_conventions(path)[0]


def test_papermill_sees_every_parameter():
    from papermill.translators import PythonTranslator

    from testtime.course import PARAMETERS, PARAMETERS_CELL

    found = [p.name for p in PythonTranslator.inspect({"source": PARAMETERS_CELL})]
    assert found == list(PARAMETERS)


def test_exercise_checker_wants_a_why_in_every_solution_region():
    from testtime.course import exercise_problems

    def exercise(i, body):
        statement = nbformat.v4.new_markdown_cell(
            f"**Exercise {i} (1 point · ★ · 5 min): e{i}.** Do it.\n\n*Hint.* Think.")
        solution = nbformat.v4.new_code_cell(f"def f{i}():\n    ### BEGIN SOLUTION\n{body}"
                                             "    ### END SOLUTION")
        solution.metadata = {"tags": ["solution"], "testtime": {
            "exercise": f"e{i}", "title": f"e{i}", "difficulty": 1, "minutes": 5}}
        grader = nbformat.v4.new_code_cell(f"assert f{i}() == 1, 'f should return 1'")
        grader.metadata = {"tags": ["grader"], "testtime": {"exercise": f"e{i}", "points": 1}}
        return [statement, solution, grader]

    why = "    # Why: one is the answer.\n    return 1\n"
    cells = exercise(1, why) + exercise(2, why) + exercise(3, why)
    assert exercise_problems(cells) == []
    cells[4].source = cells[4].source.replace("# Why: one is the answer.", "# one")
    problems = exercise_problems(cells)
    assert len(problems) == 1 and "exercise e2" in problems[0] and "# Why:" in problems[0], problems
