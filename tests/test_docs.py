"""README and syllabus list every notebook; the syllabus covers every seed paper by title."""

import re
from pathlib import Path

import pytest

from testtime.course import colab_url, list_notebooks

ROOT = Path(__file__).resolve().parents[1]
SEED_PAPERS = ROOT.parent / "shared" / "papers" / "seed_abstracts.txt"


def test_readme_links_every_notebook_to_colab():
    readme = (ROOT / "README.md").read_text()
    for path in list_notebooks(ROOT / "notebooks"):
        assert colab_url(f"notebooks/{path.name}") in readme, path.name


def test_readme_names_each_notebook_by_its_syllabus_title():
    syllabus = (ROOT / "syllabus.md").read_text().split("\n## ")[0]
    readme = (ROOT / "README.md").read_text()
    for path in list_notebooks(ROOT / "notebooks"):
        num = path.name[:2]
        title = re.search(rf"^\| {num} \| ([^|]+?) \|", syllabus, re.M)
        assert title, f"the syllabus's notebook table has no row {num}"
        link = f"[{num} · {title.group(1)}](notebooks/{path.name})"
        assert link in readme, f"README should link {link}: run python tools/update_docs.py"


def test_syllabus_marks_existing_notebooks_ready():
    syllabus = (ROOT / "syllabus.md").read_text()
    for path in list_notebooks(ROOT / "notebooks"):
        row = re.search(rf"^\| {path.name[:2]} \|.*$", syllabus, re.M)
        assert row and row.group(0).rstrip(" |").endswith("ready"), path.name


@pytest.mark.skipif(not SEED_PAPERS.exists(), reason="the shared seed list is not beside the repo")
def test_syllabus_cites_every_seed_paper_by_title():
    titles = re.findall(r"^\[(\d+)\] (.+)$", SEED_PAPERS.read_text(), re.M)
    assert len(titles) == 56
    syllabus = (ROOT / "syllabus.md").read_text()
    missing = [f"[{n}] {t}" for n, t in titles if t.strip() not in syllabus]
    assert not missing, missing


def test_figures_index_lists_every_committed_figure():
    index = (ROOT / "figures" / "README.md").read_text()
    for png in (ROOT / "figures").glob("*.png"):
        assert png.name in index, png.name


def test_syllabus_lists_every_exercise_with_its_card():
    """The syllabus's exercise table is what tools/update_docs.py makes from the notebooks'
    exercise metadata (title, points, difficulty, minutes), so it cannot go stale."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from update_docs import exercises_table

    assert exercises_table() in (ROOT / "syllabus.md").read_text(), (
        "syllabus.md's exercise table is stale: run python tools/update_docs.py")
