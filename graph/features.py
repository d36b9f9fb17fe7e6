"""Graph features of a case (and of a person), the walks behind them, and their paths.

Walks are breadth-first in node-id order (deterministic, and the same after a restore) and
never pass *through* a hub (a node with more than ``HUB`` neighbours, e.g. a busy crossroads
named in hundreds of calls): a hub is reached but not expanded, so a query stays cheap and a
shared street corner does not make strangers neighbours.

Features of ``features(graph, case)`` (see docs/graph.md):

- ``distinct_parties``: people linked to the case;
- ``repeat_pairs``: pairs of the case's people who are also parties together in another case;
- ``hops_to_key_person``: shortest hops from the case to a 重点人员 (1 = a party, 2 = at the
  case's address or sharing a phone with a party, ...; None beyond ``MAX_HOPS``);
- ``hops_to_escalated_case``: hops to another case the centre reported as escalated
  (2 = shares a person or an address);
- ``grievance_group_size``: the most distinct people making a wages / land-requisition claim
  against the case's organisation or site within ``GROUP_WINDOW``.
"""
from __future__ import annotations

from typing import Any, Callable

from .store import DAY, EDGE_KINDS, EDGE_LABEL, PERSON, SLOT_MASK, TypedGraph

HUB = 200
MAX_HOPS = 4
GROUP_WINDOW = 30 * DAY
CLAIM = EDGE_KINDS.index("claim")


class _Goal:
    """A predicate as a target set, so ``bfs`` is ``walk2`` with one target."""

    __slots__ = ("test",)

    def __init__(self, test: Callable[[int], bool]):
        self.test = test

    def __contains__(self, n: int) -> bool:
        return self.test(n)

    def __bool__(self) -> bool:
        return True


def bfs(tg: TypedGraph, start: int, goal: Callable[[int], bool],
        max_hops: int = MAX_HOPS) -> list[int] | None:
    """The shortest node path from ``start`` to the first node meeting ``goal`` (not start)."""
    return walk2(tg, start, _Goal(goal), max_hops=max_hops)[0]


def _maybe_near(adj: dict, start: int, targets: list[Any]) -> bool:
    """False when no target is within two hops of ``start`` by ``walk2``'s rules (hubs are not
    expanded); True may be wrong (``start`` itself is not excluded, a ``_Goal`` is not a set), so
    the walk decides then."""
    sets = []
    for t in targets:
        if isinstance(t, dict):
            sets.append(t.keys())
        elif isinstance(t, (set, frozenset)):
            sets.append(t)
        else:
            return True
    ring = [p >> 32 for p in adj[start]]
    for s in sets:
        if not s.isdisjoint(ring):
            return True
    for n in ring:
        a = adj[n]
        if len(a) > HUB:
            continue
        further = [p >> 32 for p in a]
        for s in sets:
            if not s.isdisjoint(further):
                return True
    return False


def walk2(tg: TypedGraph, start: int, *targets: Any, max_hops: int = 2) -> list[list[int] | None]:
    """``bfs`` towards several target sets at once (``n in target``): per target, the same path
    ``bfs(tg, start, lambda n: n in target, max_hops)`` gives, from one walk.

    >>> from graph.store import TypedGraph
    >>> g = TypedGraph()
    >>> c, p, q = g.node("case", "C"), g.node("person", "p"), g.node("person", "q")
    >>> g.link(c, p, "party", 0); g.link(c, q, "party", 0)
    >>> [[g.key[n] for n in path] if path else path for path in walk2(g, c, {q}, {}, {p, q})]
    [['C', 'q'], None, ['C', 'p']]
    """
    found: list[list[int] | None] = [None] * len(targets)
    todo = [i for i, t in enumerate(targets) if t]
    if not todo:
        return found
    if max_hops == 2 and not _maybe_near(tg.adj, start, [targets[i] for i in todo]):
        return found   # the usual answer, from set tests instead of the walk
    parent = {start: start}
    frontier = [start]
    adj = tg.adj
    for _ in range(max_hops):
        nxt = []
        for n in frontier:
            a = adj[n]
            if n != start and len(a) > HUB:
                continue
            for p in a:
                m = p >> 32
                if m in parent:
                    continue
                parent[m] = n
                for i in todo:
                    if m in targets[i]:
                        path = [m]
                        while path[-1] != start:
                            path.append(parent[path[-1]])
                        found[i] = path[::-1]
                        todo = [j for j in todo if j != i]
                if not todo:
                    return found
                nxt.append(m)
        frontier = nxt
    return found


def draw(tg: TypedGraph, path: list[int], tags: dict[int, str] | None = None) -> list[dict[str, str]]:
    """A node path as the console draws it: node, edge, node, ... (labels masked)."""
    out: list[dict[str, str]] = []
    for i, n in enumerate(path):
        if i:
            out.append({"edge": EDGE_LABEL[tg.edge_kind(path[i - 1], n)]})
        label = tg.display(n)
        if tags and n in tags:
            label += f"({tags[n]})"
        out.append({"node": label, "kind": tg.kind[n]})
    return out


def parties(tg: TypedGraph, case: int) -> list[int]:
    return tg.neighbours(case, "person")


def repeat_pairs(tg: TypedGraph, case: int, among: list[int] | None = None) -> list[tuple[int, int, int]]:
    """(p, q, other case) for pairs of this case's people who are parties together elsewhere."""
    mine = parties(tg, case)
    if len(mine) < 2:
        return []   # one party (a third of cases): no pair to look for
    probe = among if among is not None else mine
    mine_set = set(mine)
    out = []
    adj = tg.adj
    for p in probe:
        for other in tg.neighbours(p, "case"):
            if other == case or len(adj[other]) > HUB:
                continue
            for q in tg.neighbours(other, "person"):
                if q != p and q in mine_set and (q not in probe or p < q):
                    out.append((p, q, other))
    seen, uniq = set(), []
    for p, q, o in out:
        if (min(p, q), max(p, q)) not in seen:
            seen.add((min(p, q), max(p, q)))
            uniq.append((p, q, o))
    return uniq


def group_size(tg: TypedGraph, anchor: int, now: int, window: int = GROUP_WINDOW) -> int:
    """Distinct people with a claim edge to ``anchor`` seen within ``window`` before ``now``."""
    ek, el, since = tg.ek, tg.el, now - window
    # straight over the packed adjacency (neighbour << 32 | slot): a site's claim group is
    # counted for every wages record there
    return sum(1 for p in tg.adj[anchor]
               if ek[e := p & SLOT_MASK] == CLAIM and el[e] > since and (p >> 32) & 7 == PERSON)


def claimants(tg: TypedGraph, anchor: int, limit: int) -> list[int]:
    """The first ``limit`` people (in node-id order) with a claim edge to ``anchor``.

    >>> g = TypedGraph()
    >>> site, c = g.node("org", "s:某公司"), g.node("case", "C")
    >>> ps = [g.node("person", f"id:{i}") for i in range(4)]
    >>> for p in ps: g.link(p, site, "claim", 0)
    >>> g.link(c, site, "org", 0)
    >>> claimants(g, site, 3) == ps[:3], group_size(g, site, 0)
    (True, 4)
    """
    ek, out = tg.ek, []
    for p in tg.adj[anchor]:
        if (p >> 32) & 7 == PERSON and ek[p & SLOT_MASK] == CLAIM:
            out.append(p >> 32)
            if len(out) == limit:
                break
    return out


def anchors(tg: TypedGraph, case: int) -> list[int]:
    """The organisations (else sites) a case's claims are made against."""
    orgs = tg.neighbours(case, "org")
    return orgs or [a for a in tg.neighbours(case, "address")
                    if any(tg.ek[e] == CLAIM for _, e in tg.incident(a))]


def features(tg: TypedGraph, case: int, key_persons: dict[int, str], escalated: dict[int, int],
             now: int) -> dict[str, Any]:
    kp = bfs(tg, case, lambda n: n in key_persons)
    esc = bfs(tg, case, lambda n: n in escalated)
    groups = [group_size(tg, a, now) for a in anchors(tg, case)]
    return {"distinct_parties": len(parties(tg, case)),
            "repeat_pairs": len(repeat_pairs(tg, case)),
            "hops_to_key_person": len(kp) - 1 if kp else None,
            "hops_to_escalated_case": len(esc) - 1 if esc else None,
            "grievance_group_size": max(groups, default=0)}


def person_features(tg: TypedGraph, person: int, key_persons: dict[int, str]) -> dict[str, Any]:
    cases = tg.neighbours(person, "case")
    others = {q for c in cases for q in tg.neighbours(c, "person")} - {person}
    kp = bfs(tg, person, lambda n: n in key_persons and n != person)
    return {"cases": len(cases), "counterparts": len(others),
            "is_key_person": person in key_persons,
            "hops_to_key_person": 0 if person in key_persons else (len(kp) - 1 if kp else None)}
