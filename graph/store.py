"""The typed relationship graph of 人、地、物、事、组织, compact enough for a city.

A node is an int ``seq << 3 | kind index`` (never reused), so its kind costs nothing and
node-id order is creation order.  Keys live in per-kind dicts (``find``) and ``key``; labels
only where they differ from the key (an address or org label is its key after ``街道:``),
interned (``张某`` is shared by thousands).  Adjacency is one ``array('q')`` per node of packed
``neighbour << 32 | edge slot``, kept sorted, so walks go in node-id order and a lookup is a
bisect.  Edge attributes live in column arrays indexed by edge slot (slots of pruned edges are
reused): ``ek`` (edge kind, an index into ``EDGE_KINDS``), ``ef``/``el`` (first and last seen,
epoch seconds of event time) and ``en`` (how many records made it).  No networkx: the patterns
need only breadth-first walks, written in ``graph.features``.  Keys hold no clear personal
data: people and phones are keyed hashes, labels are masked (``张某``, ``138****8000``).

>>> g = TypedGraph()
>>> a, c = g.node("person", "id:ab12", "张某"), g.node("case", "C-1", "C-1")
>>> g.link(a, c, "party", 1000); g.link(a, c, "party", DAY + 1000)
>>> g.edge(a, c), g.kind[c], g.display(c)
((0, 1000, 87400, 2), 'case', 'C-1')
>>> g.prune(DAY + 500), g.stats()   # (pruning works in whole days of last touch)
(0, {'nodes': 2, 'edges': 1})
>>> g.prune(3 * DAY), g.stats(), a in g.kind
(2, {'nodes': 0, 'edges': 0}, False)
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any, Iterator

NODE_KINDS = ("person", "phone", "address", "camera", "org", "case")
# edge kind -> the words the console draws on the edge
EDGE_KINDS = ("party", "phone", "address", "scene", "camera", "org", "claim")
EDGE_LABEL = {"party": "当事人", "phone": "使用电话", "address": "涉事地址", "scene": "事发地址",
              "camera": "摄像头", "org": "涉及单位", "claim": "诉求对象"}
_EK = {k: i for i, k in enumerate(EDGE_KINDS)}
_NK = {k: i for i, k in enumerate(NODE_KINDS)}
_SCOPED = (_NK["address"], _NK["org"])   # keys "<街道 code>:<label>"
PERSON = _NK["person"]
DAY = 86400
VERSION = 2
SLOT_MASK = 0xFFFFFFFF   # adjacency entries pack neighbour << 32 | edge slot (graph.features reads them)


class Kinds:
    """``tg.kind[n]`` → ``"person"`` …, and ``n in tg.kind`` for a live node (a view, no storage)."""

    __slots__ = ("_adj",)

    def __init__(self, adj: dict[int, array]) -> None:
        self._adj = adj

    def __getitem__(self, n: int) -> str:
        if n not in self._adj:
            raise KeyError(n)
        return NODE_KINDS[n & 7]

    def __contains__(self, n: object) -> bool:
        return n in self._adj

    def __len__(self) -> int:
        return len(self._adj)

    def values(self) -> Iterator[str]:
        return (NODE_KINDS[n & 7] for n in self._adj)


class TypedGraph:
    """Nodes by (kind, key) → int; edges with kind, first/last seen and count."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, int]] = {k: {} for k in NODE_KINDS}  # kind -> key -> id
        self.key: dict[int, str] = {}
        self.label: dict[int, str] = {}     # only labels other than the default (see display)
        self.adj: dict[int, array] = {}     # node -> sorted packed (neighbour << 32 | slot)
        self.kind = Kinds(self.adj)
        self._labels: dict[str, str] = {}   # interned person labels
        self._next = 0                      # next sequence number
        # edge columns by slot; a free slot has ek == -1 and sits on _free
        self.ek, self.ef, self.el = array("b"), array("q"), array("q")
        self.en, self.eu, self.ev = array("i"), array("i"), array("i")
        self._free = array("i")
        self._edges = 0
        self._touched: dict[int, array] = {}   # day of last touch -> edge slots (may be stale)
        self._dropped = 0                      # nodes dropped since the last ``_compact``

    # -- nodes and edges ----------------------------------------------------------------------
    def find(self, kind: str, key: str) -> int | None:
        return self._ids[kind].get(key)

    def node(self, kind: str, key: str, label: str = "") -> int:
        n = self._ids[kind].get(key)
        if n is None:
            n = self._new(kind, key)
            self.label[n] = ""
        if label and label != self.label.get(n):
            self._set_label(n, label)
        return n

    def keyed(self, kind: str, key: str) -> int:
        """``node(kind, key, label)`` for a node whose label is always its key's default (a case
        or camera: the key; an address or org: the key after ``街道:``). Such a label is never
        stored, so there is nothing to compare on every record that names the node.

        >>> g = TypedGraph()
        >>> a = g.keyed("address", "620102003:张掖路12号")
        >>> a == g.node("address", "620102003:张掖路12号", "张掖路12号"), g.display(a), g.label
        (True, '张掖路12号', {})
        """
        n = self._ids[kind].get(key)
        return self._new(kind, key) if n is None else n

    def _new(self, kind: str, key: str) -> int:
        key = key.replace("\x00", "")   # NUL separates strings in the binary snapshot
        ids = self._ids[kind]
        n = ids.get(key)   # (a key with NUL in it names the node of the key without)
        if n is None:
            n = ids[key] = self._next << 3 | _NK[kind]
            self._next += 1
            self.key[n] = key
            self.adj[n] = array("q")
        return n

    def _default_label(self, n: int) -> str:
        key = self.key[n]
        if n & 7 in _SCOPED:
            _, sep, tail = key.partition(":")
            if sep:
                return tail
        return key

    def _set_label(self, n: int, label: str) -> None:
        """Label ``""`` means none (display shows the kind); a label equal to the default is not
        stored."""
        cur = self.label.get(n)
        default = self._default_label(n)
        if (default if cur is None else cur) == label:
            return
        if label == default:
            del self.label[n]
        else:
            label = label.replace("\x00", "")
            # masked names (张某) repeat and are few: interned; a masked phone is near unique
            # (interning it would keep every phone ever seen)
            self.label[n] = self._labels.setdefault(label, label) if n & 7 == PERSON else label

    def label_of(self, n: int) -> str:
        """The label given to the node ("" if none)."""
        cur = self.label.get(n)
        return self._default_label(n) if cur is None else cur

    def _slot(self, u: int, v: int) -> int:
        """The edge slot of (u, v), or -1."""
        a, b = self.adj[u], self.adj[v]
        if len(b) < len(a):
            a, u, v = b, v, u
        i = bisect_left(a, v << 32)
        if i < len(a) and a[i] >> 32 == v:
            return a[i] & SLOT_MASK
        return -1

    def link(self, u: int, v: int, kind: str, ts: int) -> None:
        if u == v:
            return
        au, av = self.adj[u], self.adj[v]
        if len(av) < len(au):
            a, w = av, u
        else:
            a, w = au, v
        i = bisect_left(a, w << 32)
        if i < len(a) and a[i] >> 32 == w:
            e = a[i] & SLOT_MASK
            self.en[e] += 1
            last = self.el[e]
            if ts < self.ef[e]:
                self.ef[e] = ts
            if ts <= last:
                return
            self.el[e] = ts
            if ts // DAY == last // DAY:
                return
        else:
            k = _EK[kind]
            if self._free:
                e = self._free.pop()
                self.ek[e], self.ef[e], self.el[e], self.en[e] = k, ts, ts, 1
                self.eu[e], self.ev[e] = u, v
            else:
                e = len(self.ek)
                self.ek.append(k), self.ef.append(ts), self.el.append(ts)
                self.en.append(1), self.eu.append(u), self.ev.append(v)
            p = v << 32 | e
            au.insert(bisect_left(au, p), p)
            p = u << 32 | e
            av.insert(bisect_left(av, p), p)
            self._edges += 1
        t = self._touched.get(ts // DAY)
        if t is None:
            t = self._touched[ts // DAY] = array("i")
        t.append(e)

    def edge(self, u: int, v: int) -> tuple[int, int, int, int] | None:
        """``(kind index, first seen, last seen, count)`` of the edge u–v, or None."""
        e = self._slot(u, v)
        return None if e < 0 else (self.ek[e], self.ef[e], self.el[e], self.en[e])

    def edge_kind(self, u: int, v: int) -> str:
        return EDGE_KINDS[self.ek[self._slot(u, v)]]

    def degree(self, n: int) -> int:
        return len(self.adj[n])

    def neighbours(self, n: int, kind: str | None = None) -> list[int]:
        """In node-id order, so walks do not depend on insertion history (restore)."""
        if kind is None:
            return [p >> 32 for p in self.adj[n]]
        k = _NK[kind]
        return [m for p in self.adj[n] if (m := p >> 32) & 7 == k]

    def incident(self, n: int) -> Iterator[tuple[int, int]]:
        """``(neighbour, edge slot)`` in node-id order (read columns ``ek``/``el``... by slot)."""
        for p in self.adj[n]:
            yield p >> 32, p & SLOT_MASK

    def display(self, n: int) -> str:
        return self.label_of(n) or NODE_KINDS[n & 7]

    # -- ageing ---------------------------------------------------------------------------------
    def _unlink(self, e: int) -> None:
        for x, y in ((self.eu[e], self.ev[e]), (self.ev[e], self.eu[e])):
            a = self.adj[x]
            del a[bisect_left(a, y << 32 | e)]
        self.ek[e] = -1
        self._free.append(e)
        self._edges -= 1

    def prune(self, cutoff: int) -> int:
        """Drop edges last seen on a day wholly before ``cutoff`` and the nodes left with none;
        return how many nodes went.  (Whole days: what goes depends on the graph only, not on
        its history, so a restored graph prunes exactly like the one it came from.)"""
        gone = []
        ek, el = self.ek, self.el
        start = cutoff // DAY * DAY
        for day in [d for d in self._touched if (d + 1) * DAY <= cutoff]:
            for e in self._touched.pop(day):
                if ek[e] >= 0 and el[e] < start:
                    u, v = self.eu[e], self.ev[e]
                    self._unlink(e)
                    gone.extend(x for x in (u, v) if not self.adj[x])
        dropped = 0
        for n in dict.fromkeys(gone):
            a = self.adj.get(n)
            if a is not None and not a:
                self._drop_node(n)
                dropped += 1
        self._compact()
        return dropped

    def _compact(self) -> None:
        """Copy the big dicts when nodes came and went since the last copy, so their tables are
        sized to their entries again.  Under churn CPython never reuses a deleted entry's slot:
        a dict takes inserts until its table is used up, then resizes to 3× its live entries,
        i.e. doubles, and stays so.  Copied only when already doubled, the tables doubled and
        halved at random days (RSS samples of a flat graph jumped 7-15 %); copied after every
        day with churn they never reach it (a few ms per 100 k entries, once a day with drops)."""
        if not self._dropped:
            return   # no node dropped since: no dead slots (a growing dict is sized right)
        self._dropped = 0
        for name in ("key", "label", "adj"):
            d = getattr(self, name)
            if len(d) > 4096:
                setattr(self, name, dict(d))
        self.kind = Kinds(self.adj)
        for kind, d in self._ids.items():
            if len(d) > 4096:
                self._ids[kind] = dict(d)

    def _drop_node(self, n: int) -> None:
        self._dropped += 1
        del self.adj[n]
        del self._ids[NODE_KINDS[n & 7]][self.key.pop(n)]
        self.label.pop(n, None)

    # -- snapshot -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able columns, canonical (same graph → same snapshot, whatever its slot history)."""
        from .snapshot import to_state
        return to_state(self)

    def restore(self, state: dict[str, Any]) -> None:
        from .snapshot import from_state
        from_state(self, state)

    def _put_node(self, n: int, key: str, label: str) -> None:
        self._ids[NODE_KINDS[n & 7]][key] = n
        self.key[n] = key
        self.adj[n] = array("q")
        self.label[n] = ""
        if label:
            self._set_label(n, label)

    def stats(self) -> dict[str, int]:
        return {"nodes": len(self.adj), "edges": self._edges}


def check_version(state: dict[str, Any], what: str, version: int = VERSION) -> None:
    """Refuse a snapshot of another format version with a clear error.

    >>> check_version({"version": 9}, "graph snapshot")
    Traceback (most recent call last):
    ...
    ValueError: graph snapshot version 9 is not supported (this build reads version 2)
    """
    if state.get("version") != version:
        raise ValueError(f"{what} version {state.get('version')} is not supported "
                         f"(this build reads version {version})")
