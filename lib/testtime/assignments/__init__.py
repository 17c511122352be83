"""Classroom assignments: student versions of the course notebooks and a grader whose
verdicts the students' code cannot forge.

- :mod:`~testtime.assignments.build`: instructor notebook -> student version (solutions
  stubbed, hidden tests removed, outputs stripped, stable cell ids).
- :mod:`~testtime.assignments.assemble`: a submission with the instructor's test cells put
  back (matched by cell id) and a guard cell first.
- :mod:`~testtime.assignments.grade`: runs the submission cell by cell in a confined kernel
  and decides each verdict in the grader's process, against a reference run of the
  instructor's notebook.
- :mod:`~testtime.assignments.checks`: test cells rewritten to send the exercise's results
  as data; the comparison with the instructor's results.
- :mod:`~testtime.assignments.kernel` and :mod:`~testtime.assignments.sandbox`: the kernel
  driver, and the unprivileged, private-mount launcher used when the grader runs as root.
- :mod:`~testtime.assignments.report`: markdown/JSON reports and the class CSVs.
- :mod:`~testtime.assignments.leaks`: exercises whose answer the student version already
  spells out (:func:`~testtime.assignments.leaks.answers_in_sight`).
- :mod:`~testtime.assignments.mutants`: plausible wrong answers kept as fixtures, graded with
  the real grader to prove the hidden tests reject them
  (:func:`~testtime.assignments.mutants.mutation_score`).

Command line: ``python -m testtime.assignments build|release|grade`` (see ``__main__``).
"""

from testtime.assignments.assemble import assemble, grader_cells
from testtime.assignments.build import build, student_version
from testtime.assignments.grade import GradeError, GradeReport, grade_notebook

__all__ = ["GradeError", "GradeReport", "assemble", "build", "grade_notebook",
           "student_version", "grader_cells"]
