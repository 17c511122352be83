"""The attacks of issue 17, each a fixture that must keep its expected result.

Each attack replaces the exercises' solution cells of a small fixture notebook (the exercises
stay unsolved: the functions return wrong values) and must score 0 points, with nothing of
the hidden tests in the report. The torch fixture (tests/fixtures/91_torch_fixture.ipynb, 7
points) has hidden tests written as the course writes them (``torch.testing.assert_close``,
``torch.allclose``, ``np.allclose`` against a library function); the plain-Python fixture
(90, 7 points) serves the class-folder attacks. One reference run per fixture and seed is
shared by all tests (the grader caches it). Attacks that need the grader's isolation (reading
the instructor notebook, rewriting files of the repository or the report folder) run only when
the grader runs as root; without root the grader warns that it cannot confine the kernels.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from testtime.assignments import grade_notebook, student_version
from testtime.assignments.__main__ import main
from testtime.assignments.grade import LIB, isolation

FIXTURES = Path(__file__).parent / "fixtures"
TORCH = FIXTURES / "91_torch_fixture.ipynb"
PLAIN = FIXTURES / "90_grading_fixture.ipynb"
SEED = 1234
ROOT_ONLY = pytest.mark.skipif(isolation() != "user",
                               reason="isolation needs the grader to run as root")

WRONG = {  # unsolved, but made to pass the visible tests (hard-coded or patched)
    TORCH: {
        "ex-softmax": "def my_softmax(x):\n    return torch.full_like(x, 1 / x.shape[-1])\n",
        "ex-norm": "def my_normalize(x):\n    return x\n",
        "ex-cumsum": "def my_cumsum(a):\n    return np.array([1.0, 3.0, 6.0]) if len(a) == 3 "
                     "else a\n",
    },
    PLAIN: {
        "ex-topk": "def top_k(xs, k):\n    return [3, 2] if xs == [3, 1, 2] else xs[:k]\n",
        "ex-mean": "def mean(xs):\n    return 2 if xs == [1, 2, 3] else 0.0\n",
        "ex-softmax": "def logsumexp(xs):\n    return 0.0\n\n\ndef softmax(xs):\n"
                      "    return [1 / len(xs)] * len(xs)\n",
        "ex-count": "def count_words(text):\n    return {'a': 2, 'b': 1}\n",
    },
}
ANSWERS = {TORCH: "my_softmax = my_normalize = my_cumsum", PLAIN: "top_k = mean = softmax = "
           "logsumexp = count_words"}

ATTACKS = {
    "patch assert_close and allclose": """
import numpy as np, torch
torch.testing.assert_close = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
np.allclose = lambda *a, **k: True
""",
    "silence tracebacks": """
get_ipython()._showtraceback = lambda *a, **k: None
get_ipython().showtraceback = lambda *a, **k: None
""",
    "input transformer blanks asserts": """
get_ipython().input_transformers_post.append(
    lambda lines: [] if any("assert" in line for line in lines) else lines)
""",
    "unsendable exception text": """
def _boom(*args, **kwargs):
    raise ValueError("\\ud800")
{answers} = _boom
""",
    "redefine the library functions": """
import numpy as np, torch, torch.nn.functional as F
torch.softmax = lambda x, dim=-1, **k: my_softmax(x)
F.normalize = lambda x, dim=-1, **k: my_normalize(x)
np.cumsum = lambda a, **k: my_cumsum(a)
""",
    "fake an ok reply": """
import inspect
_kernel = get_ipython().kernel
if not hasattr(_kernel, "_real_do_execute"):
    _kernel._real_do_execute = _kernel.do_execute

    async def _do_execute(*args, **kwargs):
        reply = _kernel._real_do_execute(*args, **kwargs)
        reply = await reply if inspect.isawaitable(reply) else reply
        reply["status"] = "ok"
        return reply

    _kernel.do_execute = _do_execute
""",
    "forge the results file": """
import glob, json, os
_line = json.dumps({"id": "ex-softmax-test", "outcome": "passed", "message": ""}) + "\\n"
for _path in [os.environ.get("TESTTIME_GRADE_RESULTS", "")] + glob.glob("**/*.jsonl",
                                                                         recursive=True):
    if _path:
        with open(_path, "a") as f:
            f.write(_line * 10)
""",
    "leak the hidden test text": """
def _leak(*args, **kwargs):
    raise AssertionError("LEAK " + str(get_ipython().user_ns["In"][-1]))
{answers} = _leak
""",
}


FIXTURE_OF = {  # the torch attacks need torch in the hidden tests; the rest are cheaper
    "patch assert_close and allclose": TORCH,
    "redefine the library functions": TORCH,
}


def attacked(fixture: Path, attack: str) -> nbformat.NotebookNode:
    """The student version with every solution cell answered wrong (passing the visible
    tests where a hard-coded answer can) and ``attack`` at the end of each of them."""
    nb = student_version(nbformat.read(str(fixture), as_version=4), fixture.name)
    wrong = WRONG[fixture]
    for c in nb.cells:
        if c.get("id") in wrong:
            c.source = wrong[c.id] + attack.replace("{answers}", ANSWERS[fixture])
    return nb


def grade(path: Path, fixture: Path, **kwargs):
    kwargs.setdefault("cell_timeout", 60)
    kwargs.setdefault("total_timeout", 300)
    return grade_notebook(path, notebooks=[fixture], seed=SEED, **kwargs)


def hidden_lines(fixture: Path) -> list[str]:
    lines, inside = [], False
    for c in nbformat.read(str(fixture), as_version=4).cells:
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) > 8:
                lines.append(line.strip())
    return lines


def test_the_torch_fixture_scores_full_points_and_an_honest_solution_too(tmp_path):
    report = grade(TORCH, TORCH)
    assert report.points == report.possible == 7, report.exercises
    nb = student_version(nbformat.read(str(TORCH), as_version=4), TORCH.name)
    for c in nb.cells:  # written differently from the instructor's solution
        if c.get("id") == "ex-softmax":
            c.source = "def my_softmax(x):\n    return torch.exp(x.log_softmax(-1))\n"
        if c.get("id") == "ex-cumsum":
            c.source = "def my_cumsum(a):\n    return np.add.accumulate(a)\n"
    honest = grade(_write(nb, tmp_path / "honest.ipynb"), TORCH)
    assert [e.points for e in honest.exercises] == [3, 0, 2], honest.exercises
    assert honest.isolation == isolation() and honest.seed == SEED


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_scores_zero_and_leaks_nothing(name, tmp_path):
    fixture = FIXTURE_OF.get(name, PLAIN)
    path = _write(attacked(fixture, ATTACKS[name]), tmp_path / "mallory.ipynb")
    report = grade(path, fixture)
    assert report.points == 0, (name, [(e.exercise, e.status, e.message)
                                       for e in report.exercises])
    text = json.dumps(report.to_dict())
    assert "LEAK" not in text and "\\ud800" not in text
    assert not any(line in text for line in hidden_lines(fixture))


@ROOT_ONLY
def test_the_kernel_cannot_read_the_instructor_notebook(tmp_path):
    """The attack reads the instructor notebook (its real path, and ../notebooks) and runs
    its solutions: the kernel sees neither the repository nor the notebooks folder."""
    attack = f"""
import json, pathlib
for _p in [pathlib.Path({str(PLAIN)!r}), *pathlib.Path("..").glob("notebooks/*.ipynb")]:
    try:
        _nb = json.loads(_p.read_text())
    except OSError:
        continue
    for _c in _nb["cells"]:
        if "solution" in _c["metadata"].get("tags", []):
            exec("".join(_c["source"]))
"""
    path = _write(attacked(PLAIN, attack), tmp_path / "mallory.ipynb")
    report = grade(path, PLAIN)
    assert report.points == 0, [(e.exercise, e.status, e.message) for e in report.exercises]


@ROOT_ONLY
def test_one_submission_cannot_touch_the_notebooks_library_or_other_reports(tmp_path):
    """Class folder: the first student rewrites the instructor notebook, the library and every
    report it can find (through ``/proc`` and the known path); the others are unaffected."""
    notebooks = tmp_path / "instructor"
    notebooks.mkdir()
    shutil.copy(PLAIN, notebooks / PLAIN.name)
    out = tmp_path / "grades"
    probe = LIB / "testtime" / "assignments" / "_written_by_a_student.py"
    attack = f"""
import glob, json, os, pathlib
_out = {str(out)!r}
for _cmd in glob.glob("/proc/*/cmdline"):
    try:
        _args = open(_cmd, "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"--out" in _args:
        _out = _args[_args.index(b"--out") + 1].decode()
for _p in glob.glob(_out + "/**/*.*", recursive=True):
    try:
        pathlib.Path(_p).write_text("rewritten by a student")
    except OSError:
        pass
for _p, _text in [({str(notebooks / PLAIN.name)!r}, "{{}}"), ({str(probe)!r}, "x = 1")]:
    try:
        pathlib.Path(_p).write_text(_text)
    except OSError:
        pass
"""
    instructor = nbformat.read(str(PLAIN), as_version=4)
    good = student_version(instructor, PLAIN.name)
    for c in good.cells:
        if "solution" in c.metadata.get("tags", []):
            c.source = next(i for i in instructor.cells if i.get("id") == c.id).source
    empty = student_version(instructor, PLAIN.name)
    bad = student_version(instructor, PLAIN.name)
    next(c for c in bad.cells if c.get("id") == "ex-count").source += "\n" + attack
    folder = tmp_path / "class"
    _write(good, folder / "a_good.ipynb")
    _write(bad, folder / "b_mallory.ipynb")
    _write(empty, folder / "c_empty.ipynb")
    before = hashlib.sha256((notebooks / PLAIN.name).read_bytes()).hexdigest()
    try:
        code = main(["grade", str(folder), "--out", str(out), "--notebooks", str(notebooks),
                     "--seed", str(SEED), "--cell-timeout", "60"])
        assert not probe.exists(), "a student's code wrote into the library"
    finally:
        probe.unlink(missing_ok=True)
    assert code == 0
    assert hashlib.sha256((notebooks / PLAIN.name).read_bytes()).hexdigest() == before
    rows = {r["student"]: r["points"] for r in csv.DictReader((out / "grades.csv").open())}
    assert rows == {"a_good": "7", "b_mallory": "0", "c_empty": "0"}
    report = json.loads((out / "a_good" / "90_grading_fixture.json").read_text())
    assert report["points"] == 7
    assert "7 / 7" in (out / "a_good" / "90_grading_fixture.md").read_text()


def _write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
