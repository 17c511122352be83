"""List the ``assert`` statements of the course notebooks that carry no message.

    python tools/list_bare_asserts.py              # every notebooks/NN_*.ipynb
    python tools/list_bare_asserts.py 02 11        # notebooks whose names start with these
    python tools/list_bare_asserts.py --count      # one line per notebook

A bare ``assert x`` fails with ``AssertionError:`` and nothing more; the course's rule is that
every assert says what was expected and what was measured, in lesson cells, visible tests and
hidden tests alike (a hidden test's message is what the grade report shows the student).
Exit status 1 when any is found. tests/test_assert_messages.py runs the same search.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HIDDEN_BEGIN = re.compile(r"^\s*###\s*BEGIN HIDDEN TESTS\s*$")
HIDDEN_END = re.compile(r"^\s*###\s*END HIDDEN TESTS\s*$")


@dataclass
class BareAssert:
    notebook: str
    cell: str  # the cell id
    line: int  # 1-based, within the cell
    region: str  # "lesson", "visible test" or "hidden test"
    text: str

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell} line {self.line} ({self.region}): {self.text}"


def _python(source: str) -> str:
    """The cell's source with IPython magics and shell lines blanked, so ``ast`` can parse it."""
    return "\n".join("pass" if ln.lstrip().startswith(("%", "!")) else ln
                     for ln in source.split("\n"))


def bare_asserts(path: Path) -> list[BareAssert]:
    """Every ``assert`` without a message in the code cells of the notebook at ``path``."""
    nb = nbformat.read(str(path), as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        hidden, inside = set(), False
        for number, line in enumerate(lines, start=1):
            if HIDDEN_BEGIN.match(line) or HIDDEN_END.match(line):
                inside = bool(HIDDEN_BEGIN.match(line))
            elif inside:
                hidden.add(number)
        grader = "grader" in cell.get("metadata", {}).get("tags", [])
        cell_id = cell.get("id") or f"#{index}"
        try:
            tree = ast.parse(_python(cell.source))
        except SyntaxError as err:
            raise ValueError(f"{path.name} cell {cell_id}: not valid Python ({err})") from None
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.msg is None]
        for node in sorted(nodes, key=lambda n: n.lineno):
            region = ("hidden test" if node.lineno in hidden
                      else "visible test" if grader else "lesson")
            text = lines[node.lineno - 1].strip()
            found.append(BareAssert(path.name, cell_id, node.lineno, region, text))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/list_bare_asserts.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("select", nargs="*", help="notebook name prefixes, e.g. 02 11")
    parser.add_argument("--count", action="store_true", help="only the number per notebook")
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.select:
        paths = [p for p in paths if any(p.name.startswith(s) for s in args.select)]
        if not paths:
            raise SystemExit(f"select={args.select!r} matches no notebook in notebooks/")
    total = 0
    for path in paths:
        found = bare_asserts(path)
        total += len(found)
        if args.count:
            print(f"{path.name}: {len(found)}")
        else:
            for bare in found:
                print(bare)
    print(f"{total} asserts without a message")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
