"""Mutation tests for the exercises: plausible wrong answers the grader must fail.

A *mutant* is a wrong answer to one exercise (a sign flipped, a normalisation missing, a
chunk boundary off by one, a constant that happens to fit the visible test), written as the
code that replaces the solution region of the exercise's solution cell. A notebook's mutants
live in a fixture file (``tests/mutants/NN_slug.py``, loaded by :func:`load_fixture`)::

    NEEDS = ["cell-05"]                     # lesson cells the exercises use (ids), if any
    MUTANTS = {
        "ex-rbf": [                          # exercise id -> its wrong answers
            ("forgets to square the distance", '''
    w = torch.softmax(-torch.cdist(q, k) / (2 * h**2), dim=-1)
    return w @ v
    '''),
            ...
        ],
    }

A replacement is one string (one solution region) or a tuple of strings (one per region, in
order), dedented and written at the region's indentation; or, for the usual one-place
mistake, an :class:`Edit` of the instructor's own answer, which shows the mistake and nothing
else::

        ("sums each group instead of averaging it", Edit(
            '''
    return curve.view(-1, width).mean(1)
    ''',
            '''
    return curve.view(-1, width).sum(1)
    ''')),

An edit's ``old`` text (surrounding newlines dropped, indentation as in the dedented answer)
must occur exactly once in the answer's regions.

:func:`mutation_score` grades with the real grader (:func:`~testtime.assignments.grade.
grade_notebook`: the instructor's reference run, the submission run cell by cell in a kernel
of its own, every verdict decided in the grader's process), first the student version with
the instructor's answers, which must score full points, then, for k = 1, 2, ..., the student
version with every exercise's k-th mutant (exercises are graded independently, so one run
grades one mutant of each). A mutant is *caught* when its exercise scores less than full
points.

:func:`visible_catches` measures the other half of a test cell's job: which mutants the
*visible* asserts alone reject, i.e. what a student sees before handing in. It runs the
exercise section in a fresh Python process (not the grader: no hidden tests, no recorded
results), each mutant after the notebook's setup cells.

Grading whole notebooks would take minutes each, so both the instructor notebook and the
submissions are cut to their exercise section: the cells up to the one that calls
``testtime.setup``, the lesson cells the fixture names in ``NEEDS``, and every cell from the
``## Exercises`` heading on. The grader does not know the difference; the whole-notebook path
is exercised by the grading tests on notebook 03.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import runpy
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from testtime.assignments.assemble import cell_key, grader_cells
from testtime.assignments.build import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    META_KEY,
    SOLUTION_BEGIN,
    SOLUTION_END,
    BuildError,
    replace_regions,
    source_of,
    student_version,
)
from testtime.assignments.grade import grade_notebook


@dataclass(frozen=True)
class Edit:
    """A mutant written as a change to the instructor's answer: ``old`` -> ``new``."""

    old: str
    new: str


Replacement = str | tuple[str, ...] | Edit


@dataclass
class Mutant:
    exercise: str
    name: str
    code: Replacement


@dataclass
class MutationResult:
    notebook: str
    reference_points: dict[str, tuple[float, float]]  # exercise -> (points, possible)
    caught: list[Mutant] = field(default_factory=list)
    survived: list[tuple[Mutant, float]] = field(default_factory=list)  # with its points

    @property
    def total(self) -> int:
        return len(self.caught) + len(self.survived)

    @property
    def score(self) -> str:
        return f"{len(self.caught)}/{self.total}"


def load_fixture(path: Path) -> tuple[list[str], list[Mutant]]:
    """The ``NEEDS`` cell ids and the mutants of a fixture file (see the module docstring)."""
    data = runpy.run_path(str(path))
    mutants = []
    for exercise, entries in data.get("MUTANTS", {}).items():
        for name, code in entries:
            mutants.append(Mutant(exercise, name, code))
    return list(data.get("NEEDS", [])), mutants


def replace_solution(source: str, code: Replacement, where: str = "cell") -> str:
    """``source`` with its solution regions (markers included) replaced by ``code``, each
    part dedented and written at its begin marker's indentation."""
    parts = [code] if isinstance(code, str) else list(code)
    out: list[str] = []
    inside: str | None = None
    used = 0
    for line in source.split("\n"):
        opening, closing = SOLUTION_BEGIN.match(line), SOLUTION_END.match(line)
        if opening:
            if used >= len(parts):
                raise BuildError(f"{where}: more solution regions than the mutant's "
                                 f"{len(parts)} replacement(s)")
            inside = opening.group("indent")
            body = textwrap.dedent(parts[used]).strip("\n")
            out.extend(inside + part if part else "" for part in body.split("\n"))
            used += 1
        elif closing:
            inside = None
        elif inside is None:
            out.append(line)
    if used != len(parts):
        raise BuildError(f"{where}: {used} solution region(s), the mutant has {len(parts)}")
    return "\n".join(out)


def solution_regions(source: str) -> list[str]:
    """The dedented bodies of the solution regions of ``source``, in order."""
    regions: list[str] = []
    body: list[str] | None = None
    for line in source.split("\n"):
        if SOLUTION_BEGIN.match(line):
            body = []
        elif SOLUTION_END.match(line):
            regions.append(textwrap.dedent("\n".join(body or [])).strip("\n"))
            body = None
        elif body is not None:
            body.append(line)
    return regions


def apply_edit(source: str, edit: Edit, where: str = "cell") -> tuple[str, ...]:
    """The regions of ``source`` with ``edit`` applied (its ``old`` must occur once)."""
    old, new = edit.old.strip("\n"), edit.new.strip("\n")
    regions = solution_regions(source)
    found = sum(r.count(old) for r in regions)
    if found != 1:
        raise BuildError(f"{where}: the edit's old text occurs {found} times in the answer "
                         f"(it must occur once): {old!r}")
    if not new:  # a deleted line goes with its line break
        old = old + "\n" if any(old + "\n" in r for r in regions) else "\n" + old
    return tuple(r.replace(old, new) for r in regions)


def exercise_section(nb: nbformat.NotebookNode,
                     needs: list[str] | tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """``nb`` cut to what its exercises need: the cells up to the one that calls
    ``testtime.setup`` (else the code cell after the ``parameters`` cell), the cells named in
    ``needs``, and every cell from the first ``## Exercises`` heading (else the first
    solution cell) on."""
    cells = nb.cells
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    setup_end = next((i for i in code if "testtime.setup(" in source_of(cells[i])), None)
    if setup_end is None:  # no setup call: the code cell after the parameters cell
        params = next((i for i in code if "parameters" in cells[i].metadata.get("tags", [])),
                      None)
        setup_end = next((i for i in code if params is not None and i > params), None)
    if setup_end is None:
        raise BuildError("no cell calls testtime.setup(...) and no code cell follows the "
                         "parameters cell")
    first = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"
                  and source_of(c).lstrip().lower().startswith("## exercises")), None)
    if first is None:
        first = next(i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", []))
    missing = set(needs) - {cell_key(c) for c in cells}
    if missing:
        raise BuildError(f"NEEDS names cells the notebook lacks: {sorted(missing)}")
    keep = [c for i, c in enumerate(cells)
            if i <= setup_end or i >= first or cell_key(c) in needs]
    out = copy.deepcopy(nb)
    out.cells = copy.deepcopy(keep)
    return out


def _submission(instructor: nbformat.NotebookNode, name: str,
                answers: dict[str, Replacement]) -> nbformat.NotebookNode:
    """The student version of ``instructor`` with each exercise answered: by ``answers`` where
    given, else by the instructor's own solution."""
    student = student_version(instructor, name)
    by_id = {cell_key(c): c for c in instructor.cells}
    for cell in student.cells:
        exercise = cell.metadata.get(META_KEY, {}).get("exercise")
        if "solution" not in cell.metadata.get("tags", []) or exercise is None:
            continue
        original = source_of(by_id[cell_key(cell)])
        code = answers.get(exercise)
        where = f"{name}, {exercise}"
        if isinstance(code, Edit):
            code = apply_edit(original, code, where)
        cell.source = original if code is None else replace_solution(original, code, where)
    return student


def mutation_score(notebook: Path, fixture: Path, *, seed: int = 0,
                   cell_timeout: float = 300) -> MutationResult:
    """Grade the instructor's answers and every mutant of ``fixture`` on ``notebook``'s
    exercise section (module docstring). Raises :class:`BuildError` when a mutant names an
    exercise the notebook does not have."""
    needs, mutants = load_fixture(fixture)
    full = nbformat.read(str(notebook), as_version=4)
    section = exercise_section(full, needs)
    points: dict[str, float] = {}
    for t in grader_cells(section):
        points[t.exercise] = points.get(t.exercise, 0.0) + t.points
    unknown = {m.exercise for m in mutants} - set(points)
    if unknown:
        raise BuildError(f"{fixture.name}: no exercise {sorted(unknown)} in {notebook.name} "
                         f"(it has {sorted(points)})")
    rounds: list[dict[str, Mutant]] = []
    for m in mutants:
        k = next((i for i, r in enumerate(rounds) if m.exercise not in r), None)
        if k is None:
            rounds.append({})
            k = len(rounds) - 1
        rounds[k][m.exercise] = m
    result = MutationResult(notebook.name, {})
    with tempfile.TemporaryDirectory(prefix="testtime-mutants-") as tmp:
        source = Path(tmp) / "course" / notebook.name
        source.parent.mkdir()
        nbformat.write(section, str(source))

        def grade(answers: dict[str, Replacement], label: str) -> dict[str, float]:
            path = Path(tmp) / label / notebook.name
            path.parent.mkdir()
            nbformat.write(_submission(section, notebook.name, answers), str(path))
            report = grade_notebook(path, notebooks=[source], seed=seed,
                                    cell_timeout=cell_timeout)
            got: dict[str, float] = {}
            for e in report.exercises:
                got[e.exercise] = got.get(e.exercise, 0.0) + e.points
            return got

        got = grade({}, "reference")
        result.reference_points = {ex: (got.get(ex, 0.0), p) for ex, p in points.items()}
        for k, chosen in enumerate(rounds):
            got = grade({ex: m.code for ex, m in chosen.items()}, f"round-{k + 1}")
            for ex, m in chosen.items():
                if got.get(ex, 0.0) < points[ex]:
                    result.caught.append(m)
                else:
                    result.survived.append((m, got.get(ex, 0.0)))
    return result


def _mutated(source: str, code: Replacement, where: str) -> str:
    return replace_solution(source, apply_edit(source, code, where) if isinstance(code, Edit)
                            else code, where)


def _visible_in_process(notebook: Path, fixture: Path) -> dict[str, list]:
    """Run in a fresh process by :func:`visible_catches`: exercise -> [reference passes its
    visible tests, [mutant name, caught] ...]."""
    needs, mutants = load_fixture(fixture)
    section = exercise_section(nbformat.read(str(notebook), as_version=4), needs)
    namespace: dict = {"__name__": "__main__"}
    solutions, visible = {}, {}
    sink = io.StringIO()
    os.chdir(notebook.parent)
    for cell in section.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata
        exercise = meta.get(META_KEY, {}).get("exercise")
        if "solution" in meta.get("tags", []):
            solutions[exercise] = source_of(cell)
        elif "grader" in meta.get("tags", []):
            visible[exercise] = replace_regions(source_of(cell), HIDDEN_BEGIN, HIDDEN_END, None)[0]
        else:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(compile(source_of(cell), cell_key(cell) or "cell", "exec"), namespace)

    def passes(answer: str, exercise: str) -> bool:
        env = dict(namespace)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            try:
                exec(compile(answer, "solution", "exec"), env)
                exec(compile(visible[exercise], "visible tests", "exec"), env)
            except Exception:  # noqa: BLE001 - any failure of the visible tests counts
                return False
        return True

    out: dict[str, list] = {ex: [passes(src, ex), []] for ex, src in solutions.items()}
    for m in mutants:
        answer = _mutated(solutions[m.exercise], m.code, f"{notebook.name}, {m.exercise}")
        out[m.exercise][1].append([m.name, not passes(answer, m.exercise)])
    return out


def visible_catches(notebook: Path, fixture: Path, timeout: float = 600) -> dict[str, list]:
    """Exercise -> [the instructor's answer passes its visible tests, [[mutant, caught by the
    visible tests alone], ...]], measured in a fresh Python process (quick mode)."""
    env = {**os.environ, "TESTTIME_QUICK": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "testtime.assignments.mutants", str(notebook),
                           str(fixture)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(f"{notebook.name}: the visible-test run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # the module proper, not __main__: fixtures import its Edit
    from testtime.assignments import mutants

    print(json.dumps(mutants._visible_in_process(Path(sys.argv[1]).resolve(),
                                                 Path(sys.argv[2]).resolve())))
