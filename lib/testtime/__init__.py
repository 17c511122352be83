"""testtime: the shared library of the course "Test-Time Compute, from scratch".

Notebooks import what they need from the submodules; the most used names are re-exported.
"""

__version__ = "0.1.0"

from testtime.runtime import Run, check_choice, check_positive, seed_everything, setup  # noqa: E402

__all__ = ["Run", "check_choice", "check_positive", "seed_everything", "setup", "__version__"]
