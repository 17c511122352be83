"""Grade every exercise's wrong answers (tests/mutants/) with the real grader and print the
mutation score per notebook (see testtime.assignments.mutants).

    python tools/mutation_score.py            # every notebook with a fixture
    python tools/mutation_score.py 03 07      # a selection
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from testtime.assignments.mutants import mutation_score
from testtime.course import list_notebooks

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "mutants"


def main(selection: list[str]) -> int:
    failed = False
    for notebook in list_notebooks():
        fixture = FIXTURES / f"{notebook.stem}.py"
        if selection and notebook.name[:2] not in selection or not fixture.exists():
            continue
        start = time.monotonic()
        result = mutation_score(notebook, fixture)
        wrong_reference = {ex: p for ex, p in result.reference_points.items() if p[0] < p[1]}
        print(f"{notebook.stem}: {result.score} mutants caught "
              f"({time.monotonic() - start:.0f} s)")
        for ex, (got, possible) in wrong_reference.items():
            print(f"  the instructor's answer to {ex} scored {got:g}/{possible:g}")
        for mutant, points in result.survived:
            print(f"  survived: {mutant.exercise} '{mutant.name}' ({points:g} points)")
        failed |= bool(wrong_reference or result.survived)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
