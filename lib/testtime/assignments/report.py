"""Grade reports: one markdown and one JSON file per graded notebook, and the class CSVs."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from testtime.assignments.grade import GradeReport


def _points(x: float) -> str:
    return f"{x:g}"


def slug(text: str) -> str:
    """A file-name-safe version of a student name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "student"


def markdown(report: GradeReport) -> str:
    lines = [
        f"# {report.notebook}: {report.student}",
        "",
        f"**{_points(report.points)} / {_points(report.possible)} points**",
        "",
        "| exercise | test cell | points | result |",
        "|---|---|---:|---|",
    ]
    for e in report.exercises:
        result = e.status if not e.message else f"{e.status}: {e.message}"
        result = result.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {e.exercise} | {e.test} | {_points(e.points)} / {_points(e.possible)}"
                     f" | {result} |")
    lines += ["", f"Narrative cells run: {report.narrative_cells}, failed: "
              f"{len(report.narrative_failures)}."]
    lines += [f"- {f}" for f in report.narrative_failures]
    if report.notes:
        lines += ["", "Grader notes:"] + [f"- {n}" for n in report.notes]
    lines += ["", f"Graded in {report.seconds:.0f} s ({report.runs} run(s)), quick mode."]
    return "\n".join(lines) + "\n"


def write_report(report: GradeReport, out: Path) -> Path:
    """Write ``out/<student>/<notebook>.md`` and ``.json``; returns the markdown path."""
    folder = out / slug(report.student)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(report.notebook).stem
    (folder / f"{stem}.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    path = folder / f"{stem}.md"
    path.write_text(markdown(report))
    return path


def write_class_csv(
    reports: list[GradeReport], errors: list[tuple[str, str, str]], out: Path
) -> tuple[Path, Path]:
    """``grades.csv`` (one row per student and notebook; ``errors`` are (student, file,
    message) for submissions that could not be graded) and ``grades_by_exercise.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    summary, detail = out / "grades.csv", out / "grades_by_exercise.csv"
    with summary.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "points", "possible", "percent", "error"])
        for r in sorted(reports, key=lambda r: (r.student, r.notebook)):
            pct = 100 * r.points / r.possible if r.possible else 0.0
            w.writerow([r.student, r.notebook, _points(r.points), _points(r.possible),
                        f"{pct:.1f}", ""])
        for student, name, message in errors:
            w.writerow([student, name, "", "", "", message])
    with detail.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "test", "points", "possible", "status",
                    "message"])
        for r in sorted(reports, key=lambda r: (r.student, r.notebook)):
            for e in r.exercises:
                w.writerow([r.student, r.notebook, e.exercise, e.test, _points(e.points),
                            _points(e.possible), e.status, e.message])
    return summary, detail
