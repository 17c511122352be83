"""Strip what running a notebook leaves behind: outputs, execution counts, saved widget state.

    python tools/strip_outputs.py                      # every notebooks/NN_*.ipynb
    python tools/strip_outputs.py path.ipynb ...       # these files
    python tools/strip_outputs.py --check              # exit 1 if anything would change

The instructor notebooks are committed stripped (``python -m testtime.course check`` insists).
Saved widget state (``metadata.widgets``) is dropped as well: a reopened notebook then shows the
sliders' cells as not yet run instead of "Error displaying widget: model not found". Needs
only nbformat, so the pre-commit hook (.pre-commit-config.yaml) runs it in its own environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
# Cell metadata that only records a run (papermill's and JupyterLab's execution timings).
RUN_METADATA = ("execution", "papermill", "collapsed", "scrolled")


def strip(nb: nbformat.NotebookNode) -> bool:
    """Strip ``nb`` in place; returns whether anything changed."""
    changed = nb.metadata.pop("widgets", None) is not None
    changed |= nb.metadata.pop("papermill", None) is not None
    for cell in nb.cells:
        for key in RUN_METADATA:
            changed |= cell.metadata.pop(key, None) is not None
        if cell.cell_type == "code":
            changed |= bool(cell.outputs) or cell.execution_count is not None
            cell.outputs, cell.execution_count = [], None
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/strip_outputs.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/NN_*)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if not stripped")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        if strip(nb):
            dirty.append(path)
            if not args.check:
                nbformat.write(nb, str(path))
    verb = "not stripped" if args.check else "stripped"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
