"""The relationship graph detector: patterns on hand-made records, snapshots, determinism,
pruning and privacy on a simulated city."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from engine.pipeline import Pipeline
from graph.detector import GraphDetector
from graph.explain import explain, render
from streams.detect import CaseContext, KeyPersonInfo
from streams.privacy import Hasher
from streams.records import TZ, GridEvent
from streams.simulate import SimConfig, simulate
from streams.sources import decode_lines

H = Hasher(b"graph-test-key-0123")
T0 = datetime(2026, 5, 1, 9, tzinfo=TZ)
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def pid(n: int) -> str:
    body = f"62010219800101{n:03d}"[:17]
    s = sum(int(c) * w for c, w in zip(body, W)) % 11
    return body + "10X98765432"[s]


def ev(rid, day, people, addr="张掖路12号3栋2单元301", kind="neighbour"):
    return GridEvent.model_validate({
        "id": rid, "occurred_at": T0 + timedelta(days=day), "grid_id": "G-1",
        "place": {"region_code": "620102003004", "address": addr}, "dispute_kind": kind,
        "parties": [{"name": name, "id_number": pid(n)} for name, n in people]})


def ctx(cid, rec, kps=None):
    return CaseContext(cid, [], key_persons=kps or {}, dispute_kind=rec.dispute_kind.value)


def run(d, cid, rec, kps=None):
    return [(s.rule_id, s.score) for s in d.detect(rec, ctx(cid, rec, kps))]


def test_repeat_pair_fires_on_a_second_case_days_later_only():
    d = GraphDetector(H)
    assert run(d, "C-1", ev("r1", 0, [("张三", 1), ("李四", 2)])) == []
    assert run(d, "C-2", ev("r2", 1, [("张三", 1), ("李四", 2)], "别处路1号")) == []  # a split story
    d2 = GraphDetector(H)
    run(d2, "C-1", ev("r1", 0, [("张三", 1), ("李四", 2)]))
    got = d2.detect(ev("r3", 10, [("张三", 1), ("李四", 2)], "别处路1号"),
                    ctx("C-3", ev("r3", 10, [])))
    assert [s.rule_id for s in got] == ["graph_repeat_pair"]
    assert [p.get("node") for p in got[0].evidence["path"]] == ["张某", None, "C-1", None, "李某"]
    assert run(d2, "C-4", ev("r4", 10, [("张三", 1), ("王五", 3)], "他处路9号")) == []  # new partner


def test_key_person_as_party_and_at_the_address():
    kp = {H(pid(9)): KeyPersonInfo("community_correction", 3)}
    d = GraphDetector(H)
    got = d.detect(ev("r1", 0, [("赵六", 9), ("钱七", 4)]), ctx("C-1", ev("x", 0, []), kp))
    assert [(s.rule_id, s.evidence["hops"]) for s in got] == [("graph_key_person", 1)]
    assert got[0].evidence["path"][-1]["node"] == "赵某(社区矫正人员)"
    got = d.detect(ev("r2", 2, [("孙八", 5)]), ctx("C-2", ev("x", 0, []), kp))   # same door
    assert [(s.rule_id, s.evidence["hops"]) for s in got] == [("graph_key_person", 2)]
    assert [p.get("edge") for p in got[0].evidence["path"]][1::2] == ["事发地址", "涉事地址"]
    assert run(d, "C-3", ev("r3", 2, [("周九", 6)], "远处路3号"), kp) == []


def test_grievance_group_forms_at_five_people_and_not_for_other_kinds():
    d = GraphDetector(H)
    site = "静宁路217号在建工地"
    fired = []
    for i in range(6):
        fired += run(d, f"C-{i // 2}", ev(f"w{i}", i, [(f"工人{i}", 20 + i)], site, "wages"), None)
    assert [r for r, _ in fired] == ["graph_grievance_group"]
    assert d.features("C-2")["grievance_group_size"] == 6
    d2 = GraphDetector(H)
    for i in range(6):
        assert run(d2, f"C-{i}", ev(f"n{i}", i, [(f"邻居{i}", 40 + i)], site)) == []


def test_each_hit_signals_once_per_case_and_a_new_key_still_does():
    # the patterns skip what the case has already signalled (``done``): only that
    kp = {H(pid(9)): KeyPersonInfo("community_correction", 3)}
    d = GraphDetector(H)
    assert run(d, "C-1", ev("r1", 0, [("赵六", 9)]), kp) == [("graph_key_person", 0.2)]
    assert run(d, "C-1", ev("r2", 1, [("赵六", 9)]), kp) == []
    assert run(d, "C-2", ev("r3", 2, [("赵六", 9)], "远处路3号"), kp) == [("graph_key_person", 0.2)]
    run(d, "C-5", ev("r4", 0, [("张三", 1), ("李四", 2)], "东岗路5号"))
    assert run(d, "C-6", ev("r5", 10, [("张三", 1), ("李四", 2)], "他处路9号")) == [
        ("graph_repeat_pair", 0.3)]
    assert run(d, "C-6", ev("r6", 11, [("张三", 1), ("赵六", 9)], "他处路9号"), kp) == [
        ("graph_key_person", 0.2)]   # the case has signalled something else: this still fires
    # a claim group: once at 5 people, again at 10, not in between
    g = GraphDetector(H)
    steps = [run(g, "C-9", ev(f"w{i}", i / 10, [(f"工人{i}", 100 + i)], "静宁路217号在建工地",
                              "wages")) for i in range(11)]
    assert [i for i, hits in enumerate(steps) if hits] == [4, 9]


def test_escalation_nearby_after_feedback():
    d = GraphDetector(H)
    run(d, "C-1", ev("r1", 0, [("张三", 1), ("李四", 2)]))
    assert run(d, "C-2", ev("r2", 1, [("张三", 1)], "别处路1号")) == []
    d.observe_outcome("C-1", "escalated_criminal", T0 + timedelta(days=2))
    assert d.features("C-2")["hops_to_escalated_case"] == 2
    assert run(d, "C-2", ev("r3", 3, [("张三", 1)], "别处路1号")) == [("graph_escalation_nearby", 0.3)]
    d.observe_outcome("C-9", "resolved", T0)
    assert run(d, "C-3", ev("r4", 3, [("王五", 3)], "他处路9号")) == []


@pytest.fixture(scope="module")
def city():
    cfg = SimConfig(days=12, seed=5, scale=0.4, noisy_names=True)
    lines, truth = [], []
    for line, entry in simulate(cfg):
        (lines.append(line) if line is not None else truth.append(entry))
    return lines, truth


def _play(lines, d=None):
    d = d or GraphDetector(H)
    p = Pipeline(H, [d])
    items = list(decode_lines(lines))
    sigs = [s for i in range(0, len(items), 500) for s in p.process(items[i:i + 500]).signals]
    return d, sigs


def test_deterministic_snapshot_round_trip_and_explain(city):
    lines, _ = city
    d, sigs = _play(lines)
    d2, sigs2 = _play(lines)
    assert [s.model_dump() for s in sigs] == [s.model_dump() for s in sigs2]
    assert {s.rule_id for s in sigs} >= {"graph_repeat_pair", "graph_key_person",
                                         "graph_grievance_group"}
    state = json.loads(json.dumps(d.snapshot()))
    r = GraphDetector(H)
    r.restore(state)
    cases = sorted({s.case_id for s in sigs})
    assert [r.features(c) for c in cases] == [d.features(c) for c in cases]
    assert r.snapshot() == d.snapshot()
    info = explain(state, cases[0])
    assert info["entities"] and cases[0] in render(info)


def test_no_clear_personal_data_in_signals(city):
    lines, _ = city
    _, sigs = _play(lines)
    clear = set()
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        for p in obj.get("parties", []) + [obj.get("caller") or {}, obj.get("matched") or {}]:
            clear.update(v for k, v in p.items() if k in ("name", "phone", "id_number")
                         and v and len(v) >= 2)
    text = "\n".join(s.model_dump_json() for s in sigs)
    leaks = [v for v in clear if v in text]
    assert not leaks, leaks[:5]


def test_pruning_keeps_the_graph_flat_and_recent_features_unchanged():
    cfg = SimConfig(days=75, seed=3, scale=0.15, duplicate_rate=0, late_rate=0, malformed_rate=0)
    lines = [ln for ln, _ in simulate(cfg) if ln is not None]
    short = GraphDetector(H, retention=timedelta(days=20))
    full = GraphDetector(H, retention=timedelta(days=10000))
    p1, p2 = Pipeline(H, [short]), Pipeline(H, [full])
    items = list(decode_lines(lines))
    sizes = []
    for i in range(0, len(items), 1000):
        p1.process(items[i:i + 1000])
        p2.process(items[i:i + 1000])
        sizes.append(short.graph.stats()["nodes"])
    half = len(sizes) // 2
    assert max(sizes[half:]) < 1.35 * max(sizes[:half])
    assert full.graph.stats()["nodes"] > 1.15 * short.graph.stats()["nodes"]
    recent = {cid for cid, c in p1.linker.cases.items()
              if c.first_at > max(c.last_at for c in p1.linker.cases.values()) - timedelta(days=2)}
    assert recent
    same = sum(short.features(c)["distinct_parties"] == full.features(c)["distinct_parties"]
               for c in recent)
    assert same == len(recent)
