"""The rule condition language: tokenizer and parser (``syntax``), names and types
(``names``), compiler to closures (``compiler``), 词库 (``lexicon``), regex guard (``safe_regex``).

>>> from rules.lang.compiler import compile_condition
>>> cond = compile_condition('call_type in ["threat", "violence"] and text contains "刀"', ["call"])
>>> cond.check()
'bool'
"""
from streams.native import activate as _activate

_activate(__name__, __path__)   # (first: before any module of the package is imported)

from .errors import LangError  # noqa: E402

__all__ = ["LangError"]
