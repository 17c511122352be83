"""Answers in sight: exercise solutions that the student version already spells out.

A solution region leaks when three or more of its consecutive *non-trivial* lines also
appear, consecutively, in a cell of the student version: the student could copy them from
above (or from a visible test) instead of working them out. The student version is built
in memory with :func:`~testtime.assignments.build.student_version`, so the cells compared
are exactly what a student sees, the exercise's own cell included (its scaffolding stays in
sight; the region itself is stubbed out).

Lines are compared after normalisation, one physical line at a time:

- comments and indentation are dropped;
- every name that is not a keyword becomes ``_``, attributes included (``x.mean(0)`` reads
  ``_ . _ ( 0 )``): a copy that renames variables, or calls ``F.softmax`` where the
  solution calls ``torch.softmax``, still matches;
- every string becomes ``"s"``; keywords, numbers and operators are kept.

A normalised line is *trivial*, and skipped before looking for runs, when it is blank, has
fewer than three tokens (``pass``, ``return _``, ``else :``, ``break``), holds only
brackets and punctuation (``]) ,``), or is an ``import``/``from`` line. Code cells are
compared whole; in markdown cells only fenced code blocks (```` ``` ````) count, prose and
inline code do not.
"""

from __future__ import annotations

import copy
import io
import keyword
import re
import tokenize
from dataclasses import dataclass

import nbformat

from testtime.assignments.build import (
    META_KEY,
    SOLUTION_BEGIN,
    SOLUTION_END,
    _stable_ids,
    source_of,
    student_version,
)

RUN = 3  # the shortest shared run that counts as a leak
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
           tokenize.DEDENT, tokenize.ENDMARKER}


@dataclass(frozen=True)
class Finding:
    """Solution lines of ``exercise`` that the student version's cell ``cell`` (its index
    in the student version, and id) also holds."""

    notebook: str
    exercise: str
    cell: int
    cell_id: str
    lines: tuple[str, ...]  # the solution's own lines, as written

    def __str__(self) -> str:
        shown = "\n".join(f"    {line.strip()}" for line in self.lines)
        return (f"{self.notebook}: exercise {self.exercise} shares {len(self.lines)} lines "
                f"with cell {self.cell} ({self.cell_id}):\n{shown}")


def _read_tokens(text: str) -> tuple[list[tokenize.TokenInfo], bool]:
    """The tokens of ``text`` up to the first tokenizing error, and whether there was none."""
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            tokens.append(token)
    except (tokenize.TokenError, SyntaxError):
        return tokens, False
    return tokens, True


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    """The tokens of ``source``; when the whole does not tokenize (an unfinished fragment,
    odd indentation), those of each line read on its own."""
    tokens, complete = _read_tokens(source)
    if complete:
        return tokens
    tokens = []
    for row, line in enumerate(source.split("\n"), start=1):
        found, _ = _read_tokens(line.strip())
        tokens += [t._replace(start=(row, t.start[1])) for t in found]
    return tokens


def normalised_lines(source: str) -> dict[int, str]:
    """Line number (from 1) -> normalised text, for the lines of ``source`` that are not
    trivial (see the module docstring)."""
    words: dict[int, list[str]] = {}
    for token in _tokens(source):
        if token.type in SKIPPED:
            continue
        if token.type == tokenize.STRING:
            word = '"s"'
        elif token.type == tokenize.NAME and not keyword.iskeyword(token.string):
            word = "_"
        else:
            word = token.string
        words.setdefault(token.start[0], []).append(word)
    return {row: " ".join(line) for row, line in words.items() if not _trivial(line)}


def _trivial(line: list[str]) -> bool:
    only_punctuation = set(line) <= set("()[]{},:;")
    return len(line) < 3 or only_punctuation or line[0] in ("import", "from")


def solution_regions(source: str) -> list[list[int]]:
    """The line numbers (from 1) inside each ``### BEGIN SOLUTION`` region of ``source``."""
    regions: list[list[int]] = []
    inside = False
    for row, line in enumerate(source.split("\n"), start=1):
        if SOLUTION_BEGIN.match(line):
            inside = True
            regions.append([])
        elif SOLUTION_END.match(line):
            inside = False
        elif inside:
            regions[-1].append(row)
    return regions


def _visible_code(cell: dict) -> str:
    if cell["cell_type"] == "code":
        return source_of(cell)
    if cell["cell_type"] == "markdown":
        return "\n".join(FENCE.findall(source_of(cell)))
    return ""


def _shared_runs(solution: list[str], other: list[str]) -> list[range]:
    """Maximal runs (index ranges into ``solution``) of at least ``RUN`` consecutive lines
    whose every window of ``RUN`` lines also occurs consecutively in ``other``."""
    windows = {tuple(other[i:i + RUN]) for i in range(len(other) - RUN + 1)}
    shared = [False] * len(solution)
    for i in range(len(solution) - RUN + 1):
        if tuple(solution[i:i + RUN]) in windows:
            shared[i:i + RUN] = [True] * RUN
    runs: list[range] = []
    for j, hit in enumerate(shared):
        if hit and runs and runs[-1].stop == j:
            runs[-1] = range(runs[-1].start, j + 1)
        elif hit:
            runs.append(range(j, j + 1))
    return runs


def answers_in_sight(nb: nbformat.NotebookNode, name: str) -> list[Finding]:
    """Every run of at least three consecutive non-trivial solution lines of the instructor
    notebook ``nb`` (called ``name``) that a cell of its student version also holds
    (compared after normalisation; see the module docstring). ``nb`` is not modified."""
    instructor = copy.deepcopy(nb)
    _stable_ids(instructor)  # the ids student_version gives, so exercises are named alike
    student = student_version(instructor, name)
    visible = [list(normalised_lines(_visible_code(c)).values()) for c in student.cells]
    findings = []
    for cell in instructor.cells:
        if cell.cell_type != "code":
            continue
        source = source_of(cell)
        exercise = cell.get("metadata", {}).get(META_KEY, {}).get("exercise") or cell.id
        text = source.split("\n")
        normal = normalised_lines(source)
        for region in solution_regions(source):
            rows = [row for row in region if row in normal]
            ours = [normal[row] for row in rows]
            for index, theirs in enumerate(visible):
                for run in _shared_runs(ours, theirs):
                    lines = tuple(text[rows[j] - 1] for j in run)
                    findings.append(Finding(name, exercise, index, student.cells[index].id, lines))
    return findings
