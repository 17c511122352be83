"""Classroom assignments: student versions of the course notebooks and an nbval grader.

- :mod:`~testtime.assignments.build`: instructor notebook -> student version (solutions
  stubbed, hidden tests removed, outputs stripped, stable cell ids).
- :mod:`~testtime.assignments.assemble`: a submission with the instructor's test cells put
  back (matched by cell id) and a guard cell first.
- :mod:`~testtime.assignments.grade`: runs ``pytest --nbval-lax`` on a temporary copy in
  quick mode and turns passed test cells into points.
- :mod:`~testtime.assignments.report`: markdown/JSON reports and the class CSVs.

Command line: ``python -m testtime.assignments build|grade`` (see ``__main__``).
"""

from testtime.assignments.assemble import assemble, grader_cells
from testtime.assignments.build import build, student_version
from testtime.assignments.grade import GradeError, GradeReport, grade_notebook

__all__ = ["GradeError", "GradeReport", "assemble", "build", "grade_notebook",
           "student_version", "grader_cells"]
