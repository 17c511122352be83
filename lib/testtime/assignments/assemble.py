"""Put the instructor's test cells back into a submission before it is graded.

Whatever the student left where a test cell was (an edited copy, nothing, a copy moved
elsewhere, a duplicate) is thrown away, and the instructor's cell (visible and hidden tests)
goes in its place: where the student's copy was if that is still below the exercise's solution
cell, else right below the solution cell, else (solution cell gone too) after the nearest cell
that preceded it in the instructor's notebook. Cells are matched by id (nbformat >= 4.5 ids,
or the ``metadata.id`` that some front ends keep), solution cells also by their
``metadata.testtime.exercise``. The student's other cells, added ones included, are kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat

from testtime.assignments.build import META_KEY, source_of, student_version

GUARD_ID = "testtime-grader-guard"

# Runs first in the graded kernel: exit() and os._exit() raise instead of ending the kernel,
# and every cell may print at most `limit` characters per stream (the rest is dropped).
GUARD_SOURCE = '''\
# Inserted by the grader (testtime.assignments), not part of the course.
def _testtime_guard(limit):
    import builtins, os

    class GraderExit(RuntimeError):
        pass

    def refuse(*args, **kwargs):
        raise GraderExit("the grader does not allow exit(), quit() or os._exit() here")

    ip = get_ipython()
    for name in ("exit", "quit"):
        ip.user_ns[name] = refuse
        setattr(builtins, name, refuse)
    os._exit = refuse

    import sys
    budgets = {}
    for stream in (sys.stdout, sys.stderr):
        original = stream.write

        def write(text, _original=original, _key=id(stream)):
            left = budgets.get(_key, limit)
            if left <= 0:
                return len(text)
            if len(text) > left:
                text = text[:left] + f"\\n[the grader cut this output at {limit} characters]\\n"
            budgets[_key] = left - len(text)
            return _original(text)

        stream.write = write
    ip.events.register("pre_run_cell", lambda *args: budgets.clear())


_testtime_guard({limit})
del _testtime_guard'''


@dataclass(frozen=True)
class GradedCell:
    """A graded test cell of the instructor notebook."""

    id: str
    exercise: str
    points: float


def cell_key(cell: dict) -> str | None:
    return cell.get("id") or cell.get("metadata", {}).get("id")


def grader_cells(nb: nbformat.NotebookNode) -> list[GradedCell]:
    """The graded test cells of an instructor notebook, in order."""
    tests = []
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if cell.cell_type == "code" and "grader" in meta.get("tags", []):
            info = meta.get(META_KEY, {})
            exercise, points = info.get("exercise", ""), info.get("points", 0)
            tests.append(GradedCell(cell_key(cell), exercise, points))
    return tests


def _is_test_cell(cell: dict, grader_ids: set[str]) -> bool:
    meta = cell.get("metadata", {})
    return (
        cell_key(cell) in grader_ids
        or "grader" in meta.get("tags", [])
        or "points" in meta.get(META_KEY, {})
    )


def _find_solution(cells: list, exercise: str) -> int | None:
    for i, cell in enumerate(cells):
        if cell_key(cell) == exercise:
            return i
    for i, cell in enumerate(cells):
        if cell.get("metadata", {}).get(META_KEY, {}).get("exercise") == exercise:
            return i
    return None


class _Slot:
    """Where the student's copy of a test cell was."""

    def __init__(self, test_id: str):
        self.test_id = test_id

    def get(self, key: str, default=None):  # looks like a cell without id or metadata
        return default


def assemble(
    instructor: nbformat.NotebookNode,
    submission: nbformat.NotebookNode,
    *,
    output_limit: int = 20_000,
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to grade: the submission with the instructor's test cells restored and
    the grader's guard cell first. Returns it and notes on what was restored."""
    tests = grader_cells(instructor)
    by_id = {cell_key(c): c for c in instructor.cells}
    grader_ids = {t.id for t in tests}
    cells: list = []
    slots: dict[str, _Slot] = {}
    notes: list[str] = []
    handed_out = {cell_key(c): source_of(c) for c in student_version(instructor, "").cells}
    for cell in submission.cells:
        key = cell_key(cell)
        if _is_test_cell(cell, grader_ids):
            if key in grader_ids and key not in slots:
                slots[key] = _Slot(key)
                cells.append(slots[key])
                if source_of(cell).strip() != handed_out.get(key, "").strip():
                    notes.append(f"{key}: the submission's copy was edited; graded with the "
                                 "instructor's")
            elif key not in grader_ids:
                notes.append(f"dropped a test cell the course does not have ({key})")
            continue
        cell = copy.deepcopy(cell)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)

    instructor_order = [cell_key(c) for c in instructor.cells]
    for test in tests:
        solution = _find_solution(cells, test.exercise)
        slot = slots.get(test.id)
        at = cells.index(slot) if slot is not None else None
        if at is not None and (solution is None or at > solution):
            continue
        if at is not None:
            cells.pop(at)
            solution = _find_solution(cells, test.exercise)
        if solution is not None:
            where = solution + 1
            notes.append(f"{test.id}: placed right after its solution cell {test.exercise}")
        else:
            where = len(cells)
            before = instructor_order[: instructor_order.index(test.id)]
            present = {c.test_id if isinstance(c, _Slot) else cell_key(c): i
                       for i, c in enumerate(cells)}
            for key in reversed(before):
                if key in present:
                    where = present[key] + 1
                    break
            notes.append(f"{test.id}: the solution cell {test.exercise} is missing")
        slot = slot or _Slot(test.id)
        cells.insert(where, slot)

    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(instructor.metadata)
    guard = nbformat.v4.new_code_cell(GUARD_SOURCE.replace("{limit}", str(int(output_limit))))
    guard["id"] = GUARD_ID
    out.cells.append(guard)
    seen = {GUARD_ID}
    for i, cell in enumerate(cells):
        if isinstance(cell, _Slot):
            cell = copy.deepcopy(by_id[cell.test_id])
            cell["outputs"], cell["execution_count"] = [], None
        else:
            cell = nbformat.from_dict(cell)
        key = cell_key(cell)
        if not key or key in seen:
            key = f"student-{i:03d}"
        cell["id"] = key
        seen.add(key)
        out.cells.append(cell)
    return out, notes
