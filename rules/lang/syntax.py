"""Tokenizer and Pratt parser for rule conditions.  No Python ``eval``: text becomes a tree.

Grammar (lowest binding first)::

    expr    := expr "or" expr | expr "and" expr | "not" expr | cmp
    cmp     := primary [ OP primary ]          OP: == != < <= > >= in "not in"
                                               contains matches mentions startswith
    primary := NUMBER | STRING | true | false | "@" NAME (a 词库)
             | NAME ("." NAME)* [ "(" args ")" ] | "[" items "]" | "(" expr ")"

>>> parse('a == 1 and not (b in ["x", "y"])')
('and', 7, ('==', 2, ('name', 0, 'a'), ('num', 5, 1)), ('not', 11, ('in', 18, ('name', 16, 'b'), ('list', 21, [('str', 22, 'x'), ('str', 27, 'y')]))))
>>> parse('text mentions @weapons')
('mentions', 5, ('name', 0, 'text'), ('lex', 14, 'weapons'))
"""
from __future__ import annotations

import re
from typing import Any

from .errors import LangError

MAX_LENGTH = 2000     # characters in one expression
MAX_DEPTH = 24        # nesting of parentheses, lists, not, calls
MAX_LIST = 256        # items in one list literal
MAX_TOKENS = 600

KEYWORDS = {"and", "or", "not", "in", "true", "false", "contains", "matches", "mentions",
            "startswith"}
CMP_OPS = {"==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains", "matches", "mentions",
           "startswith"}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\\n]|\\["\\nt])*"|'(?:[^'\\\n]|\\['\\nt])*')
  | (?P<lex>@[A-Za-z][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
""", re.VERBOSE)
_ESC = {"n": "\n", "t": "\t", '"': '"', "'": "'", "\\": "\\"}

Node = tuple  # (op, pos, *children)


def tokenize(src: str) -> list[tuple[str, Any, int]]:
    """(type, value, pos) tokens, ending with ('end', None, len)."""
    if len(src) > MAX_LENGTH:
        raise LangError(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            ch = src[pos]
            hint = " (strings need quotes)" if ord(ch) > 127 else ""
            raise LangError(f"unexpected character {ch!r}{hint}", pos)
        kind, text = m.lastgroup, m.group()
        if kind == "num":
            out.append(("num", float(text) if "." in text else int(text), pos))
        elif kind == "str":
            out.append(("str", re.sub(r"\\(.)", lambda e: _ESC[e.group(1)], text[1:-1]), pos))
        elif kind == "lex":
            out.append(("lex", text[1:], pos))
        elif kind == "name":
            if text.startswith("_"):
                raise LangError(f"names starting with '_' are not allowed: {text}", pos)
            out.append(("kw" if text in KEYWORDS else "name", text, pos))
        elif kind == "op":
            out.append(("op", text, pos))
        pos = m.end()
        if len(out) > MAX_TOKENS:
            raise LangError(f"expression has more than {MAX_TOKENS} tokens", pos)
    out.append(("end", None, len(src)))
    return out


class _Parser:
    def __init__(self, src: str):
        self.toks = tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, Any, int]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, value: str) -> tuple[str, Any, int]:
        t = self.take()
        if t[1] != value or t[0] not in ("op", "kw"):
            raise LangError(f"expected {value!r}, found {_show(t)}", t[2])
        return t

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LangError(f"expression nested deeper than {MAX_DEPTH}", pos)

    # Pratt: binding powers or 1, and 2, not 3 (prefix), comparison 4 (non-associative)
    def expr(self, rbp: int = 0) -> Node:
        left = self.prefix()
        while True:
            t = self.peek()
            if t[0] == "kw" and t[1] in ("or", "and"):
                bp = 1 if t[1] == "or" else 2
                if bp <= rbp:
                    return left
                self.take()
                self.nest(t[2])
                left = (t[1], t[2], left, self.expr(bp))
                self.depth -= 1
            else:
                return left

    def prefix(self) -> Node:
        t = self.peek()
        if t[0] == "kw" and t[1] == "not":
            self.take()
            self.nest(t[2])
            node = ("not", t[2], self.expr(3) if self.peek()[1] == "not" else self.comparison())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.primary()
        t = self.peek()
        op = None
        if t[0] == "op" and t[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = t[1]
        elif t[0] == "kw" and t[1] in ("in", "contains", "matches", "mentions", "startswith"):
            op = t[1]
        elif t[0] == "kw" and t[1] == "not" and self.toks[self.i + 1][1] == "in":
            self.take()
            op = "not in"
        if op is None:
            return left
        self.take()
        right = self.primary()
        nxt = self.peek()
        if (nxt[0] == "op" and nxt[1] in CMP_OPS) or (nxt[0] == "kw" and nxt[1] in CMP_OPS):
            raise LangError("comparisons do not chain: use 'and'", nxt[2])
        return (op, t[2], left, right)

    def primary(self) -> Node:
        t = self.take()
        kind, val, pos = t
        if kind in ("num", "str"):
            return (kind, pos, val)
        if kind == "lex":
            return ("lex", pos, val)
        if kind == "kw" and val in ("true", "false"):
            return ("bool", pos, val == "true")
        if kind == "op" and val == "(":
            self.nest(pos)
            node = self.expr()
            self.expect(")")
            self.depth -= 1
            return node
        if kind == "op" and val == "[":
            self.nest(pos)
            items = self.items("]", pos)
            self.depth -= 1
            return ("list", pos, items)
        if kind == "name":
            name = val
            while self.peek()[1] == "." and self.peek()[0] == "op":
                self.take()
                part = self.take()
                if part[0] != "name":
                    raise LangError(f"expected a field name after '.', found {_show(part)}", part[2])
                name += "." + part[1]
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                self.take()
                self.nest(pos)
                args = self.items(")", pos)
                self.depth -= 1
                return ("call", pos, name, args)
            return ("name", pos, name)
        raise LangError(f"expected a value, found {_show(t)}", pos)

    def items(self, close: str, pos: int) -> list[Node]:
        out: list[Node] = []
        if self.peek()[1] == close and self.peek()[0] == "op":
            self.take()
            return out
        while True:
            out.append(self.expr())
            if len(out) > MAX_LIST:
                raise LangError(f"list longer than {MAX_LIST} items", pos)
            t = self.take()
            if t[1] == close and t[0] == "op":
                return out
            if t[1] != "," or t[0] != "op":
                raise LangError(f"expected ',' or {close!r}, found {_show(t)}", t[2])


def _show(t: tuple[str, Any, int]) -> str:
    return "end of expression" if t[0] == "end" else repr(t[1])


def parse(src: str) -> Node:
    """Parse one condition into a tree of tuples ``(op, pos, *children)``."""
    p = _Parser(src)
    if p.peek()[0] == "end":
        raise LangError("empty expression", 0)
    node = p.expr()
    t = p.peek()
    if t[0] != "end":
        raise LangError(f"unexpected {_show(t)} after a complete expression", t[2])
    return node
