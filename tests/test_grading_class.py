"""Class folders lose no submission; checks, the student-only release, and the grader's
own comparisons (issue 17). Kernels run only in the one end-to-end class test (plain-Python
fixture, two jobs side by side)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from testtime.assignments import student_version
from testtime.assignments.__main__ import main, release, scan
from testtime.assignments.build import BuildError
from testtime.assignments.checks import compare, instrument, library_names, same
from testtime.assignments.grade import plans
from testtime.course import list_notebooks

FIXTURES = Path(__file__).parent / "fixtures"
PLAIN = FIXTURES / "90_grading_fixture.ipynb"
TORCH = FIXTURES / "91_torch_fixture.ipynb"
# graded test cells that record no result of their exercise (their verdict rests on the
# execute reply alone); a notebook fixes one by sending values with testtime's check()
KNOWN_WEAK = {"07_entropy_minimization.ipynb:ex-lora-test"}


def _student(name: str = PLAIN.name) -> nbformat.NotebookNode:
    return student_version(nbformat.read(str(FIXTURES / name), as_version=4), name)


def _write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def class_folder(root: Path) -> Path:
    """Every case of issue 17's class folder."""
    folder = root / "class"
    nb = _student()
    other = _student(TORCH.name)
    _write(nb, folder / "alice.ipynb")
    _write(nb, folder / "BOB.IPYNB")                                   # upper-case suffix
    _write(nb, folder / "carol.ipynb.json")                            # Colab download
    _write(nb, folder / "dave" / "week1" / "deep" / PLAIN.name)        # nested folders
    _write(nb, folder / "erin" / PLAIN.name)                           # duplicate, first
    _write(nb, folder / "erin" / "90_grading_fixture (1).ipynb")       # duplicate, second
    _write(other, folder / "frank" / PLAIN.name)                       # metadata says 91
    (folder / "greg.ipynb").write_text('{"cells": [')                  # broken file
    (folder / "notes.txt").write_text("not a notebook")                # skipped
    (folder / ".DS_Store").write_bytes(b"\0")                          # ignored
    _write(nb, folder / "alice" / ".ipynb_checkpoints" / "x-checkpoint.ipynb")  # ignored
    return folder


def test_scan_lists_every_file_of_a_class_folder(tmp_path):
    folder = class_folder(tmp_path)
    found, others = scan(folder, [PLAIN, TORCH])
    graded = sorted((s.student, s.rel, s.notebook.name) for s in found)
    assert graded == [
        ("BOB", "BOB.IPYNB", PLAIN.name),
        ("alice", "alice.ipynb", PLAIN.name),
        ("carol", "carol.ipynb.json", PLAIN.name),
        ("dave", f"dave/week1/deep/{PLAIN.name}", PLAIN.name),
        ("erin", "erin/90_grading_fixture (1).ipynb", PLAIN.name),
        ("erin", f"erin/{PLAIN.name}", PLAIN.name),
        ("frank", f"frank/{PLAIN.name}", TORCH.name),
    ]
    status = {rel: (st, why) for _, rel, st, why in others}
    assert status["greg.ipynb"][0] == "error" and "not a valid" in status["greg.ipynb"][1]
    assert status["notes.txt"] == ("skipped", "not a .ipynb file")
    assert status[".DS_Store"][0] == "ignored"
    assert status["alice/.ipynb_checkpoints/x-checkpoint.ipynb"][0] == "ignored"
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert files == {s.rel for s in found} | set(status)  # nothing lost
    erin = [s for s in found if s.student == "erin"]
    assert all("2 files" in s.flag for s in erin) and len({s.stem for s in erin}) == 2


def test_class_folder_graded_side_by_side_with_a_row_per_file(tmp_path):
    folder = class_folder(tmp_path)
    out = tmp_path / "grades"
    code = main(["grade", str(folder), "--out", str(out), "--notebooks", str(FIXTURES),
                 "--jobs", "2", "--seed", "7", "--cell-timeout", "60"])
    assert code == 1  # skipped, broken, duplicated and mismatched files
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {"file", "status", "note"} <= set(rows[0])
    by_file = {r["file"]: r for r in rows}
    assert set(by_file) == {"BOB.IPYNB", "alice.ipynb", "carol.ipynb.json",
                            f"dave/week1/deep/{PLAIN.name}", f"erin/{PLAIN.name}",
                            "erin/90_grading_fixture (1).ipynb", f"frank/{PLAIN.name}",
                            "greg.ipynb", "notes.txt", ".DS_Store",
                            "alice/.ipynb_checkpoints/x-checkpoint.ipynb"}
    assert all(by_file[f]["points"] == "0" for f in ("BOB.IPYNB", "carol.ipynb.json"))
    assert by_file[f"frank/{PLAIN.name}"]["notebook"] == TORCH.name
    assert "file name says" in by_file[f"frank/{PLAIN.name}"]["note"]
    assert "2 files" in by_file[f"erin/{PLAIN.name}"]["note"]
    assert len(list((out / "erin").glob("*.json"))) == 2  # neither report overwrote the other
    assert by_file["greg.ipynb"]["status"] == "error"
    report = json.loads((out / "dave" / "90_grading_fixture.json").read_text())
    assert report["seed"] == 7 and report["points"] == 0


def test_a_clean_class_folder_exits_zero(tmp_path):
    folder = tmp_path / "class"
    _write(_student(), folder / "alice.ipynb")
    (folder / ".DS_Store").write_bytes(b"\0")  # ignored: does not change the exit status
    assert main(["grade", str(folder), "--out", str(tmp_path / "grades"), "--notebooks",
                 str(FIXTURES), "--seed", "7", "--cell-timeout", "60"]) == 0
    rows = list(csv.DictReader((tmp_path / "grades" / "grades.csv").open()))
    assert [(r["file"], r["status"]) for r in rows] == [("alice.ipynb", "graded"),
                                                       (".DS_Store", "ignored")]


def test_release_writes_a_student_only_folder(tmp_path):
    out = tmp_path / "public"
    written = release(out, [PLAIN])
    assert "assignments/90_grading_fixture.ipynb" in written
    assert (out / "lib" / "testtime" / "assignments" / "grade.py").exists()
    assert not (out / "notebooks").exists() and not (out / "tests").exists()
    text = (out / "assignments" / PLAIN.name).read_text()
    assert "statistics" not in text and "HIDDEN TESTS" not in text
    with pytest.raises(ValueError, match="not empty"):
        release(out, [PLAIN])


def test_release_refuses_a_notebook_with_markers_left(tmp_path, monkeypatch):
    import testtime.assignments.__main__ as cli

    monkeypatch.setattr(cli, "build", lambda notebooks, out: _leaky(out))
    with pytest.raises(BuildError, match="markers left"):
        release(tmp_path / "public", [PLAIN])


def _leaky(out: Path):
    nb = nbformat.read(str(PLAIN), as_version=4)
    _write(nb, out / PLAIN.name)
    return type("R", (), {"written": [PLAIN.name]})()


def test_instrument_records_the_answers_in_the_hidden_part_only():
    code, sites = instrument(
        "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nx = g(f(3), f)\ncheck(h(x))\n"
        "### END HIDDEN TESTS\nf(4)", {"f"})
    assert sites == ["f()", "f", "check()"]
    assert code.startswith("assert f(1) == 2\n")  # visible part untouched
    assert "__testtime_capture__(0, f(3))" in code and "f(4)" in code
    assert instrument("%timeit f(1)", {"f"}) is None  # not plain Python: reply alone decides


def test_same_and_compare_use_a_tolerance_and_name_no_test_code():
    t = {"array": [1.0, 2.0], "shape": [2]}
    assert same({"array": [1.0 + 1e-7, 2.0], "shape": [2]}, t)
    assert not same({"array": [1.0, 2.1], "shape": [2]}, t)
    assert not same({"array": [1.0, 2.0], "shape": [1, 2]}, t)
    assert same({"dict": [["b", 1], ["a", 2]]}, {"dict": [["a", 2], ["b", 1]]})
    assert same(3, 3) and not same(3, 4) and not same("a", "b")
    assert same({"float": "nan"}, {"float": "nan"}) and not same(0.0, {"float": "nan"})
    assert compare([[0, 1.0]], [[0, 1.0]], ["f()"]) is None
    assert "f()" in compare([[0, 2.0]], [[0, 1.0]], ["f()"])
    assert "received 0" in compare([], [[0, 1.0]], ["f()"])


def test_library_calls_are_named_for_the_instructor():
    names = library_names("x = g(1)\nassert f(x) == lib(x)\n", "def f(x):\n    return x", {"f"})
    assert names == {"g", "lib"}


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_course_test_cells_send_the_exercises_results(path):
    """Every graded test cell of the course records at least one result of its exercise in
    its hidden part (so its verdict does not rest on the kernel's word), except the known
    ones listed above."""
    weak = {f"{path.name}:{cid}" for cid, plan in plans(nbformat.read(str(path), 4)).items()
            if not plan.sites}
    assert weak <= KNOWN_WEAK, f"test cells recording no result: {sorted(weak - KNOWN_WEAK)}"
