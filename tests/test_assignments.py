"""Student versions and the grader (testtime.assignments).

Grading runs are real (a kernel per run, plus one reference run of the instructor notebook
per seed, cached) but use the small fixture notebook tests/fixtures/90_grading_fixture.ipynb
(plain Python, four exercises worth 2+1+3+1 points); one test grades the real course
notebook 03 end to end and measures the time the README quotes. The attacks of issue 17 are
in tests/test_grading_attacks.py, the class-folder cases in tests/test_grading_class.py.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from testtime.assignments import assemble, build, grade_notebook, grader_cells, student_version
from testtime.assignments.__main__ import main
from testtime.assignments.assemble import GUARD_ID
from testtime.assignments.build import (
    SOLUTION_BEGIN,
    SOLUTION_END,
    BuildError,
    render,
    replace_regions,
)
from testtime.assignments.checks import answer_names
from testtime.course import ROOT, list_notebooks

FIXTURE = Path(__file__).parent / "fixtures" / "90_grading_fixture.ipynb"
NAME = FIXTURE.name
POINTS = {"ex-topk": 2, "ex-mean": 1, "ex-softmax": 3, "ex-count": 1}
REAL = ROOT / "notebooks" / "03_test_time_regression.ipynb"
SEED = 1234


def instructor() -> nbformat.NotebookNode:
    return nbformat.read(str(FIXTURE), as_version=4)


def student() -> nbformat.NotebookNode:
    return student_version(instructor(), NAME)


def cell(nb: nbformat.NotebookNode, cid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cid)


def answer(nb: nbformat.NotebookNode, exercise: str, source: str | None = None):
    """Put ``source`` (default: the instructor's solution) into an exercise's cell."""
    if source is None:
        source = cell(instructor(), exercise).source
    cell(nb, exercise).source = source
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def grade(path: Path, **kwargs):
    kwargs.setdefault("cell_timeout", 60)
    kwargs.setdefault("total_timeout", 300)
    kwargs.setdefault("seed", SEED)
    report = grade_notebook(path, notebooks=[FIXTURE], **kwargs)
    return report, {e.exercise: e.points for e in report.exercises}


# --- student versions (no kernel) ---------------------------------------------------------


def test_replace_regions_keeps_indentation_and_handles_several_regions():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n" \
          "### BEGIN SOLUTION\nz = 2\n### END SOLUTION\nprint(z)"
    new, count = replace_regions(src, SOLUTION_BEGIN, SOLUTION_END, "raise E('a')\n# b")
    assert count == 2
    assert new == "def f(x):\n    y = 1\n    raise E('a')\n    # b\nraise E('a')\n# b\nprint(z)"
    for bad in ("### BEGIN SOLUTION\nx", "x\n### END SOLUTION",
                "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"):
        with pytest.raises(BuildError):
            replace_regions(bad, SOLUTION_BEGIN, SOLUTION_END, "stub")


def test_student_version_hides_solutions_and_hidden_tests_and_is_deterministic(tmp_path):
    nb, inst = student(), instructor()
    text = render(nb)
    assert text == render(student_version(instructor(), NAME))  # byte for byte
    assert "sorted(xs, reverse=True)" not in text and "statistics" not in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert nb.cells[-1].source == inst.cells[-1].source  # the narrative is untouched
    assert cell(nb, "cell-03").source == cell(inst, "cell-03").source
    for exercise in POINTS:
        src = cell(nb, exercise).source
        assert f'NotImplementedError("exercise {exercise}:' in src
        compile(src, exercise, "exec")  # still valid Python (indented stubs included)
    assert '    raise NotImplementedError("exercise ex-topk' in cell(nb, "ex-topk").source
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids) and {c.id for c in inst.cells} <= set(ids)
    assert nb.metadata["testtime"] == {"notebook": NAME, "exercises": list(POINTS)}
    assert "assignments/90_grading_fixture.ipynb" in nb.cells[0].source

    out = tmp_path / "assignments"
    first = build([FIXTURE], out)
    assert first.written == [NAME]
    assert (out / NAME).read_text() == text
    (out / "91_gone.ipynb").write_text("{}")
    (out / NAME).write_text(text.replace("YOUR CODE", "MY CODE"))
    stale = build([FIXTURE], out, check=True)
    assert stale.written == [NAME] and stale.removed == ["91_gone.ipynb"]
    build([FIXTURE], out)
    assert build([FIXTURE], out, check=True).written == [] and not (out / "91_gone.ipynb").exists()


def test_build_rejects_a_solution_cell_without_markers():
    nb = instructor()
    cell(nb, "ex-mean").source = "def mean(xs):\n    return 0"
    with pytest.raises(BuildError, match="ex-mean"):
        student_version(nb, NAME)


def test_assemble_restores_edited_deleted_moved_and_forged_test_cells():
    nb = answer(student(), "ex-topk")
    cell(nb, "ex-topk-test").source = "pass  # edited"
    nb.cells = [c for c in nb.cells if c.id != "ex-mean-test"]  # deleted
    moved = cell(nb, "ex-softmax-test")
    nb.cells.remove(moved)
    nb.cells.insert(2, moved)  # moved above its solution
    forged = copy.deepcopy(cell(nb, "ex-count-test"))
    forged.id, forged.source = "forged", "assert True"
    nb.cells.append(forged)  # a copied test cell: dropped
    nb.cells.insert(5, nbformat.v4.new_code_cell("helper = 1", id="added"))
    graded, notes = assemble(instructor(), nb)
    ids = [c.id for c in graded.cells]
    assert ids[0] == GUARD_ID and "added" in ids and "forged" not in ids
    inst = instructor()
    for test in grader_cells(inst):
        restored = cell(graded, test.id)
        assert restored.source == cell(inst, test.id).source  # hidden tests included
        assert ids.index(test.id) == ids.index(test.exercise) + 1
    assert any("ex-mean-test" in n for n in notes)
    assert any("ex-topk-test" in n and "edited" in n for n in notes)
    assert not any("ex-count-test" in n for n in notes)  # untouched: nothing to say


def test_assemble_without_cell_ids_uses_the_cell_metadata():
    """Front ends that drop nbformat 4.5 ids still keep cell metadata (tags, testtime)."""
    nb = answer(student(), "ex-topk")
    nb.nbformat_minor = 4
    for c in nb.cells:
        del c["id"]
    cell_sources = [c.source for c in nb.cells]
    graded, _ = assemble(instructor(), nb)
    ids = [c.id for c in graded.cells]
    inst = instructor()
    for test in grader_cells(inst):
        at = ids.index(test.id)
        assert graded.cells[at].source == cell(inst, test.id).source
        assert graded.cells[at - 1].metadata["testtime"]["exercise"] == test.exercise
    assert len(graded.cells) == len(cell_sources) + 1  # the guard; no test cell duplicated
    nbformat.validate(graded)


# --- grading (each run starts a kernel) ---------------------------------------------------


def test_instructor_version_scores_full_points():
    report, points = grade(FIXTURE)
    assert points == POINTS and report.points == report.possible == 7
    assert report.narrative_failures == [] and report.runs == 1


def test_student_version_scores_zero_and_its_narrative_runs(tmp_path):
    report, points = grade(write(student(), tmp_path / "alice.ipynb"))
    assert points == dict.fromkeys(POINTS, 0)
    assert report.narrative_cells == 3 and report.narrative_failures == []
    assert all(e.status == "failed" and e.message for e in report.exercises)
    # it ran in a temporary copy: nothing was written beside the submission or in the repo
    assert not list(tmp_path.rglob("narrative_ran.txt"))
    assert not list(ROOT.glob("**/narrative_ran.txt"))


def test_tampered_test_cells_score_exactly_like_the_honest_submission(tmp_path, capsys):
    honest = answer(answer(student(), "ex-topk"), "ex-mean")
    answer(honest, "ex-softmax", cell(honest, "ex-softmax").source.replace(
        'raise NotImplementedError("exercise ex-softmax: replace this line with your solution")',
        "return [1.0 for _ in xs]", 1))  # wrong: softmax must sum to 1
    tampered = copy.deepcopy(honest)
    for test in ("ex-softmax-test", "ex-count-test"):
        cell(tampered, test).source = "pass"
    cell(tampered, "ex-count-test").metadata["testtime"]["points"] = 100
    tampered.cells = [c for c in tampered.cells if c.id != "ex-topk-test"]
    tampered.cells.insert(4, nbformat.v4.new_markdown_cell("my notes"))
    tampered.metadata.pop("testtime")  # identified by its file name instead
    folder = tmp_path / "class"
    write(honest, folder / "honest.ipynb")
    write(tampered, folder / "tampered" / NAME)
    out = tmp_path / "grades"
    assert main(["grade", str(folder), "--out", str(out), "--notebooks", str(FIXTURE.parent),
                 "--cell-timeout", "60", "--seed", str(SEED)]) == 0
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [(r["student"], r["points"], r["possible"]) for r in rows] == [
        ("honest", "3", "7"), ("tampered", "3", "7")]
    reports = [json.loads((out / s / "90_grading_fixture.json").read_text())
               for s in ("honest", "tampered")]
    assert [[e["points"] for e in r["exercises"]] for r in reports] == [[2, 1, 0, 0]] * 2
    assert "failed" in (out / "tampered" / "90_grading_fixture.md").read_text()
    detail = list(csv.DictReader((out / "grades_by_exercise.csv").open()))
    assert len(detail) == 8


def test_infinite_loop_times_out_and_the_other_exercises_are_graded(tmp_path):
    nb = student()
    for exercise in POINTS:
        answer(nb, exercise)
    answer(nb, "ex-topk", "def top_k(xs, k):\n    while True:\n        pass")
    report, points = grade(write(nb, tmp_path / "loop.ipynb"), cell_timeout=4)
    assert points == {**POINTS, "ex-topk": 0}
    assert "ran past the 4 s limit" in report.exercises[0].message


def test_exit_calls_and_megabytes_of_output_cost_only_their_exercise(tmp_path):
    nb = student()
    answer(nb, "ex-topk", "print('x' * 5_000_000)\n" + cell(instructor(), "ex-topk").source)
    answer(nb, "ex-mean", "import sys\nsys.exit(3)")
    answer(nb, "ex-softmax", "exit()")
    answer(nb, "ex-count", "import os\nos._exit(1)")
    report, points = grade(write(nb, tmp_path / "exits.ipynb"))
    assert points == {"ex-topk": 2, "ex-mean": 0, "ex-softmax": 0, "ex-count": 0}
    assert report.runs == 1  # the guard kept the kernel alive


def test_a_cell_that_kills_the_kernel_costs_only_its_exercise(tmp_path):
    nb = student()
    for exercise in POINTS:
        answer(nb, exercise)
    answer(nb, "ex-mean", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    answer(nb, "ex-softmax", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                             "while True:\n    time.sleep(0.1)")  # deaf to nbval's interrupt
    report, points = grade(write(nb, tmp_path / "crash.ipynb"), cell_timeout=3)
    assert points == {**POINTS, "ex-mean": 0, "ex-softmax": 0}
    assert report.runs == 3
    messages = {e.exercise: e.message for e in report.exercises}
    assert "kernel died" in messages["ex-mean"] and "kernel died" in messages["ex-softmax"]


def test_a_dead_kernel_is_noticed_at_once_not_after_the_cell_timeout(tmp_path):
    nb = student()
    for exercise in POINTS:
        answer(nb, exercise)
    answer(nb, "ex-topk", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    report, points = grade(write(nb, tmp_path / "crash.ipynb"), cell_timeout=600)
    assert points == {**POINTS, "ex-topk": 0}
    assert report.runs == 2 and report.seconds < 120, report.seconds  # far below 600 s


def test_the_overall_limit_stops_the_run_and_its_kernel(tmp_path):
    nb = answer(student(), "ex-topk", "import time\nwhile True:\n    time.sleep(0.1)")
    keep = tmp_path / "run"
    report, points = grade(write(nb, tmp_path / "slow.ipynb"), cell_timeout=600,
                           total_timeout=40, keep=keep)
    assert sum(points.values()) == 0
    assert all("overall limit" in e.message for e in report.exercises)
    assert report.seconds < 120
    pid = int((keep / "run-1" / "kernel.pid").read_text())
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()


def test_malformed_or_unknown_notebooks_get_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text('{"cells": [')
    unknown = write(nbformat.v4.new_notebook(), tmp_path / "homework.ipynb")
    for path, expected in ((bad, "not a valid .ipynb"), (unknown, "cannot tell which")):
        proc = subprocess.run(
            [sys.executable, "-m", "testtime.assignments", "grade", str(path), "--out",
             str(tmp_path / "g"), "--notebooks", str(FIXTURE.parent)],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode != 0
        assert expected in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not REAL.exists(), reason="notebooks/03_test_time_regression.ipynb missing")
def test_a_course_notebook_graded_end_to_end(tmp_path, monkeypatch):
    """The real notebook 03: the student version with the first exercise solved scores
    exactly that exercise, every narrative cell runs, and the time (the reference run of the
    instructor notebook plus the submission) is what the README quotes."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: no spinning threads
    inst = nbformat.read(str(REAL), as_version=4)
    tests = grader_cells(inst)
    assert len(tests) >= 1
    nb = student_version(inst, REAL.name)
    first = tests[0].exercise
    cell(nb, first).source = cell(inst, first).source
    path = write(nb, tmp_path / "bob" / REAL.name)
    start = time.monotonic()
    report = grade_notebook(path, cell_timeout=1200, total_timeout=3000, seed=SEED)
    seconds = time.monotonic() - start
    print(f"\ngrading {REAL.name}: {seconds:.0f} s in all, {report.seconds:.0f} s for the "
          f"submission itself ({report.isolation} isolation)")
    assert [e.points for e in report.exercises] == [tests[0].points] + [0] * (len(tests) - 1)
    assert report.narrative_failures == [] and report.narrative_cells > 3
    assert seconds < 600, f"grading one notebook took {seconds:.0f} s (README: about 1 minute)"


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_student_versions_of_course_notebooks_are_well_formed(path):
    """Static checks on every course notebook's student version: nothing of the solutions or
    hidden tests left, every code cell still compiles, and no cell outside an exercise uses a
    name that only an exercise's solution defines (so the student version runs)."""
    inst = nbformat.read(str(path), as_version=4)
    nb = student_version(inst, path.name)
    text = render(nb)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for c in nb.cells:
        if c.cell_type == "code":
            compile(c.source, f"{path.name}:{c.id}", "exec")
    tests = grader_cells(inst)
    solutions = {t.exercise for t in tests}
    assert len(tests) >= 3 or path.name.startswith("00"), "fewer than 3 graded exercises"
    exercise_cells = solutions | {t.id for t in tests}
    code = [c for c in inst.cells if c.cell_type == "code"]
    narrative = [c for c in code if c.id not in exercise_cells]
    only_in_solutions = set().union(*(answer_names(c.source) for c in code
                                      if c.id in solutions))
    only_in_solutions -= set().union(set(), *(answer_names(c.source) for c in narrative))
    for c in narrative:
        used = {n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}
        assert not used & only_in_solutions, f"{c.id} uses {used & only_in_solutions}"


def test_committed_assignments_are_current(capsys):
    code = main(["build", "--check"])
    assert code == 0, capsys.readouterr().err


def test_building_a_selection_keeps_the_other_student_versions(tmp_path):
    other = tmp_path / "01_fast_weights.ipynb"
    other.write_text("{}", encoding="utf-8")
    assert main(["build", "--out", str(tmp_path), "03"]) == 0
    assert other.exists(), "building notebook 03 alone must not delete the student version of 01"
    assert (tmp_path / REAL.name).exists()
    main(["build", "--out", str(tmp_path), "--check", "03"])  # a selection is checked, not pruned
    assert other.exists()
