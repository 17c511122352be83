"""Student versions and grading from the command line.

    python -m testtime.assignments build            # notebooks/ -> assignments/
    python -m testtime.assignments build --check    # exit 1 if assignments/ is stale
    python -m testtime.assignments grade alice.ipynb [--out grades]
    python -m testtime.assignments grade submissions/ [--out grades]

A class folder holds either one file per student (``submissions/alice.ipynb``: the student
is the file name) or one folder per student (``submissions/alice/03_test_time_regression.ipynb``:
the student is the folder name, any number of notebooks each). The notebook is recognised by
the metadata the student version carries, else by a file name starting with ``NN_slug``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from testtime.assignments.build import ASSIGNMENTS, BuildError, build
from testtime.assignments.grade import GradeError, GradeReport, grade_notebook
from testtime.assignments.report import write_class_csv, write_report
from testtime.course import NOTEBOOK_NAME, NOTEBOOKS, list_notebooks


def submissions_in(folder: Path) -> list[tuple[str, Path]]:
    """(student, path) for every notebook in a class folder (one level of sub-folders)."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if ".ipynb_checkpoints" in rel.parts or len(rel.parts) > 2:
            continue
        found.append((rel.parts[0] if len(rel.parts) == 2 else path.stem, path))
    return found


def student_name(path: Path) -> str:
    stem_is_course_name = NOTEBOOK_NAME.match(path.name) is not None
    return path.resolve().parent.name if stem_is_course_name else path.stem


def _build(args: argparse.Namespace) -> int:
    notebooks = list_notebooks(Path(args.notebooks), select=args.select or None)
    out = Path(args.out)
    result = build(notebooks, out, check=args.check)
    if args.check:
        stale = result.written + result.removed
        if stale:
            print(f"assignments are stale (run `python -m testtime.assignments build`): "
                  f"{', '.join(str(out / n) for n in stale)}", file=sys.stderr)
            return 1
        print(f"assignments are current ({len(result.unchanged)} notebooks in {out})")
        return 0
    for name in result.written:
        print(f"wrote {out / name}")
    for name in result.removed:
        print(f"removed {out / name} (no such course notebook)")
    print(f"{len(result.written)} written, {len(result.unchanged)} unchanged, "
          f"{len(result.removed)} removed")
    return 0


def _grade(args: argparse.Namespace) -> int:
    target, out = Path(args.submission), Path(args.out)
    notebooks = list_notebooks(Path(args.notebooks))
    if target.is_dir():
        items = submissions_in(target)
        if not items:
            raise GradeError(f"{target}: no .ipynb submissions in this folder")
    elif target.exists():
        items = [(args.student or student_name(target), target)]
    else:
        raise GradeError(f"{target}: no such file or folder")
    reports: list[GradeReport] = []
    errors: list[tuple[str, str, str]] = []
    for student, path in items:
        try:
            report = grade_notebook(path, student=student, notebooks=notebooks,
                                    cell_timeout=args.cell_timeout,
                                    total_timeout=args.timeout,
                                    keep=Path(args.keep) / student if args.keep else None)
        except GradeError as err:
            if not target.is_dir():
                raise
            errors.append((student, str(path), str(err)))
            print(f"{student}: ERROR {err}", file=sys.stderr)
            continue
        reports.append(report)
        md = write_report(report, out)
        print(f"{student}: {report.notebook} {report.points:g}/{report.possible:g} ({md})")
    if not target.is_dir():
        return 0
    summary, _ = write_class_csv(reports, errors, out)
    print(f"class summary: {summary}")
    if errors:
        print(f"grade: {len(errors)} submission(s) could not be graded (see {summary})",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testtime.assignments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student versions into assignments/")
    b.add_argument("select", nargs="*", help="notebook name prefixes, e.g. 00 03")
    b.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    b.add_argument("--out", default=str(ASSIGNMENTS))
    b.add_argument("--notebooks", default=str(NOTEBOOKS), help="instructor notebooks folder")
    g = sub.add_parser("grade", help="grade a submitted notebook or a folder of them")
    g.add_argument("submission", help="a .ipynb file, or a class folder")
    g.add_argument("--out", default="grades", help="report folder (default: ./grades)")
    g.add_argument("--student", default=None, help="student name for a single file")
    g.add_argument("--cell-timeout", type=float, default=300, help="seconds per cell")
    g.add_argument("--timeout", type=float, default=1800, help="seconds per submission")
    g.add_argument("--notebooks", default=str(NOTEBOOKS), help="instructor notebooks folder")
    g.add_argument("--keep", default=None, help="keep each executed run here (debugging)")
    args = parser.parse_args(argv)
    try:
        return _build(args) if args.command == "build" else _grade(args)
    except (BuildError, GradeError, ValueError, OSError) as err:
        print(f"{args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - one line, not a traceback, for a grader bug too
        if os.environ.get("TESTTIME_DEBUG"):
            raise
        print(f"{args.command}: internal error: {type(err).__name__}: {err} "
              "(set TESTTIME_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
