"""The course as a whole: the notebook setup cell, the notebook conventions, and running every
notebook with papermill into a report.

    python -m testtime.course run                 # every notebook, in order, quick on CPU
    python -m testtime.course run 00 03           # just these
    python -m testtime.course check               # conventions only, no execution
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
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
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "git+https://github.com/{REPO}.git"], check=True)"""

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
        match = re.search(r"testtime run: mode=(\w+) device=([\w:]+)", output.read_text())
        if match:
            mode, device = match.groups()
    return NotebookResult(path.name, not error, round(seconds, 1), mode, device, error)


def write_report(results: list[NotebookResult], path: Path) -> None:
    lines = [
        "# Course run report",
        "",
        "| notebook | mode | device | seconds | result |",
        "|---|---|---|---:|---|",
    ]
    for r in results:
        status = "pass" if r.ok else f"FAIL: {r.error}"
        lines.append(f"| {r.notebook} | {r.mode} | {r.device} | {r.seconds:.1f} | {status} |")
    total = sum(r.seconds for r in results)
    lines += ["", f"{sum(r.ok for r in results)}/{len(results)} passed in {total:.0f} s"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps([asdict(r) for r in results], indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testtime.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute notebooks with papermill and write a report")
    run.add_argument("select", nargs="*", help="notebook name prefixes, e.g. 00 03")
    run.add_argument("--out", default=str(ROOT / "build"), help="output folder")
    run.add_argument("--quick", choices=["auto", "true", "false"], default="auto")
    run.add_argument("--figures", default=None, help="FIGURES_DIR passed to every notebook")
    check = sub.add_parser("check", help="check the notebook conventions")
    check.add_argument("select", nargs="*")
    args = parser.parse_args(argv)

    notebooks = list_notebooks(select=args.select)
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
    results = []
    for path in notebooks:
        print(f"running {path.name} ...", flush=True)
        result = execute_notebook(path, out / "executed" / path.name, params)
        print(f"  {'pass' if result.ok else 'FAIL'} in {result.seconds:.1f} s "
              f"({result.mode}, {result.device}) {result.error}", flush=True)
        results.append(result)
    write_report(results, out / "course_report.md")
    print(f"report: {out / 'course_report.md'}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
