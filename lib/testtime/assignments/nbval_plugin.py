"""A pytest plugin the grader loads beside ``pytest --nbval-lax``: it writes one JSON line
per notebook cell (code-cell index, cell id, outcome, a short message) as soon as the cell is
done, so that a run killed by the overall timeout still leaves what it graded.

Two nbval (0.11) behaviours are adjusted for grading. After a cell times out, nbval marks every
later cell ``xfail``; this plugin clears that flag before each cell, so later exercises are
graded as plain pass/fail (nbval has interrupted the runaway cell; if the kernel died instead,
later cells fail with "Kernel dead on test start" and the grader reruns them). The kernel's
process id is written down, so that the grader can stop it if the whole run overruns.

The grader copies this file into the temporary run folder as ``conftest.py``; it needs only
pytest and nbval, not the course library.
"""

from __future__ import annotations

import json
import os
import re

import pytest

RESULTS_ENV = "TESTTIME_GRADE_RESULTS"
MESSAGE_LIMIT = 600
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _write(record: dict) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def _message(item, call) -> str:
    exc = call.excinfo.value if call.excinfo is not None else None
    text = str(exc) if exc is not None else ""
    errors = [o for o in (getattr(item, "test_outputs", None) or []) if o.get("ename")]
    if errors and "Timeout" not in text:
        text = f"{errors[-1]['ename']}: {errors[-1].get('evalue', '')}"
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    parent = getattr(item, "parent", None)
    if getattr(parent, "timed_out", False):
        parent.timed_out = False
    pid_file = os.environ.get(RESULTS_ENV, "") + ".kernel"
    kernel = getattr(parent, "kernel", None)
    if kernel is not None and not os.path.exists(pid_file):
        try:
            pid = kernel.km.provisioner.process.pid
        except AttributeError:
            return
        with open(pid_file, "w") as f:
            f.write(str(pid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "setup" and report.passed:
        return
    if call.when == "teardown" and not report.failed:
        return
    if call.when == "teardown":
        return  # the cell itself was already recorded; a teardown failure is the kernel's
    status = report.outcome
    if hasattr(report, "wasxfail"):
        status = "passed" if report.passed else "failed"
    cell = getattr(item, "cell", None) or {}
    _write(
        {
            "index": getattr(item, "cell_num", None),
            "id": cell.get("id"),
            "outcome": status,
            "message": "" if status == "passed" else _message(item, call),
        }
    )
