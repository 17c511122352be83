"""Rewrite the setup and parameters cells of every notebook to the library's current text.

    python tools/sync_standard_cells.py

Run it after changing ``testtime.course.SETUP_CELL``/``PARAMETERS_CELL``, then
``make assignments``. (To rename the repository, use ``python tools/fork.py OWNER/NAME``,
which runs this too.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
from testtime.course import PARAMETERS_CELL, SETUP_CELL, list_notebooks  # noqa: E402


def sync(root: Path = ROOT) -> int:
    """Rewrite the standard cells of ``root/notebooks/NN_*.ipynb``; returns how many changed.
    The setup cell is recognised as a first code cell that looks for the library."""
    changed = 0
    for path in list_notebooks(root / "notebooks"):
        nb = nbformat.read(str(path), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        before = nbformat.writes(nb)
        if code and "importlib.util.find_spec(\"testtime\")" in code[0].source:
            code[0].source = SETUP_CELL
        for cell in code:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cell.source = PARAMETERS_CELL
        if nbformat.writes(nb) != before:
            nbformat.write(nb, str(path))
            changed += 1
    return changed


def main() -> int:
    print(f"{sync()} notebooks updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
