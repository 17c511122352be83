"""Hidden tests proven by mutation (issue 16): every exercise has plausible wrong answers kept
as fixtures (tests/mutants/NN_slug.py), and the real grader gives each of them less than full
points while the instructor's answer gets full points (testtime.assignments.mutants)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from testtime.assignments.assemble import grader_cells
from testtime.assignments.build import BuildError
from testtime.assignments.mutants import (
    Edit,
    apply_edit,
    exercise_section,
    load_fixture,
    mutation_score,
    replace_solution,
    visible_catches,
)
from testtime.course import list_notebooks

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "mutants"
TOY = ROOT / "tests" / "fixtures" / "90_grading_fixture.ipynb"
NOTEBOOKS = list_notebooks()


def test_replace_solution_keeps_the_indentation_and_counts_regions():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert replace_solution(source, "\ny = -x\nreturn y\n") == (
        "def f(x):\n    y = -x\n    return y\n")
    with pytest.raises(BuildError, match="1 solution region"):
        replace_solution(source, ("return 1", "return 2"))


def test_an_edit_changes_one_place_of_the_answer():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y * 2\n"
              "    ### END SOLUTION\n")
    assert apply_edit(source, Edit("\ny = x + 1\n", "y = x - 1")) == ("y = x - 1\nreturn y * 2",)
    assert apply_edit(source, Edit("y = x + 1", "")) == ("return y * 2",), "a deleted line goes"
    with pytest.raises(BuildError, match="occurs 2 times"):
        apply_edit(source, Edit("y", "z"))
    with pytest.raises(BuildError, match="occurs 0 times"):
        apply_edit(source, Edit("x * 3", "x"))


def test_the_exercise_section_keeps_setup_needs_and_exercises():
    nb = nbformat.read(str(ROOT / "notebooks" / "03_test_time_regression.ipynb"), as_version=4)
    cut = exercise_section(nb, ["cell-05"])
    ids = [c.id for c in cut.cells]
    assert ids[:4] == ["cell-00", "cell-01", "cell-02", "cell-03"] and "cell-05" in ids, ids
    assert "cell-09" not in ids and ids[-1] == nb.cells[-1].id, ids
    with pytest.raises(BuildError, match="cell-99"):
        exercise_section(nb, ["cell-99"])


def test_a_surviving_mutant_is_reported(tmp_path, monkeypatch):
    """On the grader's toy notebook: a wrong answer is caught, an equivalent rewrite (not a
    mutant at all) survives, and the instructor's answers score full points."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    fixture = tmp_path / "90_grading_fixture.py"
    fixture.write_text('MUTANTS = {"ex-topk": [\n'
                       '    ("smallest first", "return sorted(xs)[:k]"),\n'
                       '    ("equivalent", "return sorted(xs)[::-1][:k]"),\n'
                       ']}\n')
    result = mutation_score(TOY, fixture)
    assert all(got == possible for got, possible in result.reference_points.values()), (
        f"the instructor's answers should score full points: {result.reference_points}")
    assert [m.name for m in result.caught] == ["smallest first"], result.caught
    assert [m.name for m, _ in result.survived] == ["equivalent"], result.survived
    assert result.score == "1/2"


def test_every_course_notebook_has_a_mutant_fixture():
    missing = [p.stem for p in NOTEBOOKS if not (MUTANTS / f"{p.stem}.py").exists()]
    stray = sorted({f.stem for f in MUTANTS.glob("*.py")} - {p.stem for p in NOTEBOOKS})
    assert not missing and not stray, (
        f"notebooks without a mutant fixture: {missing}; fixtures without a notebook: {stray}")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if (MUTANTS / f"{p.stem}.py").exists()],
                         ids=lambda p: p.stem[:2])
def test_every_mutant_is_caught(path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernels inherit it: no spinning threads
    fixture = MUTANTS / f"{path.stem}.py"
    _, mutants = load_fixture(fixture)
    nb = nbformat.read(str(path), as_version=4)
    exercises = {t.exercise for t in grader_cells(nb)}
    thin = sorted(ex for ex in exercises if sum(m.exercise == ex for m in mutants) < 2)
    assert not thin, f"{path.name}: exercises with fewer than two wrong answers: {thin}"
    result = mutation_score(path, fixture)
    short = {ex: p for ex, p in result.reference_points.items() if p[0] < p[1]}
    assert not short, f"{path.name}: the instructor's answers lost points: {short}"
    survivors = [f"{m.exercise}: {m.name} ({points:g} points)" for m, points in result.survived]
    assert not survivors, (
        f"{path.name}: {len(survivors)} wrong answers got full points (strengthen the hidden "
        "tests):\n" + "\n".join(survivors))


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if (MUTANTS / f"{p.stem}.py").exists()],
                         ids=lambda p: p.stem[:2])
def test_visible_tests_catch_a_wrong_answer_of_every_exercise(path, monkeypatch):
    """What a student sees before handing in: the visible asserts alone (no hidden tests, no
    grader) pass the instructor's answer and reject at least one of each exercise's plausible
    wrong answers, with a message (tests/test_assert_messages.py)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = visible_catches(path, MUTANTS / f"{path.stem}.py")
    failing = [ex for ex, (passes, _) in result.items() if not passes]
    assert not failing, f"{path.name}: the instructor's answers fail their visible tests: {failing}"
    blind = [ex for ex, (_, rows) in result.items() if not any(caught for _, caught in rows)]
    assert not blind, (f"{path.name}: visible tests that pass every wrong answer of {blind}; "
                       "add a small case a student can check by hand")


def test_the_readme_states_the_current_mutation_scores():
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from update_docs import mutants_table

    assert mutants_table() in (ROOT / "README.md").read_text(), (
        "README.md's mutation table is stale: run python tools/update_docs.py")
