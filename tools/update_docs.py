"""Refresh the generated parts of README.md and syllabus.md from the notebooks present.

    python tools/update_docs.py

README: the notebook table between ``<!-- notebooks:start -->`` and ``<!-- notebooks:end -->``,
and the mutation scores (tests/mutants/) between ``<!-- mutants:start -->`` and
``<!-- mutants:end -->``.
syllabus.md: the status column (ready when notebooks/NN_*.ipynb exists, else planned), the
list of notebook files between ``<!-- files:start -->`` and ``<!-- files:end -->``, and the
exercises (title, points, difficulty, minutes from their metadata) between
``<!-- exercises:start -->`` and ``<!-- exercises:end -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
from testtime.assignments.assemble import grader_cells  # noqa: E402
from testtime.assignments.mutants import load_fixture  # noqa: E402
from testtime.course import colab_badge, exercise_card, list_notebooks  # noqa: E402

PARTS = {0: "0 · Start", 1: "I · Test-time training", 6: "II · Test-time adaptation",
         10: "III · Test-time scaling", 15: "IV · Verifier-guided RL"}


def titles_from_syllabus(text: str) -> dict[str, str]:
    first_table = re.split(r"^## ", text, flags=re.M)[0]  # the notebook table, before any section
    return dict(re.findall(r"^\| (\d\d) \| ([^|]+?) \|", first_table, re.M))


def readme_table(titles: dict[str, str]) -> str:
    present = {p.name[:2]: p for p in list_notebooks(ROOT / "notebooks")}
    rows = ["| part | notebook | open | status |", "|---|---|---|---|"]
    for num, title in sorted(titles.items()):
        part = PARTS.get(int(num), "")
        if num in present:
            path = present[num]
            link = f"[{num} · {title}](notebooks/{path.name})"
            rows.append(f"| {part} | {link} | {colab_badge(f'notebooks/{path.name}')} | ready |")
        else:
            rows.append(f"| {part} | {num} · {title} | | planned |")
    return "\n".join(rows)


def exercises_table() -> str:
    """One row per notebook: its exercises (title, points, stars, minutes) and the totals."""
    import nbformat

    rows = ["| notebook | exercises | points | time |", "|---|---|---|---|"]
    for path in list_notebooks(ROOT / "notebooks"):
        cards = exercise_card(nbformat.read(str(path), as_version=4).cells)
        items = "; ".join(f"{i}. {c['title']} ({c['points']:g} pt, {'★' * (c['difficulty'] or 0)}, "
                          f"{c['minutes']} min)" for i, c in enumerate(cards, start=1))
        rows.append(f"| {path.stem[:2]} | {items} | {sum(c['points'] for c in cards):g} "
                    f"| {sum(c['minutes'] or 0 for c in cards)} min |")
    return "\n".join(rows)


def mutants_table() -> str:
    """Per notebook: exercises, points, wrong answers kept, caught (tests/test_mutants.py fails
    unless every one is caught, so the last two columns agree whenever the tests pass)."""
    import nbformat

    rows = ["| notebook | exercises | points | wrong answers | caught |", "|---|---|---|---|---|"]
    total = 0
    for path in list_notebooks(ROOT / "notebooks"):
        fixture = ROOT / "tests" / "mutants" / f"{path.stem}.py"
        tests = grader_cells(nbformat.read(str(path), as_version=4))
        n = len(load_fixture(fixture)[1]) if fixture.exists() else 0
        total += n
        points = sum(t.points for t in tests)
        caught = f"{n} (100 %)" if n else "—"
        rows.append(f"| {path.stem[:2]} | {len({t.exercise for t in tests})} | {points:g} | {n} "
                    f"| {caught} |")
    rows.append(f"| all | | | {total} | {total} (100 %) |")
    return "\n".join(rows)


def main() -> int:
    syllabus_path, readme_path = ROOT / "syllabus.md", ROOT / "README.md"
    syllabus = syllabus_path.read_text()
    present = {p.name[:2] for p in list_notebooks(ROOT / "notebooks")}

    def status(match: re.Match) -> str:
        num = match.group(1)
        return match.group(0)[: match.start(2) - match.start(0)] + (
            "ready" if num in present else "planned"
        ) + " |"

    syllabus = re.sub(r"^\| (\d\d) \|.*\| (ready|planned|\{s\d\d\}) \|$", status, syllabus, flags=re.M)
    files = "\n".join(f"- [{p.name}](notebooks/{p.name}) · student version: "
                      f"[assignments/{p.name}](assignments/{p.name})"
                      for p in list_notebooks(ROOT / "notebooks"))
    syllabus = re.sub(r"(<!-- files:start -->\n).*?(<!-- files:end -->)",
                      lambda m: m.group(1) + files + "\n" + m.group(2), syllabus, flags=re.S)
    syllabus = re.sub(r"(<!-- exercises:start -->\n).*?(<!-- exercises:end -->)",
                      lambda m: m.group(1) + exercises_table() + "\n" + m.group(2), syllabus,
                      flags=re.S)
    syllabus_path.write_text(syllabus)
    readme = readme_path.read_text()
    table = readme_table(titles_from_syllabus(syllabus))
    readme = re.sub(r"(<!-- notebooks:start -->\n).*?(<!-- notebooks:end -->)",
                    lambda m: m.group(1) + table + "\n" + m.group(2), readme, flags=re.S)
    readme = re.sub(r"(<!-- mutants:start -->\n).*?(<!-- mutants:end -->)",
                    lambda m: m.group(1) + mutants_table() + "\n" + m.group(2), readme, flags=re.S)
    readme_path.write_text(readme)
    print(f"{len(present)} notebooks ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
