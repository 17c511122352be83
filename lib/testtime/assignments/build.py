"""Student versions of the course notebooks: solutions out, hidden tests out, outputs out.

A solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``, anywhere in a code cell,
possibly several per cell and possibly indented inside a function body) becomes a stub at the
marker's indentation that raises ``NotImplementedError`` naming the exercise. A hidden-test
region (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) becomes a one-line comment
saying that hidden tests run at grading time. Everything else is kept, cell ids included (cells
without one get ``cell-NN``), so the grader can find each exercise by id. The same input gives
the same bytes.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from testtime.course import NOTEBOOK_NAME, colab_url, list_notebooks

ASSIGNMENTS = Path(__file__).resolve().parents[3] / "assignments"
META_KEY = "testtime"  # notebook-level metadata key the grader reads back

_MARKER = r"^(?P<indent>[ \t]*)###[ \t]*{kind}[ \t]*$"
SOLUTION_BEGIN = re.compile(_MARKER.format(kind="BEGIN SOLUTION"))
SOLUTION_END = re.compile(_MARKER.format(kind="END SOLUTION"))
HIDDEN_BEGIN = re.compile(_MARKER.format(kind="BEGIN HIDDEN TESTS"))
HIDDEN_END = re.compile(_MARKER.format(kind="END HIDDEN TESTS"))

STUDENT_NOTE = (
    "**Student version.** The exercises at the end are yours: replace each "
    "`raise NotImplementedError(...)` with your code, then run the test cell below it. Keep "
    "the cells (and their ids) in place; you may add cells. When your notebook is graded, each "
    "test cell is replaced by the instructor's copy, which also runs hidden tests, so editing "
    "a test cell changes nothing."
)


class BuildError(ValueError):
    """A course notebook that cannot be turned into a student version (the message says why)."""


def source_of(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def replace_regions(
    source: str, begin: re.Pattern, end: re.Pattern, stub: str | None, where: str = "cell"
) -> tuple[str, int]:
    """Replace every ``begin`` ... ``end`` region (marker lines included) by ``stub``, written
    at the begin marker's indentation (``None``: drop the region). Returns the new source and
    the number of regions. Unbalanced or nested markers raise :class:`BuildError`."""
    out: list[str] = []
    inside: str | None = None  # the open marker's indentation
    count = 0
    for number, line in enumerate(source.split("\n"), start=1):
        opening, closing = begin.match(line), end.match(line)
        if opening:
            if inside is not None:
                raise BuildError(f"{where}, line {number}: a region opens inside another one")
            inside = opening.group("indent")
            count += 1
            if stub is not None:
                out.extend(inside + part for part in stub.split("\n"))
        elif closing:
            if inside is None:
                raise BuildError(f"{where}, line {number}: a region closes without opening")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise BuildError(f"{where}: a region opens and never closes")
    return "\n".join(out), count


def solution_stub(exercise: str) -> str:
    return (
        "# YOUR CODE HERE\n"
        f'raise NotImplementedError("exercise {exercise}: replace this line with your solution")'
    )


HIDDEN_STUB = "# (hidden tests run here when the notebook is graded)"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _stable_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id: keep existing unique ids, else ``cell-NN`` (its position)."""
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in seen:
            cid = f"cell-{i:02d}"
            while cid in seen:
                cid += "x"
        cell["id"] = cid
        seen.add(cid)


def student_version(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student version of the instructor notebook ``nb`` (called ``name``); ``nb`` is
    not modified."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    _stable_ids(nb)
    exercises = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell.outputs, cell.execution_count = [], None
        meta = cell.get("metadata", {})
        tags = meta.get("tags", [])
        where = f"{name}, cell {cell.id}"
        src = source_of(cell)
        exercise = meta.get(META_KEY, {}).get("exercise") or cell.id
        new, n_solution = replace_regions(
            src, SOLUTION_BEGIN, SOLUTION_END, solution_stub(exercise), where
        )
        new, _ = replace_regions(new, HIDDEN_BEGIN, HIDDEN_END, HIDDEN_STUB, where)
        if "solution" in tags and n_solution == 0:
            raise BuildError(f"{where}: a solution cell without ### BEGIN SOLUTION")
        if n_solution:
            exercises.append(exercise)
        if _parses(src) and not _parses(new):
            raise BuildError(f"{where}: the student version of this cell is not valid Python")
        cell.source = new
    if nb.cells and nb.cells[0].cell_type == "markdown":
        first = nb.cells[0]
        first.source = source_of(first).replace(
            colab_url(f"notebooks/{name}"), colab_url(f"assignments/{name}")
        )
        note = nbformat.v4.new_markdown_cell(STUDENT_NOTE)
        note["id"] = "student-note"
        if all(c.id != note.id for c in nb.cells):
            nb.cells.insert(1, note)
    nb.metadata[META_KEY] = {"notebook": name, "exercises": exercises}
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The exact text written to disk (nbformat's sorted-key JSON plus a final newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


@dataclass
class BuildResult:
    written: list[str]
    unchanged: list[str]
    removed: list[str]


def expected_files(notebooks: list[Path]) -> dict[str, str]:
    """File name -> text of the student version, for every given instructor notebook."""
    files = {}
    for path in notebooks:
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as err:  # noqa: BLE001 - any reading problem becomes one message
            raise BuildError(f"{path.name}: not a readable notebook ({err})") from None
        files[path.name] = render(student_version(nb, path.name))
    return files


def build(
    notebooks: list[Path] | None = None,
    out: Path = ASSIGNMENTS,
    *,
    check: bool = False,
    prune: bool = True,
) -> BuildResult:
    """Write (or, with ``check``, only compare) the student versions into ``out``; with
    ``prune``, course-named files in ``out`` that no notebook produces are removed (pass
    ``prune=False`` when building a selection, or the other student versions would go).
    Returns what differed from the fresh build."""
    files = expected_files(list_notebooks() if notebooks is None else notebooks)
    present = {p.name for p in out.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name)}
    written, unchanged = [], []
    for name, text in files.items():
        path = out / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            unchanged.append(name)
            continue
        written.append(name)
        if not check:
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    removed = sorted(present - set(files)) if prune else []
    if not check:
        for name in removed:
            (out / name).unlink()
    return BuildResult(written, unchanged, removed)
