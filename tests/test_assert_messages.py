"""Every assert in every course notebook says what was expected and what was measured.

A bare ``assert x`` fails with ``AssertionError:`` and nothing more, which tells a student
nothing; tools/list_bare_asserts.py lists the offenders (hidden tests included: their message
is what the grade report shows)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from testtime.course import list_notebooks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from list_bare_asserts import bare_asserts  # noqa: E402


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in list_notebooks(ROOT / "notebooks")])
def test_every_assert_has_a_message(path):
    bare = bare_asserts(path)
    listing = "\n".join(str(b) for b in bare)
    assert not bare, f"{len(bare)} asserts without a message in {path.name}:\n{listing}"


def test_the_search_finds_bare_asserts(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    grader = nbformat.v4.new_code_cell(
        "%time x = 1\nassert x == 1, f'x is {x}'\nassert x\n### BEGIN HIDDEN TESTS\n"
        "if x:\n    assert x > 0\n### END HIDDEN TESTS")
    grader.metadata["tags"] = ["grader"]
    nb.cells = [nbformat.v4.new_code_cell("assert True  # a lesson claim"), grader]
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, str(path))
    found = [(b.line, b.region) for b in bare_asserts(path)]
    assert found == [(1, "lesson"), (3, "visible test"), (6, "hidden test")], (
        f"expected the three bare asserts with their regions, found {found}")
