"""YAML with places: every mapping and list remembers the node of each value, so a loader
can say ``file:line:col`` for a bad field and for a column inside a condition string.

Refused before anything is built: files over ``MAX_FILE`` bytes, anchors and aliases (the
"billion laughs"), nesting deeper than ``MAX_DEPTH``, and non-string keys.
"""
from __future__ import annotations

from typing import Any

import yaml

from .lang.errors import RuleError

MAX_FILE = 512 * 1024
MAX_DEPTH = 16


class MDict(dict):
    """A mapping with ``nodes[key]`` (the value's YAML node), ``knodes[key]`` (the key's node)
    and ``node`` (its own)."""

    nodes: dict[str, Any]
    knodes: dict[str, Any]
    node: Any


class MList(list):
    nodes: list[Any]
    node: Any


class Source:
    """One YAML file: its text, name, and a converter from nodes to marked Python values."""

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text

    def error(self, node: Any, message: str, offset: int | None = None) -> RuleError:
        if node is None:
            return RuleError(self.name, 1, 1, message)
        if offset is None:
            m = node.start_mark
            return RuleError(self.name, m.line + 1, m.column + 1, message)
        idx = self._index_in_scalar(node, offset)
        line = self.text.count("\n", 0, idx) + 1
        col = idx - (self.text.rfind("\n", 0, idx) + 1) + 1
        return RuleError(self.name, line, col, message)

    def _index_in_scalar(self, node: Any, k: int) -> int:
        """The file index of character ``k`` of a scalar's value (plain, quoted or block)."""
        start, end = node.start_mark.index, node.end_mark.index
        raw, v = self.text[start:end], node.value
        i = 0
        if node.style in ("|", ">"):
            i = raw.index("\n") + 1 if "\n" in raw else len(raw)
        elif node.style in ('"', "'"):
            i = 1
        j = 0
        while j < k and i < len(raw) and j < len(v):
            if raw[i] == v[j]:
                i, j = i + 1, j + 1
            elif v[j] in " \n" and raw[i].isspace():
                while i < len(raw) and raw[i].isspace():
                    i += 1
                j += 1
            else:
                i += 1
        return start + i

    def load(self) -> Any:
        if len(self.text.encode("utf-8", "replace")) > MAX_FILE:
            raise RuleError(self.name, 1, 1, f"file larger than {MAX_FILE} bytes")
        try:
            for ev in yaml.parse(self.text, Loader=yaml.SafeLoader):
                if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                    m = ev.start_mark
                    raise RuleError(self.name, m.line + 1, m.column + 1,
                                    "YAML anchors and aliases (&, *) are not allowed in rule packs")
            loader = yaml.SafeLoader(self.text)
            try:
                node = loader.get_single_node()
                return None if node is None else self._py(loader, node, 0)
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            m = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line, col = (m.line + 1, m.column + 1) if m else (1, 1)
            raise RuleError(self.name, line, col, "YAML: " + str(getattr(exc, "problem", exc))) from None

    def _py(self, loader: yaml.SafeLoader, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(node, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            d = MDict()
            d.nodes, d.knodes, d.node = {}, {}, node
            for kn, vn in node.value:
                if not isinstance(kn, yaml.ScalarNode) or kn.tag != "tag:yaml.org,2002:str":
                    raise self.error(kn, "keys must be plain names")
                if kn.value in d:
                    raise self.error(kn, f"duplicate key {kn.value!r}")
                d[kn.value] = self._py(loader, vn, depth + 1)
                d.nodes[kn.value] = vn
                d.knodes[kn.value] = kn
            return d
        if isinstance(node, yaml.SequenceNode):
            lst = MList(self._py(loader, n, depth + 1) for n in node.value)
            lst.nodes, lst.node = list(node.value), node
            return lst
        return loader.construct_object(node, deep=True)
