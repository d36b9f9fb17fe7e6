"""The compact graph store: edges and pruning, labels, slot reuse (flat memory), and versioned
snapshots (JSON-able and binary) that restore to the same features and the same next signals."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from benchmarks.bench_graph_scale import H, city, key_persons
from graph.detector import GraphDetector
from graph.snapshot import MAGIC
from graph.store import DAY, TypedGraph


def test_edges_count_first_last_and_prune_by_whole_days():
    g = TypedGraph()
    p, q = g.node("person", "id:p", "张某"), g.node("person", "id:q", "李某")
    c1, c2 = g.node("case", "C-1", "C-1"), g.node("case", "C-2", "C-2")
    g.link(p, c1, "party", 5 * DAY)
    g.link(c1, p, "party", 2 * DAY)          # an earlier record arriving late
    g.link(q, c1, "party", 9 * DAY + 10)
    g.link(q, c2, "party", 3 * DAY)
    assert g.edge(p, c1) == (0, 2 * DAY, 5 * DAY, 2)
    assert g.edge(p, q) is None and g.edge_kind(c1, q) == "party"
    assert list(g.neighbours(c1)) == [p, q] and list(g.neighbours(q, "case")) == [c1, c2]
    assert g.prune(6 * DAY) == 2     # p–c1 (day 5) and q–c2 (day 3) go, and with them p and C-2
    assert sorted(g.key[n] for n in g.adj) == ["C-1", "id:q"]
    assert g.find("person", "id:p") is None and p not in g.kind
    assert g.stats() == {"nodes": 2, "edges": 1}


def test_labels_default_to_the_key_and_display_the_kind_when_none():
    g = TypedGraph()
    a = g.node("address", "620102003000:张掖路12号", "张掖路12号")
    c = g.node("case", "C-1", "C-1")
    bare = g.node("camera", "CAM-1")
    assert (g.display(a), g.display(c), g.display(bare)) == ("张掖路12号", "C-1", "camera")
    assert a not in g.label and c not in g.label           # nothing stored for defaults
    g.node("address", "620102003000:张掖路12号", "别名")
    assert g.display(a) == "别名" and g.kind[a] == "address"


def test_pruned_edge_slots_are_reused():
    g = TypedGraph()
    for day in range(60):
        c = g.node("case", f"C-{day}", f"C-{day}")
        for i in range(50):
            g.link(g.node("person", f"id:{day}-{i}", "张某"), c, "party", day * DAY)
        g.prune((day - 10) * DAY)
    assert g.stats()["edges"] == 11 * 50
    assert len(g.ek) <= 12 * 50                             # not 60 * 50: slots came back
    assert len(g.adj) == 11 * 51


def _feed(d, items):
    sigs, last = [], None
    for rec, ctx in items:
        if last != rec.occurred_at.date():
            last = rec.occurred_at.date()
            d.advance(rec.occurred_at)
        sigs += d.detect(rec, ctx)
    return sigs


@pytest.fixture(scope="module")
def synthetic():
    key_persons(3000)
    items = list(city(3000, 150, 40, seed=4))
    cut = next(i for i, (r, _) in enumerate(items) if (r.occurred_at - items[0][0].occurred_at).days >= 30)
    return items[:cut], items[cut:]


@pytest.mark.parametrize("form", ["json", "binary"])
def test_restored_snapshot_gives_the_same_features_and_next_signals(synthetic, form):
    first, rest = synthetic
    d = GraphDetector(H, retention=timedelta(days=20))
    assert len(_feed(d, first)) > 20
    if form == "json":
        state = json.loads(json.dumps(d.snapshot()))
        r = GraphDetector(H, retention=timedelta(days=20))
        r.restore(state)
    else:
        r = GraphDetector(H, retention=timedelta(days=20))
        r.from_bytes(d.to_bytes())
    cases = sorted({c.case_id for _, c in first})
    assert [r.features(c) for c in cases] == [d.features(c) for c in cases]
    assert sum(1 for c in cases if d.features(c)) > 1000
    assert r.snapshot() == d.snapshot()
    nxt_d, nxt_r = _feed(d, rest), _feed(r, rest)
    assert len(nxt_d) > 10
    assert [s.model_dump() for s in nxt_r] == [s.model_dump() for s in nxt_d]
    assert r.snapshot() == d.snapshot()


def test_unknown_snapshot_versions_are_refused_with_a_clear_error(synthetic):
    d = GraphDetector(H)
    _feed(d, synthetic[0][:200])
    state = d.snapshot()
    with pytest.raises(ValueError, match="graph detector snapshot version 1 is not supported"):
        GraphDetector(H).restore({**state, "version": 1})
    with pytest.raises(ValueError, match="graph snapshot version 7"):
        GraphDetector(H).restore({**state, "graph": {**state["graph"], "version": 7}})
    blob = d.to_bytes()
    bumped = blob.replace(b'"format_version": 1', b'"format_version": 9', 1)
    with pytest.raises(ValueError, match="format version 9 is not supported"):
        GraphDetector(H).from_bytes(bumped)
    with pytest.raises(ValueError, match="bad magic"):
        GraphDetector(H).from_bytes(b"PK" + blob[len(MAGIC):])
    with pytest.raises(ValueError, match="graph detector snapshot version 3"):
        GraphDetector(H).from_bytes(blob.replace(b'"version": 2', b'"version": 3', 1))
