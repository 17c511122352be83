"""Point a fork of the course at its own GitHub repository, in one command.

    python tools/fork.py OWNER/NAME

The badges, the Colab links and the setup cell's install line all name the repository given by
``REPO`` in lib/testtime/course.py. This rewrites every place that name appears: ``REPO``
itself, the notebooks (title badges, setup cells), README.md, syllabus.md, CITATION.cff,
CONTRIBUTING.md and the other documents listed in ``TEXT_FILES``; then it syncs the standard
cells (tools/sync_standard_cells.py) and rebuilds the student versions in assignments/ with the
rewritten library. Afterwards ``python -m testtime.course check`` and
``python -m testtime.assignments build --check`` pass as they did before; commit the result.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# GitHub's rules: an owner is 1-39 letters, digits or inner hyphens; a name is letters, digits, ".-_".
REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}$")
REPO_LINE = re.compile(r'^REPO = "([^"]+)"', re.M)
COURSE_PY = "lib/testtime/course.py"
TEXT_FILES = (
    COURSE_PY, "README.md", "syllabus.md", "CITATION.cff", "CONTRIBUTING.md", "pyproject.toml",
    "environment.yml", "figures/README.md", "notebooks/*.md", "notebooks/*.ipynb",
    "notebooks/drafts/*.md", "notebooks/drafts/*.ipynb",
)


def current_repo(root: Path = ROOT) -> str:
    """The ``owner/name`` that ``REPO`` in lib/testtime/course.py names now."""
    match = REPO_LINE.search((root / COURSE_PY).read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"no line REPO = \"owner/name\" in {root / COURSE_PY}")
    return match.group(1)


def rename(old: str, new: str, root: Path = ROOT) -> list[Path]:
    """Replace ``old`` by ``new`` in every file of ``TEXT_FILES`` under ``root`` (byte for byte
    otherwise); returns the files that changed."""
    changed = []
    for pattern in TEXT_FILES:
        for path in sorted(root.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new), encoding="utf-8")
                changed.append(path)
    return changed


def fork(new: str, root: Path = ROOT) -> list[Path]:
    """Rename the repository to ``new`` (``owner/name``) everywhere under ``root``, sync the
    standard cells and rebuild assignments/; returns the files renamed in place."""
    if not REPO_NAME.match(new):
        raise ValueError(f"repo={new!r}: expected a GitHub owner/name such as 'alice/ttc-fork'")
    changed = rename(current_repo(root), new, root)
    # The rewritten library must do the rest, not whatever `testtime` this process could import.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root / "lib")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    for command in ([sys.executable, str(root / "tools" / "sync_standard_cells.py")],
                    [sys.executable, "-m", "testtime.assignments", "build"]):
        subprocess.run(command, cwd=root, env=env, check=True)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/fork.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="the fork's GitHub owner/name, e.g. alice/ttc-fork")
    args = parser.parse_args(argv)
    old = current_repo()
    try:
        changed = fork(args.repo)
    except ValueError as err:
        parser.error(str(err))
    print(f"{old} -> {args.repo}: {len(changed)} files rewritten")
    for path in changed:
        print(f"  {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
