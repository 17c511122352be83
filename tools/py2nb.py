"""Write a course notebook from a percent-format script (an authoring aid; the committed
``.ipynb`` is the source of truth afterwards).

    python tools/py2nb.py draft.py notebooks/03_test_time_regression.ipynb

Cell headers (``# %%`` lines) take these words:

    # %% [markdown]            a markdown cell; its lines lose their leading "# ";
                               {{colab}} becomes the notebook's Open-in-Colab badge
    # %% setup                 the standard setup cell (its body is ignored)
    # %% parameters            the papermill parameters cell (empty body: the standard one)
    # %% solution id=ex-topk   an exercise solution (### BEGIN/END SOLUTION inside)
    # %% grader points=2 id=ex-topk-test
                               the graded test cell of the exercise just above
    # %% tags=a,b id=name      any other tags / an explicit cell id

Cells without an explicit id get ``cell-NN`` (their position). Solution and grader cells
must have explicit ids: grading matches them by id.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from testtime.course import PARAMETERS_CELL, SETUP_CELL, colab_badge  # noqa: E402

HEADER = re.compile(r"^# %%(.*)$")


def parse_header(text: str) -> dict:
    words = text.split()
    spec: dict = {"markdown": False, "tags": [], "id": None, "points": None}
    for word in words:
        if word == "[markdown]":
            spec["markdown"] = True
        elif word in ("setup", "parameters", "solution", "grader"):
            spec["tags"].append(word)
        elif word.startswith("tags="):
            spec["tags"] += [t for t in word[5:].split(",") if t]
        elif word.startswith("id="):
            spec["id"] = word[3:]
        elif word.startswith("points="):
            spec["points"] = float(word[7:]) if "." in word else int(word[7:])
        else:
            raise ValueError(f"unknown cell header word {word!r}")
    return spec


def convert(text: str, name: str = "notebook.ipynb") -> nbformat.NotebookNode:
    """Build the notebook; ``{{colab}}`` in markdown becomes the badge of notebooks/<name>."""
    chunks: list[tuple[dict, list[str]]] = []
    for line in text.splitlines():
        match = HEADER.match(line)
        if match:
            chunks.append((parse_header(match.group(1)), []))
        elif chunks:
            chunks[-1][1].append(line)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    last_solution = None
    for i, (spec, lines) in enumerate(chunks):
        body = "\n".join(lines).strip("\n")
        tags = spec["tags"]
        if spec["markdown"]:
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            body = body.replace("{{colab}}", colab_badge(f"notebooks/{name}"))
            cell = nbformat.v4.new_markdown_cell(body)
        elif "setup" in tags:
            cell = nbformat.v4.new_code_cell(SETUP_CELL)
            tags = [t for t in tags if t != "setup"]
        elif "parameters" in tags:
            cell = nbformat.v4.new_code_cell(body if body else PARAMETERS_CELL)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if ("solution" in tags or "grader" in tags) and not spec["id"]:
            raise ValueError(f"cell {i}: solution and grader cells need an explicit id=")
        cell.id = spec["id"] or f"cell-{i:02d}"
        if tags:
            cell.metadata["tags"] = tags
        if "solution" in tags:
            last_solution = cell.id
            cell.metadata["testtime"] = {"exercise": cell.id}
        if "grader" in tags:
            if spec["points"] is None or last_solution is None:
                raise ValueError(f"cell {i}: a grader cell needs points= and a solution above it")
            cell.metadata["testtime"] = {"points": spec["points"], "exercise": last_solution}
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    nb = convert(Path(argv[0]).read_text(), Path(argv[1]).name)
    nbformat.write(nb, argv[1])
    print(f"wrote {argv[1]} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
