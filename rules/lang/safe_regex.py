"""A guard for analysts' regular expressions: a safe subset, checked before compiling.

Refused: patterns over 200 characters; back-references, look-around, conditionals, atomic
groups; a quantifier over anything that itself holds a quantifier or an alternation (the
shapes of catastrophic backtracking, e.g. ``(a+)+`` or ``(a|aa)*``); bounded repeats over 50;
more than two unbounded quantifiers.

>>> guard("掐.{0,3}脖").search("他掐住脖子") is not None
True
>>> guard("(a+)+b")
Traceback (most recent call last):
...
rules.lang.errors.LangError: regex: a quantifier over a group that holds a quantifier or alternation may backtrack catastrophically
"""
from __future__ import annotations

import re
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]

from .errors import LangError

MAX_PATTERN = 200
MAX_BOUND = 50
MAX_UNBOUNDED = 2
_REPEATS = {C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", C.MAX_REPEAT)}
_FORBIDDEN = {C.GROUPREF: "back-references", C.GROUPREF_EXISTS: "conditional groups",
              C.ASSERT: "look-around", C.ASSERT_NOT: "look-around",
              getattr(C, "ATOMIC_GROUP", C.ASSERT): "atomic groups"}


def _walk(items, inside_repeat: bool, counts: list[int]) -> bool:
    """True when this subpattern holds a repeat or a branch."""
    risky = False
    for op, av in items:
        if op in _FORBIDDEN:
            raise LangError(f"regex: {_FORBIDDEN[op]} are not allowed")
        if op in _REPEATS:
            lo, hi, sub = av
            if hi == C.MAXREPEAT:
                counts[0] += 1
            elif hi > MAX_BOUND:
                raise LangError(f"regex: repeat bound {hi} is over {MAX_BOUND}")
            if inside_repeat or _walk(sub, True, counts):
                raise LangError("regex: a quantifier over a group that holds a quantifier or "
                                "alternation may backtrack catastrophically")
            risky = True
        elif op == C.SUBPATTERN:
            risky |= _walk(av[-1], inside_repeat, counts)
        elif op == C.BRANCH:
            for alt in av[1]:
                _walk(alt, inside_repeat, counts)
            risky = True
            if inside_repeat:
                raise LangError("regex: a quantifier over a group that holds a quantifier or "
                                "alternation may backtrack catastrophically")
    return risky


def guard(pattern: str) -> re.Pattern[str]:
    """Check ``pattern`` against the safe subset and compile it."""
    if len(pattern) > MAX_PATTERN:
        raise LangError(f"regex longer than {MAX_PATTERN} characters")
    try:
        parsed = P.parse(pattern, 0)
    except re.error as exc:
        raise LangError(f"regex: {exc.msg}", exc.pos or 0) from None
    counts = [0]
    _walk(parsed, False, counts)
    if counts[0] > MAX_UNBOUNDED:
        raise LangError(f"regex: more than {MAX_UNBOUNDED} unbounded quantifiers (*, +)")
    return re.compile(pattern)
