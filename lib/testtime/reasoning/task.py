"""The tiny reasoning task: arithmetic expressions mod 10, reduced one operation per line.

A problem is an expression over the digits 0-9 with ``+``, ``-`` and ``*`` (usual
precedence, all arithmetic mod 10), for example ``3+4*2-5``. Its solution rewrites the
expression one operation at a time until a single digit is left::

    3+4*2-5      (the prompt)
    3+8-5        (4*2 -> 8)
    1-5          (3+8 -> 11 -> 1)
    6            (1-5 -> -4 -> 6, the answer)

Every line is a complete, simpler expression with the same value: a Markov state in the
sense of "Atom of Thoughts for Markov LLM Test-Time Scaling" (arXiv 2502.12018), so a
solver needs only the current line, never the history. The difficulty (``level``) is the
number of operations. With ``MOD = 10`` every number is one digit, so each correct step
shortens the line by exactly two characters; the parser, the solver and the step verifier
also handle numbers of several digits (written without leading zeros, below ``MOD``), with the
right operand of ``*`` always a single digit (``MUL_LIMIT``).

Problems are drawn from an explicit ``random.Random`` seed; a fixed hash of the expression
puts every expression in the ``"train"`` or the ``"test"`` split, so held-out problems are
never seen in training.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from testtime.runtime import check_choice

MOD = 10
OPS = "+-*"
DIGITS = "0123456789"
MUL_LIMIT = min(10, MOD)  # the right operand of ``*`` is drawn from 0..MUL_LIMIT-1
LEVELS = (1, 2, 3, 4, 5, 6)  # the difficulty levels the course trains and evaluates on
MAX_OPS = 8  # the prompt format has room for this many operations (levels 7-8: extrapolation)
SPLITS = ("train", "test", "any")
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Problem:
    """One problem: the expression, its answer (a digit) and its level (number of ops)."""

    expr: str
    answer: int
    level: int


def tokenize_expr(expr: str) -> tuple[list[int], list[str]] | None:
    """Split ``"3+4*2"`` into numbers ``[3, 4, 2]`` and operators ``["+", "*"]``.

    Returns None when the text is not a well-formed expression: numbers (below ``MOD``, no
    leading zeros) and operators alternating, starting and ending with a number.
    """
    nums, ops, start = [], [], 0
    for i in range(len(expr) + 1):
        if i < len(expr) and expr[i] in DIGITS:
            continue
        token = expr[start:i]
        if not token or (len(token) > 1 and token[0] == "0") or int(token) >= MOD:
            return None
        nums.append(int(token))
        if i < len(expr):
            if expr[i] not in OPS:
                return None
            ops.append(expr[i])
        start = i + 1
    return nums, ops


def render(nums: list[int], ops: list[str]) -> str:
    """The inverse of :func:`tokenize_expr`: ``[3, 4], ["+"]`` -> ``"3+4"``."""
    return "".join(f"{op}{b}" for op, b in zip(ops, nums[1:])).join((str(nums[0]), ""))


def apply_op(a: int, op: str, b: int) -> int:
    if op == "+":
        return (a + b) % MOD
    if op == "-":
        return (a - b) % MOD
    return (a * b) % MOD


def reduce_at(expr: str, i: int) -> str:
    """Replace the ``i``-th operation (0-based) and its two operands by its result."""
    parsed = tokenize_expr(expr)
    if parsed is None:
        raise ValueError(f"expr={expr!r} is not valid; expected digits and +-* alternating")
    nums, ops = parsed
    if not 0 <= i < len(ops):
        raise ValueError(f"i={i!r} is not valid; expected 0 <= i < {len(ops)}")
    value = apply_op(nums[i], ops[i], nums[i + 1])
    return render(nums[:i] + [value] + nums[i + 2 :], ops[:i] + ops[i + 1 :])


def next_op(expr: str) -> int:
    """The operation the canonical solution reduces next: the leftmost ``*``, else the
    leftmost operation."""
    ops = [ch for ch in expr if ch in OPS]
    return ops.index("*") if "*" in ops else 0


def solve(expr: str) -> list[str]:
    """The canonical solution: the lines after the prompt, the last one the answer."""
    if tokenize_expr(expr) is None:
        raise ValueError(f"expr={expr!r} is not valid; expected digits and +-* alternating")
    lines = []
    while any(ch in OPS for ch in expr):
        expr = reduce_at(expr, next_op(expr))
        lines.append(expr)
    return lines


def evaluate(expr: str) -> int | None:
    """The value of an expression mod ``MOD`` (``*`` before ``+``/``-``), or None if malformed."""
    parsed = tokenize_expr(expr)
    if parsed is None:
        return None
    nums, ops = parsed
    terms, signs = [nums[0]], ["+"]
    for op, b in zip(ops, nums[1:]):
        if op == "*":
            terms[-1] = terms[-1] * b % MOD
        else:
            terms.append(b)
            signs.append(op)
    return sum(t if s == "+" else -t for t, s in zip(terms, signs)) % MOD


def split_of(expr: str) -> str:
    """``"test"`` for a fixed ~20% of expressions (by a CRC32 hash), else ``"train"``."""
    return "test" if zlib.crc32(expr.encode()) % 100 < 100 * TEST_FRACTION else "train"


def random_expr(level: int, rng: random.Random) -> str:
    """A uniformly random expression with ``level`` operations (numbers in 0..MOD-1, the right
    operand of ``*`` in 0..MUL_LIMIT-1)."""
    nums, ops = [rng.randrange(MOD)], []
    for _ in range(level):
        ops.append(rng.choice(OPS))
        nums.append(rng.randrange(MUL_LIMIT if ops[-1] == "*" else MOD))
    return render(nums, ops)


def make_problems(
    n: int,
    levels: int | tuple[int, ...] | list[int] = LEVELS,
    *,
    seed: int = 0,
    split: str = "test",
) -> list[Problem]:
    """``n`` problems per level (a level or a sequence of levels) from the given split.

    Deterministic for a given seed. Problems within a level may repeat only when the split
    has fewer than ``n`` distinct expressions (level 1 has 300 in all).
    """
    check_choice("split", split, SPLITS)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not valid; expected an int >= 1")
    levels = (levels,) if isinstance(levels, int) else tuple(levels)
    for level in levels:
        if not isinstance(level, int) or not 1 <= level <= MAX_OPS:
            raise ValueError(f"level={level!r} is not valid; expected an int in 1..{MAX_OPS}")
    rng = random.Random(seed)
    problems = []
    for level in levels:
        seen: set[str] = set()
        count, tries = 0, 0
        while count < n:
            expr = random_expr(level, rng)
            tries += 1
            if split != "any" and split_of(expr) != split:
                continue
            if expr in seen and tries < 50 * n:  # prefer distinct problems when there are enough
                continue
            seen.add(expr)
            problems.append(Problem(expr, evaluate(expr), level))
            count += 1
    return problems
