"""Type-check a parsed condition and compile it once into nested closures.

Names come only from ``names`` (record fields, ``case.*``, ``graph.*``); functions only from
``FUNCS``.  Each node becomes ``fn(env) -> value``; literal lists become frozensets, regexes
and 词库 are compiled here, so evaluating a record does no parsing.

Types: ``num``, ``str``, ``bool``, ``list<str>``, ``list<num>``, ``lex`` (a 词库 ``@name``).

>>> c = compile_condition('hour >= 22 or time_between("00:00", "06:00")', ["call"])
>>> c.type
'bool'
>>> compile_condition('call_type == 3', ["call"])
Traceback (most recent call last):
...
rules.lang.errors.LangError: '==' compares str with num
"""
from __future__ import annotations

import operator as o
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from . import names
from .errors import LangError
from .lexicon import Lexicon
from .safe_regex import guard
from .syntax import Node, parse

Fn = Callable[[names.Env], Any]
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)$")


@dataclass
class Condition:
    """A compiled condition: ``fn(env)`` and what it reads."""

    source: str
    fn: Fn
    type: str
    lexicons: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    # necessary conditions read off the tree: (record field name, the values it must take),
    # e.g. ``call_type == "fraud" and ...`` gives (("call_type", {"fraud"}),).  A detector may
    # skip the condition when a guard fails: it could not be true (see ``guards``).
    guards: tuple[tuple[str, frozenset], ...] = ()

    def check(self) -> str:
        return self.type


class _Compiler:
    def __init__(self, streams: Sequence[str], lexicons: Mapping[str, Lexicon]):
        self.streams, self.lexicons = tuple(streams), lexicons
        self.used_lex: list[str] = []
        self.used_names: set[str] = set()

    def compile(self, n: Node) -> tuple[Fn, str, Any]:
        """(fn, type, constant or None)."""
        op, pos = n[0], n[1]
        if op in ("num", "str", "bool"):
            v = n[2]
            return (lambda e, v=v: v), op, v
        if op == "lex":
            lx = self.lexicons.get(n[2])
            if lx is None:
                raise LangError(f"unknown 词库 @{n[2]} (known: {', '.join(sorted(self.lexicons)) or 'none'})", pos)
            if n[2] not in self.used_lex:
                self.used_lex.append(n[2])
            return (lambda e, lx=lx: lx), "lex", lx
        if op == "list":
            return self.list_(n)
        if op == "name":
            return self.name(n[2], pos)
        if op == "call":
            return self.call(n)
        if op == "not":
            f = self.want(n[2], "bool", "not")
            return (lambda e: not f(e)), "bool", None
        if op in ("and", "or"):
            a, b = self.want(n[2], "bool", op), self.want(n[3], "bool", op)
            if cost(n[3]) < cost(n[2]):
                # the cheaper side first: conditions are pure and type-checked, so the order
                # cannot change the answer, only how often a costly side (a graph feature, a
                # regex) runs; ``x and graph.incidents_nearby >= 1`` asks the map only if x
                a, b = b, a
            if op == "and":
                return (lambda e: a(e) and b(e)), "bool", None
            return (lambda e: a(e) or b(e)), "bool", None
        return self.compare(n)

    def want(self, n: Node, typ: str, what: str) -> Fn:
        f, t, _ = self.compile(n)
        if t != typ:
            raise LangError(f"{what!r} needs {typ}, got {t}", n[1])
        return f

    def list_(self, n: Node) -> tuple[Fn, str, Any]:
        items = n[2]
        vals, typ = [], None
        for it in items:
            if it[0] not in ("num", "str"):
                raise LangError("list items must be literal numbers or strings", it[1])
            if typ is not None and it[0] != typ:
                raise LangError("list mixes numbers and strings", it[1])
            typ = it[0]
            vals.append(it[2])
        const = frozenset(vals)
        return (lambda e: const), f"list<{typ or 'str'}>", const

    def name(self, name: str, pos: int) -> tuple[Fn, str, Any]:
        found = names.lookup(name)
        if found is None:
            raise LangError(f"unknown name {name!r}; readable names: " + ", ".join(names.known_names()), pos)
        typ, streams, getter = found
        if not set(self.streams) & set(streams):
            raise LangError(f"{name!r} is only on streams {list(streams)}, this rule reads {list(self.streams)}", pos)
        self.used_names.add(name)
        return getter, typ, None

    def call(self, n: Node) -> tuple[Fn, str, Any]:
        _, pos, fname, args = n
        if fname == "len":
            self.arity(n, 1)
            f, t, _ = self.compile(args[0])
            if t not in ("str", "list<str>", "list<num>"):
                raise LangError(f"len() needs a string or list, got {t}", args[0][1])
            return (lambda e: len(f(e))), "num", None
        if fname == "hits":
            self.arity(n, 2)
            f = self.want(args[0], "str", "hits")
            if args[1][0] != "lex":
                raise LangError("hits(text, @词库) needs a 词库 as second argument", args[1][1])
            _, _, lx = self.compile(args[1])
            return (lambda e: len(lx.find(f(e)))), "num", None
        if fname == "time_between":
            self.arity(n, 2)
            bounds = []
            for a in args:
                m = _HHMM.match(a[2]) if a[0] == "str" else None
                if m is None:
                    raise LangError('time_between needs "HH:MM" strings', a[1])
                bounds.append(int(m.group(1)) * 60 + int(m.group(2)))
            lo, hi = bounds
            mod = names.RECORD["minute_of_day"][2]
            if lo <= hi:   # [lo, hi): start inclusive, end exclusive
                return (lambda e: lo <= mod(e) < hi), "bool", None
            return (lambda e: mod(e) >= lo or mod(e) < hi), "bool", None  # wraps midnight
        raise LangError(f"unknown function {fname!r}; functions: hits, len, time_between", pos)

    def arity(self, n: Node, k: int) -> None:
        if len(n[3]) != k:
            raise LangError(f"{n[2]}() takes {k} argument(s), got {len(n[3])}", n[1])

    def compare(self, n: Node) -> tuple[Fn, str, Any]:
        op, pos, ln, rn = n
        a, ta, _ = self.compile(ln)
        b, tb, kb = self.compile(rn)
        if op in ("==", "!="):
            if ta != tb or ta.startswith("list") or ta == "lex":
                raise LangError(f"{op!r} compares {ta} with {tb}", pos)
            if kb is not None:
                return ((lambda e: a(e) == kb) if op == "==" else (lambda e: a(e) != kb)), "bool", None
            return ((lambda e: a(e) == b(e)) if op == "==" else (lambda e: a(e) != b(e))), "bool", None
        if op in ("<", "<=", ">", ">="):
            if ta != "num" or tb != "num":
                raise LangError(f"{op!r} compares numbers, got {ta} and {tb}", pos)

            f = {"<": o.lt, "<=": o.le, ">": o.gt, ">=": o.ge}[op]
            if kb is not None:
                return (lambda e: f(a(e), kb)), "bool", None
            return (lambda e: f(a(e), b(e))), "bool", None
        if op in ("in", "not in"):
            if tb not in ("list<str>", "list<num>") or tb != f"list<{ta}>":
                raise LangError(f"{op!r} needs a value and a list of the same type, got {ta} and {tb}", pos)
            if kb is not None:
                return ((lambda e: a(e) in kb) if op == "in" else (lambda e: a(e) not in kb)), "bool", None
            return ((lambda e: a(e) in b(e)) if op == "in" else (lambda e: a(e) not in b(e))), "bool", None
        if op == "contains":
            if not ((ta == "str" and tb == "str") or (ta == "list<str>" and tb == "str")):
                raise LangError(f"'contains' needs text (or a list of strings) and a string, got {ta} and {tb}", pos)
            if kb is not None:
                return (lambda e: kb in a(e)), "bool", None
            return (lambda e: b(e) in a(e)), "bool", None
        if op == "matches":
            if ta != "str" or rn[0] != "str":
                raise LangError("'matches' needs text and a regex string literal", pos)
            try:
                rx = guard(rn[2])
            except LangError as exc:
                raise LangError(exc.message, rn[1] + 1 + exc.pos) from None
            s = rx.search
            return (lambda e: s(a(e)) is not None), "bool", None
        if op == "mentions":
            if ta != "str" or tb != "lex":
                raise LangError(f"'mentions' needs text and a 词库 (@name), got {ta} and {tb}", pos)
            s = kb.pattern.search   # (the pattern itself: one call less than ``kb.search``)
            return (lambda e: s(a(e)) is not None), "bool", None
        if op == "startswith":
            if ta != "str" or tb not in ("str", "list<str>") or kb is None:
                raise LangError("'startswith' needs text and a string or list of strings literal", pos)
            pre = (kb,) if isinstance(kb, str) else tuple(sorted(kb))
            return (lambda e: a(e).startswith(pre)), "bool", None
        raise LangError(f"unknown operator {op!r}", pos)  # pragma: no cover - parser makes none


_COSTLY_CALLS = {"hits": 3}


def cost(n: Node) -> int:
    """A rough relative cost of evaluating a node: a ``graph.*`` name may search the map, a text
    match scans the text, anything else is a lookup.

    >>> cost(parse("graph.incidents_nearby >= 1")) > cost(parse('text mentions @x')) > cost(parse("hour > 3"))
    True
    """
    op = n[0]
    if op in ("num", "str", "bool", "lex"):
        return 0
    if op == "name":
        return 8 if n[2].startswith("graph.") else 1
    if op == "list":
        return 0
    if op == "call":
        return _COSTLY_CALLS.get(n[2], 1) + sum(cost(a) for a in n[3])
    if op == "not":
        return cost(n[2])
    extra = 3 if op in ("matches", "mentions", "contains") else 0
    return extra + cost(n[2]) + cost(n[3])


def guards(tree: Node) -> tuple[tuple[str, frozenset], ...]:
    """Necessary conditions of a parsed condition: for each ``and``-ed ``name == literal`` or
    ``name in [literals]`` over a code field (``names.GUARDABLE``; an ``or`` of such tests on
    one field joins their values), the field and the values that can make the whole true.

    >>> guards(parse('call_type == "fraud" and (text contains "x" or hour > 3)'))
    (('call_type', frozenset({'fraud'})),)
    >>> [(f, sorted(v)) for f, v in guards(parse('alert_type in ["a", "b"] or alert_type == "c"'))]
    [('alert_type', ['a', 'b', 'c'])]
    >>> guards(parse('call_type == "fraud" or text contains "x"'))
    ()
    """
    def one(n: Node) -> tuple[str, frozenset] | None:
        op = n[0]
        if op in ("==", "in") and n[2][0] == "name" and n[2][2] in names.GUARDABLE:
            rn = n[3]
            if op == "==" and rn[0] == "str":
                return n[2][2], frozenset((rn[2],))
            if op == "in" and rn[0] == "list" and all(it[0] == "str" for it in rn[2]):
                return n[2][2], frozenset(it[2] for it in rn[2])
        if op == "or":
            a, b = one(n[2]), one(n[3])
            if a is not None and b is not None and a[0] == b[0]:
                return a[0], a[1] | b[1]
        return None

    out: dict[str, frozenset] = {}
    stack = [tree]
    while stack:
        n = stack.pop()
        if n[0] == "and":
            stack += [n[3], n[2]]
            continue
        g = one(n)
        if g is not None:
            out[g[0]] = out[g[0]] & g[1] if g[0] in out else g[1]
    return tuple(out.items())


def compile_condition(src: str, streams: Sequence[str],
                      lexicons: Mapping[str, Lexicon] | None = None) -> Condition:
    """Parse, type-check and compile ``src``; it must be boolean.  Raises ``LangError``."""
    if not isinstance(src, str):
        raise LangError("a condition must be a string")
    tree = parse(src)
    c = _Compiler(streams, lexicons or {})
    fn, typ, _ = c.compile(tree)
    if typ != "bool":
        raise LangError(f"a condition must be true/false, this one is {typ}", 0)
    return Condition(src, fn, typ, c.used_lex, c.used_names, guards(tree))
