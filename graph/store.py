"""The typed relationship graph of 人、地、物、事、组织 with compact node ids.

Nodes are small ints in a ``networkx.Graph``; what a node is lives in side tables
(``kind``, ``key``, ``label``), and each edge carries four small attributes: ``k`` (edge kind,
an index into ``EDGE_KINDS``), ``f`` and ``l`` (first and last seen, epoch seconds of event
time) and ``n`` (how many records made it).  Keys hold no clear personal data: people and
phones are keyed hashes, labels are masked (``张某``, ``138****8000``).

>>> g = TypedGraph()
>>> a, c = g.node("person", "id:ab12", "张某"), g.node("case", "C-1", "C-1")
>>> g.link(a, c, "party", 1000); g.link(a, c, "party", DAY + 1000)
>>> g.g.edges[a, c]
{'k': 0, 'f': 1000, 'l': 87400, 'n': 2}
>>> g.prune(DAY + 500), g.g.number_of_nodes()   # (pruning works in whole days of last touch)
(0, 2)
>>> g.prune(3 * DAY), g.g.number_of_nodes()
(2, 0)
"""
from __future__ import annotations

from typing import Any, Iterator

import networkx as nx

NODE_KINDS = ("person", "phone", "address", "camera", "org", "case")
# edge kind -> the words the console draws on the edge
EDGE_KINDS = ("party", "phone", "address", "scene", "camera", "org", "claim")
EDGE_LABEL = {"party": "当事人", "phone": "使用电话", "address": "涉事地址", "scene": "事发地址",
              "camera": "摄像头", "org": "涉及单位", "claim": "诉求对象"}
_EK = {k: i for i, k in enumerate(EDGE_KINDS)}
DAY = 86400
VERSION = 1


class TypedGraph:
    """Nodes by (kind, key) → int; edges with kind, first/last seen and count."""

    def __init__(self) -> None:
        self.g = nx.Graph()
        self._ids: dict[str, int] = {}      # "kind|key" -> node id
        self.kind: dict[int, str] = {}
        self.key: dict[int, str] = {}
        self.label: dict[int, str] = {}
        self._next = 0
        self._touched: dict[int, list[int]] = {}   # day of last touch -> packed edge (u<<32|v)

    # -- nodes and edges ----------------------------------------------------------------------
    def find(self, kind: str, key: str) -> int | None:
        return self._ids.get(kind + "|" + key)

    def node(self, kind: str, key: str, label: str = "") -> int:
        k = kind + "|" + key
        n = self._ids.get(k)
        if n is None:
            n = self._ids[k] = self._next
            self._next += 1
            self.kind[n], self.key[n] = kind, key
            self.g.add_node(n)
        if label and self.label.get(n) != label:
            self.label[n] = label
        return n

    def link(self, u: int, v: int, kind: str, ts: int) -> None:
        if u == v:
            return
        d = self.g.get_edge_data(u, v)
        if d is None:
            self.g.add_edge(u, v, k=_EK[kind], f=ts, l=ts, n=1)
        else:
            d["n"] += 1
            if ts > d["l"]:
                d["l"] = ts
            if ts < d["f"]:
                d["f"] = ts
        a, b = (u, v) if u < v else (v, u)
        self._touched.setdefault(ts // DAY, []).append(a << 32 | b)

    def edge_kind(self, u: int, v: int) -> str:
        return EDGE_KINDS[self.g.edges[u, v]["k"]]

    def neighbours(self, n: int, kind: str | None = None) -> Iterator[int]:
        """In node-id order, so walks do not depend on insertion history (restore)."""
        for m in sorted(self.g.adj[n]):
            if kind is None or self.kind[m] == kind:
                yield m

    def display(self, n: int) -> str:
        return self.label.get(n) or self.kind[n]

    # -- ageing ---------------------------------------------------------------------------------
    def prune(self, cutoff: int) -> int:
        """Drop edges last seen before ``cutoff`` and the nodes left with none; return nodes gone."""
        g, gone = self.g, []
        for day in [d for d in self._touched if (d + 1) * DAY <= cutoff]:
            for packed in self._touched.pop(day):
                u, v = packed >> 32, packed & 0xFFFFFFFF
                d = g.get_edge_data(u, v)
                if d is not None and d["l"] < cutoff:
                    g.remove_edge(u, v)
                    gone.extend(x for x in (u, v) if g.degree(x) == 0)
        dropped = 0
        for n in dict.fromkeys(gone):
            if n in g and g.degree(n) == 0:
                g.remove_node(n)
                del self._ids[self.kind.pop(n) + "|" + self.key.pop(n)]
                self.label.pop(n, None)
                dropped += 1
        return dropped

    # -- snapshot -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"version": VERSION, "next": self._next,
                "nodes": [[n, self.kind[n], self.key[n], self.label.get(n, "")] for n in sorted(self.g)],
                "edges": sorted([min(u, v), max(u, v), d["k"], d["f"], d["l"], d["n"]]
                                for u, v, d in self.g.edges(data=True))}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != VERSION:
            raise ValueError(f"graph snapshot version {state.get('version')} is not {VERSION}")
        self.__init__()
        self._next = state["next"]
        for n, kind, key, label in state["nodes"]:
            self._ids[kind + "|" + key] = n
            self.kind[n], self.key[n] = kind, key
            if label:
                self.label[n] = label
            self.g.add_node(n)
        for u, v, k, f, last, cnt in state["edges"]:
            self.g.add_edge(u, v, k=k, f=f, l=last, n=cnt)
            self._touched.setdefault(last // DAY, []).append(u << 32 | v)

    def stats(self) -> dict[str, int]:
        return {"nodes": self.g.number_of_nodes(), "edges": self.g.number_of_edges()}
