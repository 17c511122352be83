"""The course as a whole: the notebook setup cell, the notebook conventions, and running every
notebook with papermill into a report.

    python -m testtime.course run                 # every notebook, in order, quick on CPU
    python -m testtime.course run 00 03           # just these
    python -m testtime.course run --quick false --jobs 4   # full mode, four kernels at once
    python -m testtime.course check               # conventions only, no execution

With ``--jobs N`` the notebooks run side by side, one kernel each. A notebook that loads a
shared checkpoint (the source ConvNet, the reasoners, the verifiers, the RL policies) starts
only once the first notebook that loads it (the one that trains it on a cold cache) has
finished, so that each checkpoint is trained once and then loaded from the cache.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = "test-time-compute/ttc-from-scratch"  # GitHub owner/name used by badges and installs
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PARAMETERS = ("QUICK", "DEVICE", "SEED", "FIGURES_DIR")
NOTEBOOK_NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")

SETUP_CELL = f"""\
# Setup (the same in every notebook): use the course library when it is importable, else the
# repository's lib/ beside this folder, else (Colab) install it from GitHub. torch is never
# reinstalled: the library asks only for a range that Colab's own build satisfies.
import importlib.util, pathlib, subprocess, sys

if importlib.util.find_spec("testtime") is None:
    _lib = pathlib.Path.cwd().parent / "lib"
    if (_lib / "testtime").is_dir():
        sys.path.insert(0, str(_lib))
    else:
        _url = "git+https://github.com/{REPO}.git"
        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", _url]).returncode:
            raise RuntimeError(f"pip could not install the course library from {{_url}} (offline "
                               "or behind a firewall?): clone or download the repository, run "
                               "`pip install -e .` in it and open the notebook from there, or "
                               "upload its lib/testtime folder into the working folder (/content "
                               "on Colab), then rerun this cell.")"""

PARAMETERS_CELL = """\
QUICK = None        # None: quick on CPU, full on GPU; True/False force it (so does TESTTIME_QUICK)
DEVICE = "auto"     # "auto", "cpu", "cuda", "cuda:N" or "mps"
SEED = 0            # any integer in [0, 2**32)
FIGURES_DIR = None  # a folder to save the figures into, e.g. "../figures\""""


def colab_url(path: str) -> str:
    """The "Open in Colab" address of a notebook path inside the repository."""
    return f"https://colab.research.google.com/github/{REPO}/blob/main/{path}"


def colab_badge(path: str) -> str:
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(path)})"
    )


def list_notebooks(folder: Path = NOTEBOOKS, select: list[str] | None = None) -> list[Path]:
    """Course notebooks ``NN_slug.ipynb`` in order; ``select`` keeps names starting with any
    of the given prefixes (e.g. ``["00", "03"]``)."""
    paths = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))
    if select:
        paths = [p for p in paths if any(p.name.startswith(s) for s in select)]
        if not paths:
            raise ValueError(f"select={select!r} matches no notebook in {folder}")
    return paths


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def check_conventions(path: Path) -> list[str]:
    """Return the list of ways a course notebook breaks the conventions (empty when fine)."""
    import nbformat

    problems = []
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - report any reading or schema problem
        return [f"not a valid notebook: {err}"]
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            problems.append(f"cell {i} has outputs (strip them before committing)")
    rel = f"{path.parent.name}/{path.name}"
    if not cells or cells[0].cell_type != "markdown" or colab_url(rel) not in _source(cells[0]):
        problems.append(f"the first cell must be markdown with the Colab badge for {rel}")
    code = [c for c in cells if c.cell_type == "code"]
    if not code or _source(code[0]) != SETUP_CELL:
        problems.append("the first code cell must be the setup cell (testtime.course.SETUP_CELL)")
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(params) != 1:
        problems.append("exactly one code cell must be tagged 'parameters'")
    elif _source(params[0]) != PARAMETERS_CELL:
        problems.append(
            f"the parameters cell must set {', '.join(PARAMETERS)} exactly as "
            "testtime.course.PARAMETERS_CELL (tools/sync_standard_cells.py rewrites it)"
        )
    narrative = [c for c in code if "grader" not in c.get("metadata", {}).get("tags", [])]
    if not any(re.search(r"^\s*assert\b", _source(c), re.M) for c in narrative):
        problems.append("the notebook asserts nothing outside its grader cells")
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "grader" in tags:
            points = cell.get("metadata", {}).get("testtime", {}).get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                problems.append(f"grader cell {i} needs metadata testtime.points > 0")
    problems += exercise_problems(cells)
    return problems


def exercise_card(cells: list) -> list[dict[str, Any]]:
    """Each exercise's card: id, title, difficulty (1-3 stars), minutes (from its solution
    cell's ``testtime`` metadata), points (its grader cells'), and the markdown cell that
    states it (the nearest one above the solution cell)."""
    points: dict[str, float] = {}
    for cell in cells:
        meta = cell.get("metadata", {})
        if "grader" in meta.get("tags", []):
            ex = meta.get("testtime", {}).get("exercise")
            points[ex] = points.get(ex, 0) + meta.get("testtime", {}).get("points", 0)
    cards = []
    for i, cell in enumerate(cells):
        meta = cell.get("metadata", {})
        if "solution" not in meta.get("tags", []):
            continue
        info = meta.get("testtime", {})
        above = next((_source(c) for c in reversed(cells[:i]) if c.cell_type == "markdown"), "")
        cards.append({"exercise": info.get("exercise"), "title": info.get("title"),
                      "difficulty": info.get("difficulty"), "minutes": info.get("minutes"),
                      "points": points.get(info.get("exercise"), 0), "statement": above,
                      "cell": i})
    return cards


def exercise_heading(number: int, card: dict[str, Any]) -> str:
    """How an exercise's statement must name it, e.g.
    ``Exercise 2 (3 points · ★★ · 20 min): the dual form``."""
    points = card["points"]
    unit = "point" if points == 1 else "points"
    return (f"Exercise {number} ({points:g} {unit} · {'★' * card['difficulty']} · "
            f"{card['minutes']} min): {card['title']}")


SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
WHY = re.compile(r"^\s*# Why: \S", re.M)


def exercise_problems(cells: list) -> list[str]:
    """At least three exercises, each with a title, a difficulty of 1-3 stars and a time
    estimate in its metadata, stated by a markdown cell above it that carries its heading
    (:func:`exercise_heading`) and a hint, and each solution region explaining itself in a
    ``# Why:`` comment."""
    cards = exercise_card(cells)
    problems = [] if len(cards) >= 3 else [f"{len(cards)} exercises (at least 3)"]
    for number, card in enumerate(cards, start=1):
        where = f"exercise {card['exercise']} (cell {card['cell']})"
        if (not isinstance(card["title"], str) or card["difficulty"] not in (1, 2, 3)
                or not isinstance(card["minutes"], int) or card["minutes"] <= 0):
            problems.append(f"{where}: its solution cell needs metadata testtime.title, "
                            "testtime.difficulty (1, 2 or 3) and testtime.minutes (> 0)")
            continue
        if exercise_heading(number, card) not in card["statement"]:
            problems.append(f"{where}: the markdown cell above it must state "
                            f"'{exercise_heading(number, card)}'")
        if "hint" not in card["statement"].lower():
            problems.append(f"{where}: its statement gives no hint ('*Hint.* ...')")
        regions = SOLUTION_REGION.findall(_source(cells[card["cell"]]))
        if not regions or any(not WHY.search(r) for r in regions):
            problems.append(f"{where}: every solution region must open its reasoning with a "
                            "'# Why: ...' comment (why the answer is right, not only how)")
    return problems


@dataclass
class NotebookResult:
    notebook: str
    ok: bool
    seconds: float
    mode: str = "?"
    device: str = "?"
    error: str = ""


def execute_notebook(
    path: Path,
    output: Path,
    parameters: dict[str, Any] | None = None,
    *,
    cell_timeout: int = 600,
) -> NotebookResult:
    """Execute ``path`` with papermill into ``output`` (cwd = the notebook's folder)."""
    import papermill as pm

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = ""
    try:
        pm.execute_notebook(
            str(path),
            str(output),
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(path.parent),
            execution_timeout=cell_timeout,
            progress_bar=False,
            log_output=False,
        )
    except Exception as err:  # noqa: BLE001 - papermill raises its own error types
        error = str(err).strip().splitlines()[-1][:500] if str(err).strip() else repr(err)
    seconds = time.perf_counter() - start
    mode, device = "?", "?"
    if output.exists():
        drop_widget_views(output)
        match = re.search(r"testtime run: mode=(\w+) device=([\w:]+)", output.read_text())
        if match:
            mode, device = match.groups()
    return NotebookResult(path.name, not error, round(seconds, 1), mode, device, error)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_widget_views(path: Path) -> int:
    """Remove widget views (progress bars, sliders) from the outputs of the executed notebook
    ``path``, keeping their text fallback. A headless run saves no widget state, so a view
    would reopen as "Error displaying widget: model not found"; the text (e.g. tqdm's last
    ``100%|████| 8/8``) reads fine. Returns how many views were removed."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    removed = 0
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                removed += 1
                if not data:
                    continue
            kept.append(out)
        if cell.cell_type == "code":
            cell.outputs = kept
    if removed:
        nbformat.write(nb, str(path))
    return removed


def write_report(
    results: list[NotebookResult],
    path: Path,
    *,
    machine: str | None = None,
    jobs: int = 1,
    wall_seconds: float | None = None,
) -> None:
    """``course_report.md`` (and ``.json``): mode, device and seconds per notebook, with the
    machine the course ran on and, for side-by-side runs, the wall-clock time."""
    machine = machine_description() if machine is None else machine
    lines = [
        "# Course run report",
        "",
        f"machine: {machine}; notebooks run {'side by side, ' if jobs > 1 else ''}"
        f"{jobs} at a time",
        "",
        "| notebook | mode | device | seconds | result |",
        "|---|---|---|---:|---|",
    ]
    for r in results:
        status = "pass" if r.ok else f"FAIL: {r.error}"
        lines.append(f"| {r.notebook} | {r.mode} | {r.device} | {r.seconds:.1f} | {status} |")
    total = sum(r.seconds for r in results)
    summary = f"{sum(r.ok for r in results)}/{len(results)} passed in {total:.0f} s"
    if wall_seconds is not None and jobs > 1:
        summary += f" of notebook time, {wall_seconds:.0f} s wall clock"
    lines += ["", summary]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    record = {"machine": machine, "jobs": jobs, "wall_seconds": wall_seconds,
              "notebooks": [asdict(r) for r in results]}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))


def machine_description() -> str:
    """The accelerator (or CPU) and the torch build, for the report."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return f"{platform.machine()} CPU, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        device = ", ".join(names)
    else:
        device = f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return f"{device}, torch {torch.__version__}"


# Library loaders whose checkpoints several notebooks share (trained on a cold cache, then
# loaded). Their device/verbose arguments do not change the checkpoint, nor does
# seed=run.seed (the default SEED is the loaders' default seed).
SHARED_LOADERS = ("load_source", "load_reasoner", "load_orm", "load_prm", "load_rl_policy")
_LOADER_CALL = re.compile(r"\b(" + "|".join(SHARED_LOADERS) + r")\(([^()]*)\)")
_IGNORED_ARGUMENT = re.compile(r"^(device|verbose|progress)\s*=|^seed\s*=\s*run\.seed$")


def shared_checkpoints(path: Path) -> set[str]:
    """The shared checkpoints a notebook loads, as normalised loader calls read from its code
    (e.g. ``load_reasoner("small")``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for name, args in _LOADER_CALL.findall(_source(cell)):
            kept = [a.strip() for a in args.split(",") if a.strip()]
            kept = [a for a in kept if not _IGNORED_ARGUMENT.search(a)]
            found.add(f"{name}({', '.join(kept)})")
    return found


def checkpoint_dependencies(paths: list[Path]) -> dict[str, set[str]]:
    """For each notebook, the notebooks it should wait for: the first notebook (in course
    order) that loads each shared checkpoint it loads trains that checkpoint on a cold cache."""
    producer: dict[str, str] = {}
    needs: dict[str, set[str]] = {}
    for path in sorted(paths, key=lambda p: p.name):
        checkpoints = shared_checkpoints(path)
        for checkpoint in checkpoints:
            producer.setdefault(checkpoint, path.name)
        needs[path.name] = {producer[c] for c in checkpoints} - {path.name}
    return needs


def _execute_in_worker(
    path: Path, output: Path, parameters: dict[str, Any], env: dict[str, str],
    execute: Callable[..., NotebookResult],
) -> NotebookResult:
    os.environ.update(env)
    return execute(path, output, parameters)


def run_notebooks(
    paths: list[Path],
    out: Path,
    parameters: dict[str, Any] | None = None,
    *,
    jobs: int = 1,
    execute: Callable[..., NotebookResult] = execute_notebook,
    on_result: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult]:
    """Execute notebooks into ``out/executed``; return their results in course order.

    ``jobs=1`` runs them one after another in order. ``jobs=N`` runs up to N at once, one
    kernel (one process) each, and starts a notebook only when the notebooks training the
    shared checkpoints it loads have finished (:func:`checkpoint_dependencies`); notebooks
    that train checkpoints for others start first. Each kernel gets
    ``TESTTIME_THREADS = cores // N`` torch threads unless that variable is already set.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} is not valid; expected an int >= 1")
    parameters = parameters or {}
    report = on_result or (lambda result: None)
    if jobs == 1:
        results = []
        for path in paths:
            results.append(execute(path, out / "executed" / path.name, parameters))
            report(results[-1])
        return results
    needs = checkpoint_dependencies(paths)
    wanted = {name for deps in needs.values() for name in deps}
    # producers first, then course order
    pending = sorted(paths, key=lambda p: (p.name not in wanted, p.name))
    env = {}
    if not os.environ.get("TESTTIME_THREADS"):
        env["TESTTIME_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    done: dict[str, NotebookResult] = {}
    running: dict[Future, Path] = {}
    context = multiprocessing.get_context("spawn")  # a clean interpreter per worker
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        while pending or running:
            for path in list(pending):
                if len(running) >= jobs:
                    break
                if needs[path.name] <= done.keys():
                    pending.remove(path)
                    future = pool.submit(_execute_in_worker, path,
                                         out / "executed" / path.name, parameters, env, execute)
                    running[future] = path
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                path = running.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 - a worker that died
                    result = NotebookResult(path.name, False, 0.0, error=repr(err)[:500])
                done[path.name] = result
                report(result)
    return [done[p.name] for p in paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testtime.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill and write a report")
    run.add_argument("select", nargs="*", help="notebook name prefixes, e.g. 00 03")
    run.add_argument("--out", default=str(ROOT / "build"), help="output folder")
    run.add_argument("--quick", choices=["auto", "true", "false"], default="auto")
    run.add_argument("--figures", default=None, help="FIGURES_DIR passed to every notebook")
    run.add_argument("--jobs", type=int, default=1,
                     help="notebooks run side by side (one kernel each); default 1")
    run.add_argument("--notebooks", default=str(NOTEBOOKS), help="the folder of notebooks")
    check = sub.add_parser("check", help="check the notebook conventions")
    check.add_argument("select", nargs="*")
    args = parser.parse_args(argv)

    folder = Path(getattr(args, "notebooks", NOTEBOOKS))
    notebooks = list_notebooks(folder, select=args.select)
    if args.command == "check":
        bad = {p.name: check_conventions(p) for p in notebooks}
        for name, problems in bad.items():
            for problem in problems:
                print(f"{name}: {problem}")
        return 1 if any(bad.values()) else 0

    out = Path(args.out)
    params: dict[str, Any] = {}
    if args.quick != "auto":
        params["QUICK"] = args.quick == "true"
    if args.figures:
        params["FIGURES_DIR"] = str(Path(args.figures).resolve())
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.jobs < 1:
        parser.error(f"--jobs={args.jobs} is not valid; expected an int >= 1")

    def show(result: NotebookResult) -> None:
        print(f"{result.notebook}: {'pass' if result.ok else 'FAIL'} in {result.seconds:.1f} s "
              f"({result.mode}, {result.device}) {result.error}", flush=True)

    print(f"running {len(notebooks)} notebook(s), {args.jobs} at a time ...", flush=True)
    start = time.perf_counter()
    results = run_notebooks(notebooks, out, params, jobs=args.jobs, on_result=show)
    write_report(results, out / "course_report.md", jobs=args.jobs,
                 wall_seconds=round(time.perf_counter() - start, 1))
    print(f"report: {out / 'course_report.md'}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
