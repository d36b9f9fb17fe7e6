"""Binary snapshot of a ``TypedGraph`` plus a small JSON header: restore in seconds at city scale.

Layout (no pickle: loading runs no code)::

    b"YJGRAPH\\n"  u32 header length  header (UTF-8 JSON)  sections...


The header holds ``format_version``, the caller's ``tables`` (the detector's small side tables,
with their own ``version``), the byte order and, per section, its name, array typecode,
item size and item count.  Sections are raw ``array`` bytes: node ids, node kinds, keys and
labels (UTF-8 joined by NUL, which ``TypedGraph.node`` strips from keys and labels; a node's
kind is in its id), the
edge columns with free slots, each node's sorted adjacency, and the day lists of last touch.

>>> from graph.store import TypedGraph
>>> g = TypedGraph()
>>> g.link(g.node("person", "id:ab", "张某"), g.node("case", "C-1", "C-1"), "party", 5)
>>> r = TypedGraph(); load(r, dump(g, {"version": 1}))
{'version': 1}
>>> r.snapshot() == g.snapshot()
True
>>> load(r, b"junk")
Traceback (most recent call last):
...
ValueError: not a yujing graph snapshot (bad magic)
"""
from __future__ import annotations

import gc
import json
import struct
import sys
from array import array
from itertools import accumulate
from typing import Any

from .store import DAY, NODE_KINDS, PERSON, VERSION, TypedGraph, check_version

MAGIC = b"YJGRAPH\n"
FORMAT_VERSION = 1
_EDGE_COLS = ("ek", "ef", "el", "en", "eu", "ev")


def dump(tg: TypedGraph, tables: dict[str, Any]) -> bytes:
    nodes = sorted(tg.adj)
    keys = "\x00".join(tg.key[n] for n in nodes).encode("utf-8")
    labelled = sorted(tg.label)           # only labels other than the default
    labels = "\x00".join(tg.label[n] for n in labelled).encode("utf-8")
    deg = array("l", (len(tg.adj[n]) for n in nodes))
    adj = array("q")
    for n in nodes:
        adj.extend(tg.adj[n])
    days = array("l", sorted(tg._touched))
    counts = array("l", (len(tg._touched[d]) for d in days))
    touched = array("i")
    for d in days:
        touched.extend(tg._touched[d])
    sections: list[tuple[str, Any]] = [
        ("node_id", array("l", nodes)), ("keys", keys),
        ("label_id", array("l", labelled)), ("labels", labels),
        *((c, getattr(tg, c)) for c in _EDGE_COLS), ("free", tg._free),
        ("deg", deg), ("adj", adj), ("days", days), ("day_count", counts), ("touched", touched)]
    head = {"format_version": FORMAT_VERSION, "byteorder": sys.byteorder, "next": tg._next,
            "edges": tg._edges, "tables": tables,
            "sections": [[name, getattr(a, "typecode", "B"), getattr(a, "itemsize", 1), len(a)]
                         for name, a in sections]}
    hb = json.dumps(head, ensure_ascii=False).encode("utf-8")
    return b"".join([MAGIC, struct.pack("<I", len(hb)), hb,
                     *(a if isinstance(a, bytes) else a.tobytes() for _, a in sections)])


def load(tg: TypedGraph, data: bytes) -> dict[str, Any]:
    """Restore ``tg`` from ``dump``'s bytes; returns the tables."""
    if data[:len(MAGIC)] != MAGIC:
        raise ValueError("not a yujing graph snapshot (bad magic)")
    (hl,) = struct.unpack_from("<I", data, len(MAGIC))
    pos = len(MAGIC) + 4
    head = json.loads(data[pos:pos + hl].decode("utf-8"))
    pos += hl
    if head.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"graph snapshot format version {head.get('format_version')} is not "
                         f"supported (this build reads version {FORMAT_VERSION})")
    if head["byteorder"] != sys.byteorder:
        raise ValueError(f"graph snapshot written on a {head['byteorder']}-endian machine")
    s: dict[str, Any] = {}
    for name, code, size, count in head["sections"]:
        raw = data[pos:pos + size * count]
        pos += size * count
        if code == "B":
            s[name] = raw
            continue
        a = array(code)
        if a.itemsize != size:
            raise ValueError(f"graph snapshot section {name}: item size {size}, here {a.itemsize}")
        a.frombytes(raw)
        s[name] = a
    gc_was = gc.isenabled()
    gc.disable()   # millions of new containers: no collections while they are made
    try:
        _fill(tg, head, s)
    finally:
        if gc_was:
            gc.enable()
    return head["tables"]


def _fill(tg: TypedGraph, head: dict[str, Any], s: dict[str, Any]) -> None:
    tg.__init__()
    tg._next, tg._edges = head["next"], head["edges"]
    ids = s["node_id"].tolist()
    keys = s["keys"].decode("utf-8").split("\x00") if ids else []
    tg.key.update(zip(ids, keys))
    for k, name in enumerate(NODE_KINDS):
        tg._ids[name].update((key, n) for n, key in zip(ids, keys) if n & 7 == k)
    interned = tg._labels.setdefault
    label_ids = s["label_id"].tolist()
    labels = s["labels"].decode("utf-8").split("\x00") if label_ids else []
    tg.label.update((n, interned(lab, lab) if n & 7 == PERSON else lab)
                    for n, lab in zip(label_ids, labels))
    adj = s["adj"]
    offs = list(accumulate(s["deg"], initial=0))
    tg.adj.update((n, adj[a:b]) for n, a, b in zip(ids, offs, offs[1:]))
    for c in _EDGE_COLS:
        setattr(tg, c, s[c])
    tg._free = s["free"]
    offs = list(accumulate(s["day_count"], initial=0))
    touched = s["touched"]
    tg._touched.update((d, touched[a:b]) for d, a, b in zip(s["days"], offs, offs[1:]))


# -- the JSON-able form (TypedGraph.snapshot / restore) ------------------------------------------
def to_state(tg: TypedGraph) -> dict[str, Any]:
    """JSON-able columns, canonical (same graph → same snapshot, whatever its slot history)."""
    nodes = sorted(tg.adj)
    edges = sorted((min(tg.eu[e], tg.ev[e]), max(tg.eu[e], tg.ev[e]), e)
                   for e in range(len(tg.ek)) if tg.ek[e] >= 0)
    return {"version": VERSION, "next": tg._next,
            "nodes": {"id": nodes, "key": [tg.key[n] for n in nodes],
                      "label": [tg.label_of(n) for n in nodes]},
            "edges": {"u": [u for u, _, _ in edges], "v": [v for _, v, _ in edges],
                      "k": [tg.ek[e] for *_, e in edges], "f": [tg.ef[e] for *_, e in edges],
                      "l": [tg.el[e] for *_, e in edges], "n": [tg.en[e] for *_, e in edges]}}


def from_state(tg: TypedGraph, state: dict[str, Any]) -> None:
    check_version(state, "graph snapshot")
    tg.__init__()
    tg._next = state["next"]
    nd, ed = state["nodes"], state["edges"]
    for n, key, label in zip(nd["id"], nd["key"], nd["label"]):
        tg._put_node(n, key, label)
    tg.ek, tg.ef, tg.el = array("b", ed["k"]), array("q", ed["f"]), array("q", ed["l"])
    tg.en, tg.eu, tg.ev = array("i", ed["n"]), array("i", ed["u"]), array("i", ed["v"])
    tg._edges = len(tg.ek)
    _index_edges(tg)


def _index_edges(tg: TypedGraph) -> None:
    """Adjacency and day lists from the edge columns (after a restore)."""
    lists: dict[int, list[int]] = {}
    touched: dict[int, list[int]] = {}
    ek, eu, ev, el = tg.ek, tg.eu, tg.ev, tg.el
    for e in range(len(ek)):
        if ek[e] < 0:
            tg._free.append(e)
            continue
        u, v = eu[e], ev[e]
        lists.setdefault(u, []).append(v << 32 | e)
        lists.setdefault(v, []).append(u << 32 | e)
        touched.setdefault(el[e] // DAY, []).append(e)
    for n, ps in lists.items():
        ps.sort()
        tg.adj[n] = array("q", ps)
    tg._touched = {d: array("i", es) for d, es in sorted(touched.items())}

