"""No answer in sight (issue 16): an exercise's solution must not already be written out
in another cell of the student version (testtime.assignments.leaks)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from testtime.assignments.leaks import answers_in_sight, normalised_lines
from testtime.course import list_notebooks

LESSON = """\
def centre(x):
    m = x.mean(0, keepdim=True)  # the column means
    s = x.std(0, keepdim=True)
    return (x - m) / (s + 1e-6)
"""


def notebook(*code: str, solution: str) -> nbformat.NotebookNode:
    """A title cell, the given code cells, then one exercise whose region is ``solution``."""
    region = "\n".join(f"    {line}" for line in solution.strip("\n").split("\n"))
    exercise = nbformat.v4.new_code_cell(
        f"def my_centre(x):\n    ### BEGIN SOLUTION\n{region}\n    ### END SOLUTION",
        metadata={"tags": ["solution"], "testtime": {"exercise": "ex-centre"}})
    exercise["id"] = "ex-centre"
    cells = [nbformat.v4.new_markdown_cell("# 99 · Toy")]
    cells += [nbformat.v4.new_code_cell(c) for c in code] + [exercise]
    return nbformat.v4.new_notebook(cells=cells)


def test_a_copy_with_other_names_and_comments_is_caught():
    leak = """
# centre the columns
mean = x.mean(0, keepdim=True)
spread = x.std(0, keepdim=True)   # per column
return (x - mean) / (spread + 1e-6)
"""
    findings = answers_in_sight(notebook(LESSON, solution=leak), "99_toy.ipynb")
    assert len(findings) == 1, f"expected one finding, got {findings}"
    found = findings[0]
    assert (found.notebook, found.exercise, found.cell) == ("99_toy.ipynb", "ex-centre", 2), (
        f"the finding should name the notebook, the exercise and the lesson cell: {found}")
    assert len(found.lines) == 3 and "spread" in found.lines[1], (
        f"the finding should quote the three shared solution lines: {found.lines}")


def test_two_shared_lines_are_not_a_leak():
    answer = """
mean = x.mean(0, keepdim=True)
spread = x.std(0, keepdim=True)
return (x - mean) / spread.clamp_min(1e-6)
"""
    findings = answers_in_sight(notebook(LESSON, solution=answer), "99_toy.ipynb")
    assert findings == [], f"two shared lines should not be flagged: {findings}"


def test_trivial_lines_do_not_count():
    lesson = "for a in b:\n    pass\nelse:\n    pass\nimport torch\nimport numpy as np\n"
    answer = "for c in d:\n    pass\nelse:\n    pass\nimport torch\nimport numpy as np\n"
    assert normalised_lines(answer) == {1: "for _ in _ :"}, (
        f"only the loop head should survive: {normalised_lines(answer)}")
    findings = answers_in_sight(notebook(lesson, solution=answer), "99_toy.ipynb")
    assert findings == [], f"trivial lines should not make a leak: {findings}"


def test_prose_does_not_count_but_a_code_block_in_markdown_does():
    leak = "m = x.mean(0, keepdim=True)\ns = x.std(0, keepdim=True)\nreturn (x - m) / (s + 1e-6)"
    nb = notebook(solution=leak)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(
        "The answer is m = x.mean(0, keepdim=True)\ns = x.std(0, keepdim=True)\n"
        "return (x - m) / (s + 1e-6)"))
    assert answers_in_sight(nb, "99_toy.ipynb") == [], "prose in markdown should not count"
    nb.cells[1].source = f"Like this:\n\n```python\n{LESSON}```\n"
    findings = answers_in_sight(nb, "99_toy.ipynb")
    assert [f.cell for f in findings] == [2], (
        f"a fenced code block should count (cell 2 of the student version): {findings}")


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: Path(p).name[:2])
def test_no_course_exercise_has_its_answer_in_sight(path):
    findings = answers_in_sight(nbformat.read(str(path), as_version=4), Path(path).name)
    assert findings == [], "solutions already written out in the student version:\n" + (
        "\n".join(str(f) for f in findings))
