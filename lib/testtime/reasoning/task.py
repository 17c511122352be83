"""The tiny reasoning task: expressions over two-digit numbers, reduced one operation per line.

A number is a pair of digits, and every operation works column by column, each column mod 10
with no carries: ``37+45 = 72`` (3+4 = 7, 7+5 = 12 -> 2), ``37*45 = 25`` (3*4 = 12 -> 2,
7*5 = 35 -> 5). A problem is an expression with ``+``, ``-`` and ``*`` (usual precedence), for
example ``37+45*12-08``. Its solution rewrites the expression one operation at a time until a
single number is left::

    37+45*12-08  (the prompt)
    37+40-08     (45*12 -> 40)
    77-08        (37+40 -> 77)
    79           (77-08 -> 79, the answer)

Every line is a complete, simpler expression with the same value: a Markov state in the
sense of "Atom of Thoughts for Markov LLM Test-Time Scaling" (arXiv 2502.12018), so a
solver needs only the current line, never the history. The difficulty (``level``) is the
number of operations.

Why pairs of digits: answers come from ``MOD = 100`` values, so two wrong samples agree by
chance about 1 % of the time and a uniform guesser solves little (with single digits it
already had pass@16 = 0.81), while each column is still one-digit arithmetic mod 10: no carry
couples the columns. Mathematically the numbers are the ring (Z/10)^2, so precedence and every
identity of ``+ - *`` still hold.
Every number is written with exactly ``NUM_DIGITS`` digits (``08``), so each correct step
shortens the line by three characters.

Problems are drawn from an explicit ``random.Random`` seed; a fixed hash of the expression
puts every expression in the ``"train"`` or the ``"test"`` split, so held-out problems are
never seen in training.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from testtime.runtime import check_choice

BASE = 10  # each column of a number is a digit mod BASE
NUM_DIGITS = 2  # columns per number
MOD = BASE**NUM_DIGITS  # the number of possible answers
OPS = "+-*"
DIGITS = "0123456789"
LEVELS = (1, 2, 3, 4, 5, 6)  # the difficulty levels the course trains and evaluates on
MAX_OPS = 6  # the prompt format has room for this many operations
SPLITS = ("train", "test", "any")
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Problem:
    """One problem: the expression, its answer (a number below ``MOD``) and its level (number
    of operations)."""

    expr: str
    answer: int
    level: int


def tokenize_expr(expr: str) -> tuple[list[int], list[str]] | None:
    """Split ``"37+45*08"`` into numbers ``[37, 45, 8]`` and operators ``["+", "*"]``.

    Returns None when the text is not a well-formed expression: numbers of exactly
    ``NUM_DIGITS`` digits and operators alternating, starting and ending with a number. Leading
    spaces (the padding of a right-aligned line) are ignored.
    """
    expr = expr.lstrip(" ")
    nums, ops, start = [], [], 0
    for i in range(len(expr) + 1):
        if i < len(expr) and expr[i] in DIGITS:
            continue
        token = expr[start:i]
        if len(token) != NUM_DIGITS:
            return None
        nums.append(int(token))
        if i < len(expr):
            if expr[i] not in OPS:
                return None
            ops.append(expr[i])
        start = i + 1
    return nums, ops


def render(nums: list[int], ops: list[str]) -> str:
    """The inverse of :func:`tokenize_expr`: ``[37, 8], ["+"]`` -> ``"37+08"``."""
    return "".join(f"{op}{b:0{NUM_DIGITS}d}" for op, b in zip(ops, nums[1:])).join(
        (f"{nums[0]:0{NUM_DIGITS}d}", "")
    )


def digits(n: int) -> list[int]:
    """The columns of a number, most significant first: ``37`` -> ``[3, 7]``."""
    return [n // BASE**k % BASE for k in reversed(range(NUM_DIGITS))]


def apply_digit_op(x: int, op: str, y: int) -> int:
    """One column: ``x op y`` mod ``BASE``."""
    if op not in OPS:
        raise ValueError(f"op={op!r} is not valid; choose one of {list(OPS)}")
    return (x + y if op == "+" else x - y if op == "-" else x * y) % BASE


def apply_op(a: int, op: str, b: int) -> int:
    """``a op b`` column by column, without carries: ``apply_op(37, "*", 45) == 25``."""
    value = 0
    for x, y in zip(digits(a), digits(b)):
        value = value * BASE + apply_digit_op(x, op, y)
    return value


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
    """The value of an expression (``*`` before ``+``/``-``, column by column), or None if
    malformed."""
    parsed = tokenize_expr(expr)
    if parsed is None:
        return None
    nums, ops = parsed
    terms, signs = [nums[0]], ["+"]
    for op, b in zip(ops, nums[1:]):
        if op == "*":
            terms[-1] = apply_op(terms[-1], "*", b)
        else:
            terms.append(b)
            signs.append(op)
    value = 0
    for t, s in zip(terms, signs):
        value = apply_op(value, s, t)
    return value


def split_of(expr: str) -> str:
    """``"test"`` for a fixed ~20% of expressions (by a CRC32 hash), else ``"train"``."""
    return "test" if zlib.crc32(expr.encode()) % 100 < 100 * TEST_FRACTION else "train"


def random_expr(level: int, rng: random.Random) -> str:
    """A uniformly random expression with ``level`` operations (numbers in 0..MOD-1)."""
    nums, ops = [rng.randrange(MOD)], []
    for _ in range(level):
        ops.append(rng.choice(OPS))
        nums.append(rng.randrange(MOD))
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
    has fewer than ``n`` distinct expressions (level 1 has 30,000 in all).
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
