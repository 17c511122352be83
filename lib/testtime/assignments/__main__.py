"""Student versions, a student-only release, and grading from the command line.

    python -m testtime.assignments build            # notebooks/ -> assignments/
    python -m testtime.assignments build --check    # exit 1 if assignments/ is stale
    python -m testtime.assignments release OUT      # a student-only copy of the course to publish
    python -m testtime.assignments grade alice.ipynb [--out grades]
    python -m testtime.assignments grade submissions/ [--out grades] [--jobs 4] [--seed N]

A class folder holds either one file per student (``submissions/alice.ipynb``: the student
is the file name) or one folder per student (``submissions/alice/03_test_time_regression.ipynb``,
any depth: the student is the first folder's name). Every file in it is either graded or
listed in ``grades.csv`` with the reason it was not: ``.ipynb`` and ``.ipynb.json`` in any
case are graded; Jupyter checkpoints and OS metadata (``.DS_Store``, ``__MACOSX``) are
``ignored``; anything else is ``skipped``; a file that cannot be graded is an ``error``. The
notebook is recognised by the metadata the student version carries, else by a file name
starting with ``NN_slug``; a file whose metadata and name disagree, and a student with two
files for one notebook, are graded and flagged.

Exit status: 0 when every file was graded and nothing was flagged; 1 when a file was
skipped, could not be graded, or was flagged; 2 for a usage or setup error.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from testtime.assignments.build import ASSIGNMENTS, BuildError, build, source_of
from testtime.assignments.grade import (
    NO_ISOLATION,
    GradeError,
    GradeReport,
    grade_notebook,
    identify,
    isolation,
    read_notebook,
    reference_run,
    stem_of,
)
from testtime.assignments.report import slug, write_class_csv, write_report
from testtime.course import NOTEBOOK_NAME, NOTEBOOKS, ROOT, list_notebooks

NOTEBOOK_FILE = re.compile(r"\.ipynb(\.json)?$", re.IGNORECASE)
OS_LITTER = {".ds_store", "thumbs.db", "desktop.ini"}
IGNORED_FOLDERS = {".ipynb_checkpoints", "__macosx"}


@dataclass
class Submission:
    student: str
    path: Path
    rel: str
    notebook: Path
    stem: str | None = None  # the report's file name when the notebook's is taken
    flag: str = ""


def scan(folder: Path, notebooks: list[Path]
         ) -> tuple[list[Submission], list[tuple[str, str, str, str]]]:
    """Every file under a class folder: the submissions to grade, and (student, file, status,
    reason) for the rest (status ``ignored``, ``skipped`` or ``error``)."""
    found, others = [], []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files) + sorted(d for d in dirs if (Path(top) / d).is_symlink()):
            path = Path(top) / name
            rel = path.relative_to(folder)
            student = rel.parts[0] if len(rel.parts) > 1 else stem_of(path)
            lowered = {p.lower() for p in rel.parts[:-1]}
            if lowered & IGNORED_FOLDERS or name.lower() in OS_LITTER:
                others.append((student, str(rel), "ignored", "editor checkpoint or OS metadata"))
            elif path.is_symlink():
                others.append((student, str(rel), "skipped", "a symbolic link (not followed)"))
            elif not NOTEBOOK_FILE.search(name):
                others.append((student, str(rel), "skipped", "not a .ipynb file"))
            else:
                try:
                    source = identify(path, read_notebook(path), notebooks)
                except GradeError as err:
                    others.append((student, str(rel), "error", str(err)))
                    continue
                found.append(Submission(student, path, str(rel), source))
    groups: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for sub in found:
        groups[(slug(sub.student), sub.notebook.name)].append(sub)
    for (_, name), subs in groups.items():
        if len(subs) > 1:
            files = ", ".join(s.rel for s in subs)
            for sub in subs:
                sub.stem = f"{Path(name).stem}__{slug(sub.rel)}"
                sub.flag = f"{len(subs)} files for one student and notebook ({files})"
    return found, others


def student_name(path: Path) -> str:
    stem_is_course_name = NOTEBOOK_NAME.match(path.name) is not None
    return path.resolve().parent.name if stem_is_course_name else stem_of(path)


def _build(args: argparse.Namespace) -> int:
    notebooks = list_notebooks(Path(args.notebooks), select=args.select or None)
    out = Path(args.out)
    result = build(notebooks, out, check=args.check, prune=not args.select)
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
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    if target.is_dir():
        items, others = scan(target, notebooks)
        if not items and not others:
            raise GradeError(f"{target}: the class folder is empty")
    elif target.exists():
        source = identify(target, read_notebook(target), notebooks)
        items = [Submission(args.student or student_name(target), target, target.name, source)]
        others = []
    else:
        raise GradeError(f"{target}: no such file or folder")
    if isolation() == "none":
        print(f"grade: warning: {NO_ISOLATION}", file=sys.stderr)
    print(f"grading seed: {seed} (rerun with --seed {seed} for the same hidden inputs)")
    hide = [p for p in (target if target.is_dir() else target.parent, out,
                        Path(args.keep) if args.keep else None) if p is not None]
    for folder in hide[1:]:  # made now, so that every kernel's view hides them
        folder.mkdir(parents=True, exist_ok=True)
    options = dict(notebooks=notebooks, cell_timeout=args.cell_timeout,
                   total_timeout=args.timeout, seed=seed, hide=hide)
    for source in sorted({s.notebook for s in items}):  # once per notebook, before the class
        reference_run(source, seed, cell_timeout=args.cell_timeout,
                      total_timeout=args.timeout, hide=hide)

    def one(sub: Submission) -> GradeReport:
        keep = Path(args.keep) / slug(sub.student) / slug(sub.rel) if args.keep else None
        return grade_notebook(sub.path, student=sub.student, keep=keep, **options)

    reports: list[GradeReport] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(one, sub): sub for sub in items}
        for future in as_completed(futures):
            sub = futures[future]
            try:
                report = future.result()  # the submission's kernels are gone by now
            except GradeError as err:
                if not target.is_dir():
                    raise
                others.append((sub.student, sub.rel, "error", str(err)))
                print(f"{sub.student}: ERROR {err}", file=sys.stderr)
                continue
            if sub.flag:
                report.flags.append(sub.flag)
            report.submission = sub.rel
            reports.append(report)
            md = write_report(report, out, sub.stem)
            flagged = f" [check: {'; '.join(report.flags)}]" if report.flags else ""
            print(f"{sub.student}: {report.notebook} {report.points:g}/{report.possible:g} "
                  f"({md}){flagged}")
    flagged = [r for r in reports if r.flags]
    if not target.is_dir():
        return 1 if flagged else 0
    summary, _ = write_class_csv(reports, others, out)
    print(f"class summary: {summary}")
    counted = [o for o in others if o[2] != "ignored"]
    if counted or flagged:
        print(f"grade: {len(counted)} file(s) not graded and {len(flagged)} flagged "
              f"(see {summary})", file=sys.stderr)
        return 1
    return 0


RELEASE_EXCLUDE = ("notebooks/", "tests/", ".github/", ".ci/", "assignments/", "build/")


def release(out: Path, notebooks: list[Path]) -> list[str]:
    """Write a student-only copy of the course into ``out`` (which must not exist or be
    empty): the repository's files except the instructor notebooks, the tests and CI, with
    freshly built student versions in ``assignments/``. Returns the files written. Raises
    :class:`BuildError` if a solution or hidden-test marker is left in any notebook."""
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"release OUT: {out} exists and is not empty")
    if out.resolve().is_relative_to(ROOT.resolve()):
        raise ValueError(f"release OUT: {out} is inside the repository; pick a folder outside")
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [f for f in listed.splitlines() if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "__pycache__", ".ipynb_checkpoints"}
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    written = []
    for rel in sorted(files):
        src = ROOT / rel
        if rel.startswith(RELEASE_EXCLUDE) or not src.is_file() or "egg-info" in rel:
            continue
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out / rel)
        written.append(rel)
    result = build(notebooks, out / "assignments")
    written += [f"assignments/{n}" for n in result.written]
    leaks = []
    for path in out.rglob("*.ipynb"):
        nb = read_notebook(path)
        for cell in nb.cells:
            text = source_of(cell)
            if re.search(r"###\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)", text):
                leaks.append(f"{path.relative_to(out)} ({cell.get('id')})")
    if leaks:
        raise BuildError(f"release: solution or hidden-test markers left in {', '.join(leaks)}")
    return written


def _release(args: argparse.Namespace) -> int:
    out = Path(args.out)
    written = release(out, list_notebooks(Path(args.notebooks)))
    print(f"wrote {len(written)} files into {out}: student versions in {out / 'assignments'}, "
          "no instructor notebooks, no hidden tests")
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
    r = sub.add_parser("release", help="write a student-only copy of the course to publish")
    r.add_argument("out", help="a new or empty folder outside the repository")
    r.add_argument("--notebooks", default=str(NOTEBOOKS), help="instructor notebooks folder")
    g = sub.add_parser("grade", help="grade a submitted notebook or a folder of them")
    g.add_argument("submission", help="a .ipynb file, or a class folder")
    g.add_argument("--out", default="grades", help="report folder (default: ./grades)")
    g.add_argument("--student", default=None, help="student name for a single file")
    g.add_argument("--cell-timeout", type=float, default=300, help="seconds per cell")
    g.add_argument("--timeout", type=float, default=1800, help="seconds per submission")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded side by side")
    g.add_argument("--seed", type=int, default=None,
                   help="grading-time secret for the hidden inputs (default: a random one)")
    g.add_argument("--notebooks", default=str(NOTEBOOKS), help="instructor notebooks folder")
    g.add_argument("--keep", default=None, help="keep the kernels' logs here (debugging)")
    args = parser.parse_args(argv)
    commands = {"build": _build, "release": _release, "grade": _grade}
    try:
        return commands[args.command](args)
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
