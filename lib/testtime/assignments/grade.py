"""Grade a submission: restore the test cells, run the notebook cell by cell in a confined
kernel, and decide every verdict in the grader's own process.

For each submission the grader

1. puts the instructor's test cells back (:mod:`~testtime.assignments.assemble`);
2. runs the instructor's notebook once per notebook and grading session in a clean kernel
   (the *reference run*) and records, for each graded test cell, the results of the
   exercise's functions on the hidden inputs (:mod:`~testtime.assignments.checks`);
3. runs the submission the same way, cell by cell, in a kernel of its own
   (:mod:`~testtime.assignments.kernel`): a test cell passes only when its execute reply
   says ``ok`` and its recorded results match the reference run's;
4. returns a :class:`GradeReport`; the caller writes reports only after the kernel is gone.

Isolation (:func:`isolation`). When the grader runs as root, every kernel runs as a fresh
unprivileged user id, in a private mount and process table (:mod:`~testtime.assignments.
sandbox`): the repository, the instructor notebooks, the class folder, the report folder and
the grader's temporary folder are hidden; the library, the Python environment and the
checkpoint cache are visible read-only; ``/tmp`` is private. Otherwise the kernel runs as the
grader's user (with a warning): verdicts still cannot be forged, but the kernel can read and
write what that user can.

A cell that runs past ``cell_timeout`` is interrupted and fails; later cells still run. A
cell that kills the kernel (a crash, a signal, a loop deaf to the interrupt) is noticed at
once; the grader reruns the notebook without that cell and without the exercises already
graded, until every test cell has a verdict. ``total_timeout`` bounds one submission.

Messages in reports are the grader's own words: an error is named only when it is a
built-in exception class, and nothing the kernel prints or raises is quoted, so hidden test
code cannot leak through a report.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

import testtime
from testtime.assignments.assemble import GUARD_ID, assemble, cell_key, grader_cells
from testtime.assignments.build import META_KEY, source_of
from testtime.assignments.checks import (
    DUMP,
    MAX_REPLY,
    answer_names,
    compare,
    identifiers,
    instrument,
    library_names,
    prelude,
)
from testtime.assignments.kernel import CellRun, Kernel, KernelError, Sandbox
from testtime.cache import cache_dir
from testtime.course import NOTEBOOKS, ROOT, list_notebooks

LIB = Path(testtime.__file__).resolve().parents[1]
KNOWN_ERRORS = {n for n in dir(builtins)
                if isinstance(getattr(builtins, n), type)
                and issubclass(getattr(builtins, n), BaseException)}


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
    flags: list[str] = field(default_factory=list)  # ambiguities: the exit status says so
    runs: int = 0
    seconds: float = 0.0
    seed: int = 0
    isolation: str = ""

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


def stem_of(path: Path) -> str:
    """The file name without ``.ipynb`` or ``.ipynb.json`` (any case)."""
    return re.sub(r"\.ipynb(\.json)?$", "", path.name, flags=re.IGNORECASE)


def by_file_name(path: Path, notebooks: list[Path]) -> Path | None:
    """The course notebook a file name points at (``NN_slug...`` or ``NN...``), if any."""
    stem = stem_of(path)
    for candidate in notebooks:
        if stem.lower().startswith(candidate.stem.lower()):  # also "00_course_tour (1)"
            return candidate
    number = re.match(r"^(\d\d)(?!\d)", stem)
    matches = [p for p in notebooks if number and p.name.startswith(number.group(1) + "_")]
    return matches[0] if len(matches) == 1 else None


def by_metadata(nb: nbformat.NotebookNode, notebooks: list[Path]) -> Path | None:
    name = nb.get("metadata", {}).get(META_KEY, {}).get("notebook")
    return next((p for p in notebooks if p.name == name), None) if isinstance(name, str) else None


def identify(path: Path, nb: nbformat.NotebookNode, notebooks: list[Path]) -> Path:
    """The course notebook a submission answers: the name the student version carries in its
    metadata, else the ``NN_slug`` or ``NN`` at the start of the file name."""
    found = by_metadata(nb, notebooks) or by_file_name(path, notebooks)
    if found is None:
        known = ", ".join(p.stem for p in notebooks) or "none"
        raise GradeError(
            f"{path}: cannot tell which course notebook this is (no testtime metadata and the "
            f"file name matches none of: {known})"
        )
    return found


# --- isolation ----------------------------------------------------------------------------

_uids = itertools.count(100_000 + secrets.randbelow(1_000_000_000))
_uid_lock = threading.Lock()


def _new_uid() -> int:
    with _uid_lock:
        return next(_uids)


def isolation() -> str:
    """``"user"`` (root: kernels run as fresh unprivileged users in private mount and process
    tables) or ``"none"`` (kernels run as the grader's user)."""
    if os.environ.get("TESTTIME_GRADE_ISOLATION") == "none":
        return "none"
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare"):
        return "user"
    return "none"


NO_ISOLATION = ("the grader is not running as root, so the kernels run as your own user: "
                "verdicts still cannot be forged, but a submission's code can read and write "
                "whatever you can (the instructor notebooks, other submissions, the reports); "
                "grade untrusted submissions as root or in a container")


def _sandbox(hide: list[Path]) -> Sandbox | None:
    if isolation() != "user":
        return None
    keep = [LIB, Path(sys.prefix), Path(sys.base_prefix), cache_dir()]
    keep = [p.resolve() for p in keep if p.exists()]
    hidden = {p.resolve() for p in hide} | {ROOT.resolve(), Path(tempfile.gettempdir()).resolve()}
    for path in keep:  # an ancestor others cannot enter (e.g. /root) is hidden, path kept
        for ancestor in reversed(path.parents):
            if not ancestor.stat().st_mode & 0o001:
                hidden.add(ancestor)
                break
    return Sandbox(_new_uid(), hide=sorted(map(str, hidden)), keep=sorted(map(str, keep)))


def _kernel_env() -> dict[str, str]:
    """The kernel's environment: only what Python, torch and the course need."""
    passed = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "CUDA_VISIBLE_DEVICES", "TESTTIME_SHIPPED", "TESTTIME_DEVICE")
    env = {k: os.environ[k] for k in passed if k in os.environ}
    env.update(
        TESTTIME_CACHE=str(cache_dir()),  # the grader's cache, not one in the kernel's home
        TESTTIME_QUICK="1",
        MPLBACKEND="Agg",
        PYTHONPATH=str(LIB),
        PIP_NO_INDEX="1",  # the setup cell must never install anything while grading
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


# --- running a notebook -------------------------------------------------------------------


@dataclass
class TestPlan:
    """A graded test cell as the grader runs it."""

    id: str
    exercise: str
    points: float
    code: str  # instrumented source (or the plain one when it is not plain Python)
    sites: list[str]
    library: set[str]


def plans(instructor: nbformat.NotebookNode) -> dict[str, TestPlan]:
    by_id = {cell_key(c): c for c in instructor.cells}
    out = {}
    for test in grader_cells(instructor):
        source = source_of(by_id[test.id])
        solution = source_of(by_id[test.exercise]) if test.exercise in by_id else ""
        names = answer_names(solution)
        done = instrument(source, names)
        code, sites = done if done is not None else (source, [])
        out[test.id] = TestPlan(test.id, test.exercise, test.points, code, sites,
                                library_names(source, solution, names))
    return out


@dataclass
class CellOutcome:
    run: CellRun
    record: list | None = None  # test cells: the results recorded by the kernel


def _cell_seed(seed: int, cid: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{cid}".encode()).digest()[:7], "big")


def _record(run: CellRun) -> list | None:
    value = run.expressions.get("r", {})
    text = value.get("data", {}).get("text/plain") if isinstance(value, dict) else None
    if not isinstance(text, str) or len(text) > MAX_REPLY:
        return None
    try:
        data = json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return data if isinstance(data, list) else None


def _execute(nb: nbformat.NotebookNode, tests: dict[str, TestPlan], seed: int, folder: Path,
             sandbox: Sandbox | None, cell_timeout: float, deadline: float
             ) -> tuple[dict[str, CellOutcome], str | None, bool]:
    """Run the code cells of ``nb`` in order in a new kernel. Returns the outcome per cell id,
    the id of the cell during which the kernel died (if it did) and whether the overall
    deadline cut the run short."""
    outcomes: dict[str, CellOutcome] = {}
    kernel = Kernel(folder, _kernel_env(), sandbox)
    try:
        kernel.start()
        (folder / "kernel.pid").write_text(str(kernel.proc.pid))
        for cell in nb.cells:
            if cell.get("cell_type") != "code":
                continue
            cid = cell_key(cell)
            left = deadline - time.monotonic()
            if left <= 1:
                return outcomes, None, True
            plan = tests.get(cid)
            if plan is None:
                run = kernel.execute(source_of(cell), min(cell_timeout, left))
                outcomes[cid] = CellOutcome(run)
            else:
                kernel.execute(prelude(_cell_seed(seed, cid)), min(30, left), silent=True)
                left = deadline - time.monotonic()
                run = kernel.execute(plan.code, min(cell_timeout, max(1, left)),
                                     expressions={"r": DUMP})
                outcomes[cid] = CellOutcome(run, _record(run) if run.status == "ok" else None)
            if run.status == "dead":
                overran = time.monotonic() >= deadline - 1
                return outcomes, (None if overran else cid), overran
        return outcomes, None, False
    except KernelError as err:
        raise GradeError(str(err)) from None
    finally:
        kernel.stop()


def describe(run: CellRun, cell_timeout: float) -> str:
    """The grader's words for a cell that did not run cleanly."""
    if run.status == "timeout" or run.ename == "timeout":
        return f"ran past the {cell_timeout:g} s limit"
    if run.status == "dead":
        return "the kernel died while running it"
    name = run.ename if run.ename in KNOWN_ERRORS else "an exception"
    return f"raised {name}"


def _drop(nb: nbformat.NotebookNode, ids: set[str]) -> nbformat.NotebookNode:
    out = nbformat.from_dict(nb)
    out.cells = [c for c in nb.cells if cell_key(c) not in ids]
    return out


# --- the reference run --------------------------------------------------------------------


@dataclass
class Reference:
    """The instructor notebook's recorded results, per graded test cell."""

    notebook: str
    seed: int
    records: dict[str, list]
    seconds: float


_references: dict[tuple, Reference] = {}
_reference_lock = threading.Lock()


def reference_run(source: Path, seed: int, *, cell_timeout: float = 300,
                  total_timeout: float = 1800, hide: list[Path] | None = None) -> Reference:
    """Run the instructor notebook ``source`` in a clean kernel (cached per file version and
    seed) and record its test cells' results; raise :class:`GradeError` if the instructor's
    own tests fail."""
    key = (str(source.resolve()), source.stat().st_mtime_ns, seed)
    with _reference_lock:
        if key in _references:
            return _references[key]
    start = time.monotonic()
    instructor = read_notebook(source)
    tests = plans(instructor)
    graded, _ = assemble(instructor, instructor)
    with tempfile.TemporaryDirectory(prefix="testtime-reference-") as tmp:
        outcomes, culprit, overran = _execute(
            graded, tests, seed, Path(tmp), _sandbox([source.parent, *(hide or [])]),
            cell_timeout, start + total_timeout)
    records = {}
    for cid in tests:
        outcome = outcomes.get(cid)
        if outcome is None or outcome.run.status != "ok" or outcome.record is None:
            why = ("did not run" if outcome is None else describe(outcome.run, cell_timeout))
            raise GradeError(f"{source.name}: the instructor's notebook fails its own test "
                             f"cell {cid} at seed {seed} ({why}); fix the notebook first")
        records[cid] = outcome.record
    ref = Reference(source.name, seed, records, round(time.monotonic() - start, 1))
    with _reference_lock:
        _references[key] = ref
    return ref


# --- grading ------------------------------------------------------------------------------


def grade_notebook(
    submission: Path,
    *,
    student: str | None = None,
    notebooks: list[Path] | None = None,
    cell_timeout: float = 300,
    total_timeout: float = 1800,
    output_limit: int = 20_000,
    keep: Path | None = None,
    seed: int | None = None,
    hide: list[Path] | None = None,
) -> GradeReport:
    """Grade one submitted notebook. ``seed``: the grading-time secret the hidden inputs are
    drawn from (default: a fresh random one, written into the report); ``hide``: more folders
    the kernel must not see (the class folder, the report folder); ``keep``: a folder to copy
    the kernels' logs into (debugging)."""
    start = time.monotonic()
    deadline = start + total_timeout
    seed = secrets.randbelow(2**31) if seed is None else seed
    notebooks = list_notebooks(NOTEBOOKS) if notebooks is None else notebooks
    nb = read_notebook(submission)
    source = identify(submission, nb, notebooks)
    instructor = read_notebook(source)
    tests = plans(instructor)
    if not tests:
        raise GradeError(f"{source.name}: the course notebook has no graded test cells")
    graded, notes = assemble(instructor, nb, output_limit=output_limit)
    results = {t.id: ExerciseResult(t.id, t.exercise, t.points) for t in tests.values()}
    report = GradeReport(student or stem_of(submission), source.name, str(submission),
                         list(results.values()), notes=notes, seed=seed,
                         isolation=isolation())
    named = by_file_name(submission, notebooks)
    if by_metadata(nb, notebooks) is not None and named is not None and named != source:
        report.flags.append(f"the notebook's metadata says {source.name} but its file name "
                            f"says {named.name}; graded as {source.name}")
    _flag_library_calls(graded, tests, report)
    hide = [submission.resolve().parent, *(hide or [])]
    reference = reference_run(source, seed, cell_timeout=cell_timeout,
                              total_timeout=total_timeout, hide=hide)
    start = time.monotonic()  # the reference run is shared by the class: not counted below
    exercise_cells = {t.id: {t.id, t.exercise} for t in tests.values()}
    dropped: set[str] = set()
    narrative: dict[str, str] = {}
    sandbox = _sandbox([source.parent, *hide])
    with tempfile.TemporaryDirectory(prefix="testtime-grade-") as tmp:
        for attempt in range(len(tests) + 3):
            report.runs += 1
            folder = Path(tmp) / f"run-{attempt + 1}"
            outcomes, culprit, overran = _execute(_drop(graded, dropped), tests, seed, folder,
                                                  sandbox, cell_timeout, deadline)
            _verdicts(outcomes, tests, reference, results, narrative, report, cell_timeout)
            pending = [t for t in tests.values() if results[t.id].status == "not run"]
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
            dropped |= {i for t in tests.values() if results[t.id].status != "not run"
                        for i in exercise_cells[t.id]}
            report.notes.append(f"the kernel died in cell {culprit}; reran without it")
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("kernel.json", "work"))
    for res in results.values():
        res.points = res.possible if res.status == "passed" else 0.0
        if res.status == "not run" and not res.message:
            res.message = "the test cell did not run"
    solution_ids = {t.exercise for t in tests.values()}
    report.narrative_cells = len([c for c in narrative if c not in solution_ids])
    report.narrative_failures = [f"{cid}: {msg}" for cid, msg in narrative.items()
                                 if msg and cid not in solution_ids]
    report.seconds = round(time.monotonic() - start, 1)
    return report


def _verdicts(outcomes: dict[str, CellOutcome], tests: dict[str, TestPlan],
              reference: Reference, results: dict[str, ExerciseResult],
              narrative: dict[str, str], report: GradeReport, cell_timeout: float) -> None:
    """Fold one run's outcomes into the results (the grader's decision, cell by cell)."""
    for cid, outcome in outcomes.items():
        run = outcome.run
        if cid == GUARD_ID:
            if run.status != "ok":
                report.notes.append(f"the grader's guard cell {describe(run, cell_timeout)}; "
                                    "graded without it")
            continue
        if cid not in tests:
            narrative[cid] = "" if run.status == "ok" else describe(run, cell_timeout)
            continue
        if run.status == "dead" and run.ename != "timeout":
            continue  # the rerun logic decides (the culprit, or a later run)
        res = results[cid]
        if run.status != "ok":
            res.status, res.message = "failed", f"the test cell {describe(run, cell_timeout)}"
            continue
        problem = compare(outcome.record, reference.records[cid], tests[cid].sites) \
            if outcome.record is not None else "the grader received no results from the cell"
        res.status = "failed" if problem else "passed"
        res.message = problem or ""


def _flag_library_calls(graded: nbformat.NotebookNode, tests: dict[str, TestPlan],
                        report: GradeReport) -> None:
    """Note (without changing points) a solution that names a function its hidden test
    compares with: the tests cannot tell such an answer from one written out."""
    by_id = {cell_key(c): c for c in graded.cells}
    for t in tests.values():
        cell = by_id.get(t.exercise)
        if cell is None or not t.library:
            continue
        try:
            used = identifiers(ast.parse(source_of(cell)))
        except SyntaxError:
            continue
        if used & t.library:
            names = ", ".join(sorted(used & t.library))
            report.notes.append(f"{t.exercise}: the solution uses {names}, which the tests "
                                "compare with; the points stand, read the solution")


def warn_without_isolation() -> None:
    if isolation() == "none":
        warnings.warn(NO_ISOLATION, stacklevel=2)
