"""Grade a submission: restore the test cells, run ``pytest --nbval-lax`` on a temporary copy
in quick mode, turn passed test cells into points.

One kernel runs the whole notebook (the narrative is paid for once). A cell that runs too long
is interrupted by nbval's per-cell timeout and fails; the next cells still run. A cell that
kills the kernel (the guard cell already turns ``exit()`` and ``os._exit()`` into errors, so
this takes a segfault, a signal or a loop that swallows the interrupt) fails the test cells
after it with "Kernel dead"; the grader then reruns the notebook without that cell and
without the exercises already graded, until every test cell has a verdict. The whole grading
of one submission also has an overall time limit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

import testtime
from testtime.assignments.assemble import GUARD_ID, assemble, cell_key, grader_cells
from testtime.assignments.build import META_KEY
from testtime.course import NOTEBOOKS, list_notebooks

LIB = Path(testtime.__file__).resolve().parents[1]
PLUGIN = Path(__file__).with_name("nbval_plugin.py")
KERNEL_DEAD = "Kernel dead"


class GradeError(Exception):
    """The grader could not grade a submission (bad file, unknown notebook, broken run)."""


@dataclass
class ExerciseResult:
    test: str
    exercise: str
    possible: float
    points: float = 0.0
    status: str = "not run"  # passed | failed | not run
    message: str = ""


@dataclass
class GradeReport:
    student: str
    notebook: str
    submission: str
    exercises: list[ExerciseResult]
    narrative_cells: int = 0
    narrative_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def possible(self) -> float:
        return sum(e.possible for e in self.exercises)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["points"], data["possible"] = self.points, self.possible
        return data


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook, or raise :class:`GradeError` saying what is wrong."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise GradeError(f"{path}: no such file") from None
    except Exception as err:  # noqa: BLE001 - JSON, schema, encoding: one message
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GradeError(f"{path}: not a valid .ipynb notebook ({first[:200]})") from None
    if not isinstance(nb.get("cells"), list):
        raise GradeError(f"{path}: not a valid .ipynb notebook (no cell list)")
    return nb


def identify(path: Path, nb: nbformat.NotebookNode, notebooks: list[Path]) -> Path:
    """The course notebook a submission answers: the name the student version carries in its
    metadata, else the ``NN_slug`` or ``NN`` at the start of the file name."""
    by_name = {p.name: p for p in notebooks}
    name = nb.get("metadata", {}).get(META_KEY, {}).get("notebook")
    if isinstance(name, str) and name in by_name:
        return by_name[name]
    stem = path.stem
    for candidate in notebooks:
        if stem.startswith(candidate.stem):  # also "00_course_tour (1)", "00_course_tour_ann"
            return candidate
    number = re.match(r"^(\d\d)(?!\d)", stem)
    matches = [p for p in notebooks if number and p.name.startswith(number.group(1) + "_")]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(p.stem for p in notebooks) or "none"
    raise GradeError(
        f"{path}: cannot tell which course notebook this is (no testtime metadata and the "
        f"file name matches none of: {known})"
    )


def _run_nbval(nb: nbformat.NotebookNode, name: str, work: Path, cell_timeout: float,
               deadline: float) -> tuple[list[dict], bool]:
    """Run nbval on ``nb`` inside ``work``; returns the per-cell records and whether the
    overall deadline cut the run short."""
    folder = work / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    nbformat.write(nb, str(path))
    results = work / "results.jsonl"
    for stale in (results, Path(f"{results}.kernel")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(PLUGIN, work / "conftest.py")
    (work / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ)
    env.update(
        TESTTIME_QUICK="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(LIB)] + [p for p in [env.get("PYTHONPATH")] if p]),
        TESTTIME_GRADE_RESULTS=str(results),
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PIP_NO_INDEX="1",  # the setup cell must never install anything while grading
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        IPYTHONDIR=str(work / "ipython"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    cmd = [
        sys.executable, "-m", "pytest", "-p", "nbval.plugin", "--nbval-lax",
        "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout:g}",
        "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
        "--rootdir", str(work), "-c", str(work / "pytest.ini"), str(path),
    ]
    timed_out = False
    with open(work / "pytest.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc, Path(f"{results}.kernel"))
        except BaseException:  # Ctrl-C in the grader: leave no kernel behind
            _stop(proc, Path(f"{results}.kernel"))
            raise
    records = []
    if results.exists():
        for line in results.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    if not records and not timed_out:
        tail = (work / "pytest.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise GradeError(f"{name}: nbval did not run ({' | '.join(tail)[:300]})")
    return records, timed_out


def _stop(proc: subprocess.Popen, kernel_pid_file: Path) -> None:
    """Stop the pytest process group we started, and the kernel it started."""
    pids = [proc.pid]
    if kernel_pid_file.exists():
        try:
            pids.append(int(kernel_pid_file.read_text()))
        except ValueError:
            pass
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def _drop(nb: nbformat.NotebookNode, ids: set[str]) -> nbformat.NotebookNode:
    out = nbformat.from_dict(nb)
    out.cells = [c for c in nb.cells if cell_key(c) not in ids]
    return out


def grade_notebook(
    submission: Path,
    *,
    student: str | None = None,
    notebooks: list[Path] | None = None,
    cell_timeout: float = 300,
    total_timeout: float = 1800,
    output_limit: int = 20_000,
    keep: Path | None = None,
) -> GradeReport:
    """Grade one submitted notebook. ``keep``: a folder to copy the executed temporary run
    into (for debugging); by default nothing of the run is kept."""
    start = time.monotonic()
    deadline = start + total_timeout
    notebooks = list_notebooks(NOTEBOOKS) if notebooks is None else notebooks
    nb = read_notebook(submission)
    source = identify(submission, nb, notebooks)
    instructor = read_notebook(source)
    tests = grader_cells(instructor)
    if not tests:
        raise GradeError(f"{source.name}: the course notebook has no graded test cells")
    graded, notes = assemble(instructor, nb, output_limit=output_limit)
    results = {t.id: ExerciseResult(t.id, t.exercise, t.points) for t in tests}
    report = GradeReport(student or submission.stem, source.name, str(submission),
                         list(results.values()), notes=notes)
    exercise_cells = {t.id: {t.id, t.exercise} for t in tests}
    dropped: set[str] = set()
    narrative: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="testtime-grade-") as tmp:
        work = Path(tmp)
        for _ in range(len(tests) + 3):
            report.runs += 1
            records, overran = _run_nbval(_drop(graded, dropped), source.name, work,
                                          cell_timeout, deadline)
            culprit = _record(records, results, narrative, report.notes)
            pending = [t for t in tests if results[t.id].status == "not run"]
            if overran:
                for t in pending:
                    results[t.id].message = (
                        f"not graded: the overall limit of {total_timeout:g} s ran out")
                break
            if not pending or culprit is None:
                break
            dropped |= {culprit}
            for t in pending:
                if culprit in exercise_cells[t.id]:
                    results[t.id].status = "failed"
                    results[t.id].message = f"the kernel died while running cell {culprit}"
                    dropped |= exercise_cells[t.id]
            dropped |= {i for t in tests if results[t.id].status != "not run"
                        for i in exercise_cells[t.id]}
            report.notes.append(f"the kernel died in cell {culprit}; reran without it")
        if keep is not None:
            shutil.copytree(work, keep, dirs_exist_ok=True)
    for res in results.values():
        res.points = res.possible if res.status == "passed" else 0.0
        if res.status == "not run" and not res.message:
            res.message = "the test cell did not run"
    solution_ids = {t.exercise for t in tests}
    report.narrative_cells = len([c for c in narrative if c not in solution_ids])
    report.narrative_failures = [f"{cid}: {msg}" for cid, msg in narrative.items()
                                 if msg and cid not in solution_ids]
    report.seconds = round(time.monotonic() - start, 1)
    return report


def _record(records: list[dict], results: dict[str, ExerciseResult],
            narrative: dict[str, str], notes: list[str]) -> str | None:
    """Fold one run's cell records into the results; return the id of the cell that killed
    the kernel (the last cell that ran before the first "Kernel dead"), if any."""
    culprit = None
    previous = None
    for rec in records:
        cid, message = rec.get("id"), rec.get("message", "")
        if KERNEL_DEAD in message:
            culprit = previous
            break
        previous = cid
        if cid == GUARD_ID:
            if rec.get("outcome") != "passed":
                notes.append(f"the grader's guard cell failed ({message}); graded without it")
            continue
        if cid in results:
            res = results[cid]
            res.status = "passed" if rec.get("outcome") == "passed" else "failed"
            res.message = message
        else:
            narrative[cid] = message if rec.get("outcome") != "passed" else ""
    return culprit
