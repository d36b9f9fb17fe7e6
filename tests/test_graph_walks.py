"""``graph.features.walk2`` (one walk towards several target sets, with a set-test shortcut when
nothing is near) against a plain one-target breadth-first search on random graphs with hubs."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from graph import features as F
from graph.store import NODE_KINDS, TypedGraph

HUB = 3   # small, so random graphs have hubs that walks reach but do not pass through


def plain_bfs(tg: TypedGraph, start: int, target: set[int], hops: int) -> list[int] | None:
    parent = {start: start}
    frontier = [start]
    for _ in range(hops):
        nxt = []
        for n in frontier:
            around = [p >> 32 for p in tg.adj[n]]   # node-id order
            if n != start and len(around) > HUB:
                continue
            for m in around:
                if m in parent:
                    continue
                parent[m] = n
                if m in target:
                    path = [m]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                nxt.append(m)
        frontier = nxt
    return None


graphs = st.tuples(
    st.lists(st.sampled_from(NODE_KINDS), min_size=2, max_size=14),
    st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13)), max_size=40),
    st.lists(st.integers(0, 13), max_size=4),
    st.lists(st.integers(0, 13), max_size=4),
    st.integers(0, 13),
)


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_walk2_finds_what_a_plain_bfs_finds(spec) -> None:
    kinds, edges, t1, t2, s = spec
    tg = TypedGraph()
    nodes = [tg.node(k, f"n{i}") for i, k in enumerate(kinds)]
    for u, v in edges:
        if u < len(nodes) and v < len(nodes):
            tg.link(nodes[u], nodes[v], "party", 0)
    start = nodes[s % len(nodes)]
    a = {nodes[i]: "x" for i in t1 if i < len(nodes)}          # a dict, as key persons are
    b = {nodes[i] for i in t2 if i < len(nodes)}                # a set
    old = F.HUB
    F.HUB = HUB
    try:
        got = F.walk2(tg, start, a, b)
    finally:
        F.HUB = old
    assert got == [plain_bfs(tg, start, set(a), 2), plain_bfs(tg, start, b, 2)]


def test_walk2_shortcut_leaves_no_path_behind() -> None:
    # case - person - address - key person: two hops from the address, three from the case
    tg = TypedGraph()
    c, p, ad, kp = (tg.node("case", "C"), tg.node("person", "p"), tg.node("address", "a"),
                    tg.node("person", "kp"))
    tg.link(c, p, "party", 0), tg.link(p, ad, "address", 0), tg.link(ad, kp, "address", 0)
    assert F.walk2(tg, c, {kp: "x"}) == [None]
    assert F.walk2(tg, p, {kp: "x"}) == [[p, ad, kp]]
    assert F.walk2(tg, c, {kp: "x"}, max_hops=3) == [[c, p, ad, kp]]
    assert F.walk2(tg, c, {c: "x"}) == [None]            # the start itself is never a target


claims = st.tuples(
    st.lists(st.sampled_from(NODE_KINDS), min_size=2, max_size=30),
    st.lists(st.tuples(st.integers(0, 29), st.sampled_from(("claim", "address", "party")),
                       st.integers(0, 5 * 86400)), max_size=40),
    st.integers(0, 40 * 86400),
    st.integers(1, 5),
)


@settings(max_examples=300, deadline=None)
@given(claims)
def test_claim_groups_read_off_the_packed_adjacency_match_a_plain_count(spec) -> None:
    # group_size and claimants read edge kinds straight from the packed adjacency: they must
    # count and pick exactly what the edge-by-edge reading (edge_kind, edge) gives
    kinds, edges, now, limit = spec
    tg = TypedGraph()
    anchor = tg.node("org", "s:某公司")
    nodes = [tg.node(k, f"n{i}") for i, k in enumerate(kinds)]
    for i, kind, ts in edges:
        if i < len(nodes):
            tg.link(nodes[i], anchor, kind, ts)
    people = [m for m in tg.neighbours(anchor, "person") if tg.edge_kind(anchor, m) == "claim"]
    window = 30 * 86400
    recent = [m for m in people if tg.edge(anchor, m)[2] > now - window]
    assert F.group_size(tg, anchor, now, window) == len(recent)
    assert F.claimants(tg, anchor, limit) == people[:limit]


def test_keyed_nodes_are_the_nodes_node_makes_and_store_no_label() -> None:
    a, b = TypedGraph(), TypedGraph()
    specs = [("case", "C-1", "C-1"), ("camera", "cam-9", "cam-9"),
             ("address", "620102003:张掖路12号", "张掖路12号"), ("org", "620102003:某公司", "某公司")]
    for kind, key, label in specs:
        assert a.keyed(kind, key) == b.node(kind, key, label)
        assert a.keyed(kind, key) == b.node(kind, key, label)   # again: the same node
    assert a.label == b.label == {}
    assert [a.display(n) for n in a.key] == [b.display(n) for n in b.key] == [s[2] for s in specs]
    # a key with NUL in it is the node of the key without (as node() stores it)
    assert a.keyed("case", "C-\x001") == a.keyed("case", "C-1") == b.node("case", "C-\x001")
