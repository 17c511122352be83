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
    if report.flags:
        lines += ["", "To check by hand:"] + [f"- {n}" for n in report.flags]
    if report.notes:
        lines += ["", "Grader notes:"] + [f"- {n}" for n in report.notes]
    lines += ["", f"File: {report.submission}. Graded in {report.seconds:.0f} s "
              f"({report.runs} run(s)), quick mode, seed {report.seed}, isolation: "
              f"{report.isolation}."]
    return "\n".join(lines) + "\n"


def write_report(report: GradeReport, out: Path, stem: str | None = None) -> Path:
    """Write ``out/<student>/<stem>.md`` and ``.json`` (``stem``: the notebook's by default;
    the caller gives another one when a student handed in the same notebook twice); returns
    the markdown path. Called by the grader only after the submission's kernel is gone."""
    folder = out / slug(report.student)
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(report.notebook).stem
    (folder / f"{stem}.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    path = folder / f"{stem}.md"
    path.write_text(markdown(report))
    return path


def write_class_csv(
    reports: list[GradeReport], others: list[tuple[str, str, str, str]], out: Path
) -> tuple[Path, Path]:
    """``grades.csv``: one row per file of the class folder, graded or not; ``others`` are
    (student, file, status, reason) for files not graded (status ``error``, ``skipped`` or
    ``ignored``). ``grades_by_exercise.csv``: one row per graded exercise."""
    out.mkdir(parents=True, exist_ok=True)
    summary, detail = out / "grades.csv", out / "grades_by_exercise.csv"
    graded = sorted(reports, key=lambda r: (r.student, r.notebook, r.submission))
    with summary.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "file", "points", "possible", "percent", "status",
                    "note"])
        for r in graded:
            pct = 100 * r.points / r.possible if r.possible else 0.0
            w.writerow([r.student, r.notebook, r.submission, _points(r.points),
                        _points(r.possible), f"{pct:.1f}", "graded", "; ".join(r.flags)])
        for student, name, status, message in sorted(others):
            w.writerow([student, "", name, "", "", "", status, message])
    with detail.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "file", "exercise", "test", "points", "possible",
                    "status", "message"])
        for r in graded:
            for e in r.exercises:
                w.writerow([r.student, r.notebook, r.submission, e.exercise, e.test,
                            _points(e.points), _points(e.possible), e.status, e.message])
    return summary, detail
