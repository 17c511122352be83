"""Verdicts the kernel cannot forge: the student's answers, sent as data, against the
instructor's answers on the same inputs, computed in a separate clean kernel.

A student's kernel runs the student's code, so anything it *says* about a test (an assert
that passed, an ``assert_close`` that was happy, a clean traceback) can be arranged by that
code: patch ``torch.testing.assert_close``, redefine the library function a test compares
with, install an IPython input transformer. So the grader does not let the kernel judge.
Before a graded test cell runs, :func:`instrument` rewrites it: every call of a name that the
exercise's solution cell defines (``top_k(...)``), and every call of :func:`check`, in the
hidden part of the cell (the whole cell when it has no hidden part) is wrapped so that its
*result* is recorded. After the cell, the grader fetches the recorded results as JSON
(plain numbers, strings, lists; tensors and arrays become nested lists with their shape;
anything else becomes its type name) and :func:`compare` matches them, in the grader's
process, with the results the same rewritten cell gave in a kernel that ran the instructor's
notebook. A test cell passes only when its execute reply says ``ok`` *and* every recorded
result matches the instructor's (same number of results, same call sites, values within
``rtol``/``atol``). Patching ``allclose``, the library or IPython, blanking the cell, or
faking the reply changes nothing: the only way to send the right numbers is to compute them.

Inputs: before each test cell both kernels seed Python's ``random``, NumPy's and torch's
global generators from the grading-time secret and the cell id, so a hidden test that draws
its inputs from them (``torch.randn(5, 3)``, ``random.random()``) gets inputs that are not
in the public code. A test that builds its own ``Generator().manual_seed(k)`` keeps fixed
inputs.

An exercise whose answer is a library function can be answered by calling it: the grader
checks behaviour, not authorship, so such an answer earns the points; the report flags a
solution cell that names a function the hidden test compares with (see
:func:`library_names`), for the instructor to read.

Notebook authors can send any value explicitly: ``from testtime.assignments.checks import
check`` and, in a hidden test, ``check(value, expected)`` (an ``assert_close`` outside the
grader); at grading time ``value`` is recorded and compared with the instructor's.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

CAPTURE = "__testtime_capture__"
DUMP = "__testtime_dump__()"
CHECK = "check"
RTOL, ATOL = 1e-4, 1e-5
MAX_REPLY = 50_000_000  # characters of JSON the grader accepts from one cell

_HIDDEN = re.compile(r"^[ \t]*###[ \t]*(BEGIN|END) HIDDEN TESTS[ \t]*$")


def check(value: Any, expected: Any = None, *, rtol: float | None = None,
          atol: float | None = None) -> Any:
    """Outside the grader: ``torch.testing.assert_close(value, expected)`` when ``expected``
    is given. While grading: ``value`` is sent to the grader and compared there with the
    instructor's. Returns ``value``."""
    if expected is not None:
        import torch

        torch.testing.assert_close(torch.as_tensor(value), torch.as_tensor(expected),
                                   rtol=rtol, atol=atol, check_dtype=False)
    return value


def answer_names(solution_source: str) -> set[str]:
    """Top-level names the instructor's solution cell defines (functions, classes and
    assigned names; imports are not answers)."""
    try:
        tree = ast.parse(solution_source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) inside ``### BEGIN/END HIDDEN TESTS``; all lines if none."""
    lines, inside, found = set(), False, False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = _HIDDEN.match(line)
        if marker:
            inside, found = marker.group(1) == "BEGIN", True
        elif inside:
            lines.add(number)
    return lines if found else set(range(1, source.count("\n") + 2))


class _Wrap(ast.NodeTransformer):
    def __init__(self, names: set[str], lines: set[int]):
        self.names, self.lines, self.sites = names, lines, []

    def _wrap(self, node: ast.expr, label: str) -> ast.expr:
        if node.lineno not in self.lines:
            return node
        self.sites.append(label)
        call = ast.Call(ast.Name(CAPTURE, ast.Load()),
                        [ast.Constant(len(self.sites) - 1), node], [])
        return ast.copy_location(call, node)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        answer = name is not None and (name in self.names or name == CHECK)
        if not answer:
            node.func = self.visit(node.func)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        return self._wrap(node, f"{name}()") if answer else node

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return self._wrap(node, node.id)
        return node


def instrument(source: str, names: set[str]) -> tuple[str, list[str]] | None:
    """The test cell with the results of its answer calls recorded, and a label per call
    site (``"top_k()"``); ``None`` when the cell is not plain Python (then only its execute
    reply decides)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    wrap = _Wrap(names, hidden_lines(source))
    tree = ast.fix_missing_locations(wrap.visit(tree))
    return ast.unparse(tree), wrap.sites


def prelude(seed: int) -> str:
    """Code run (silently) in a kernel right before a test cell: seed the global generators
    and start an empty record. The record's owner is the kernel, so this code is trusted for
    nothing: a kernel that changes it can only send wrong or missing values."""
    return f'''\
def __testtime_setup__(seed):
    import json, math, random, sys
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    record = []

    def data(v, depth=0):
        if depth > 20:
            return {{"object": "too deep"}}
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {{"float": repr(v)}}
        if isinstance(v, (list, tuple)):
            return [data(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {{"dict": [[data(k, depth + 1), data(x, depth + 1)] for k, x in v.items()]}}
        if isinstance(v, (set, frozenset)):
            return {{"set": [data(x, depth + 1) for x in v]}}
        torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
        if torch is not None and isinstance(v, torch.Size):
            return list(v)
        if torch is not None and isinstance(v, torch.Tensor):
            v = v.detach().cpu()
            if v.numel() > 2_000_000:
                return {{"object": "tensor too large"}}
            if v.is_complex():
                v = torch.view_as_real(v)
            flat = v.reshape(-1).double().tolist() if v.is_floating_point() else v.reshape(-1).tolist()
            return {{"array": [data(x) for x in flat], "shape": list(v.shape)}}
        if np is not None and isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            if v.size > 2_000_000:
                return {{"object": "array too large"}}
            return {{"array": [data(x) for x in v.reshape(-1).tolist()], "shape": list(v.shape)}}
        if np is not None and isinstance(v, np.generic):
            return data(v.item(), depth + 1)
        if callable(v):
            return {{"object": "callable"}}
        return {{"object": type(v).__name__}}

    def capture(site, value):
        record.append([site, data(value)])
        return value

    def dump():
        return json.dumps(record)

    return capture, dump


{CAPTURE}, __testtime_dump__ = __testtime_setup__({seed})
del __testtime_setup__
'''


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, dict) and set(x) == {"float"}:
        return float(x["float"]) if x["float"] in ("nan", "inf", "-inf") else None
    return None


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _key(x: Any) -> str:
    import json

    return json.dumps(x, sort_keys=True)


def same(student: Any, reference: Any, rtol: float = RTOL, atol: float = ATOL,
         depth: int = 0) -> bool:
    """Whether a recorded student value matches the reference value (both plain JSON)."""
    if depth > 25:
        return False
    a, b = _number(student), _number(reference)
    if a is not None and b is not None:
        exact = isinstance(reference, (bool, int)) and isinstance(student, (bool, int))
        return a == b if exact else _close(a, b, rtol, atol)
    if isinstance(reference, list):
        return (isinstance(student, list) and len(student) == len(reference)
                and all(same(s, r, rtol, atol, depth + 1) for s, r in zip(student, reference)))
    if isinstance(reference, dict) and isinstance(student, dict):
        if set(reference) != set(student):
            return False
        if "array" in reference:
            return (reference["shape"] == student["shape"]
                    and same(student["array"], reference["array"], rtol, atol, depth + 1))
        if "dict" in reference or "set" in reference:
            field = "dict" if "dict" in reference else "set"
            s, r = student[field], reference[field]
            if not (isinstance(s, list) and len(s) == len(r)):
                return False
            if field == "set":
                return sorted(map(_key, s)) == sorted(map(_key, r))
            sd = {_key(k): v for k, v in s if isinstance(k, (str, int, bool, type(None)))}
            rd = {_key(k): v for k, v in r}
            return sd.keys() == rd.keys() and all(same(sd[k], rd[k], rtol, atol, depth + 1)
                                                  for k in rd)
        return student == reference
    return type(student) is type(reference) and student == reference


def compare(student: list, reference: list, sites: list[str]) -> str | None:
    """``None`` when the student's recorded results match the reference's, else a message
    written by the grader (naming a call site, never quoting test code or kernel text)."""
    if not isinstance(student, list) or len(student) != len(reference):
        got = len(student) if isinstance(student, list) else 0
        return (f"the hidden tests expected {len(reference)} result(s) of the exercise's "
                f"functions and received {got}")
    for i, (s, r) in enumerate(zip(student, reference)):
        site = sites[r[0]] if 0 <= r[0] < len(sites) else "a call"
        if not (isinstance(s, list) and len(s) == 2 and s[0] == r[0]):
            return f"result {i + 1}: not the call the hidden tests made ({site})"
        if not same(s[1], r[1]):
            return (f"result {i + 1} ({site} in the hidden tests) differs from the "
                    "instructor's solution on the same inputs")
    return None


def library_names(test_source: str, solution_source: str, names: set[str]) -> set[str]:
    """Plain function names the test cell calls (``top_p_filter(...)``) that are not the
    exercise's own answers, not the test's own variables, and not used by the instructor's
    solution: the functions the tests compare with."""
    try:
        test, solution = ast.parse(test_source), ast.parse(solution_source)
    except SyntaxError:
        return set()
    import builtins

    called = {n.func.id for n in ast.walk(test)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    bound = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}  # the test's own variables
    used = identifiers(solution)
    return {n for n in called if n not in names | used | bound and n != CHECK
            and not hasattr(builtins, n)}


def identifiers(tree: ast.AST) -> set[str]:
    """Every bare name and attribute name in a parsed cell."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out
