"""Place features (graph/places.py) through the real pipeline: the site registry makes
``graph.near_school`` true for a key person's face match inside a school's radius in school
hours (校园周边), camera fights near a dispute count in ``graph.incidents_nearby``; both survive
a snapshot of the incidents; records without coordinates read false/0."""
from __future__ import annotations

import json

from engine.pipeline import Pipeline
from graph.places import Places
from rules.builtin import default_detectors
from streams.privacy import Hasher
from streams.sources import decode_lines

SCHOOL = (36.0700, 103.8543)
GRID = {"kind": "grid", "id": "GRID-1", "occurred_at": "2026-05-01T00:00:00+08:00",
        "grid_id": "629901001001-01", "name": "团结社区第1网格", "region_code": "629901001001"}
SITE = {"kind": "site", "id": "SITE-SCH-1", "occurred_at": "2026-05-01T00:00:00+08:00",
        "site_id": "SCH-1", "site_type": "school", "name": "团结实验小学", "radius_m": 200.0,
        "place": {"region_code": "629901001001", "address": "团结社区团结实验小学",
                  "lat": SCHOOL[0], "lon": SCHOOL[1]}}
KP = {"kind": "key_person", "id": "KP-1", "occurred_at": "2026-05-01T00:00:00+08:00",
      "person": {"role": "subject", "name": "李贵海", "phone": "13991222756",
                 "id_number": "629901199207034276"}, "category": "severe_mental", "risk_level": 3,
      "place": {"region_code": "629901001001", "address": "团结社区庆阳路259号6栋2单元1704室"}}


def face(i: int, at: str, lat: float, lon: float) -> dict:
    return {"kind": "video_alert", "id": f"XL-{i}", "occurred_at": at, "source": "xl",
            "camera_id": f"CAM-{i}", "alert_type": "face_match", "confidence": 0.95, "head_count": 1,
            "place": {"region_code": "629901001001", "address": "团结社区门口", "lat": lat, "lon": lon},
            "matched": KP["person"]}


def call(i: int, at: str, lat: float | None, lon: float | None) -> dict:
    place = {"region_code": "629901001001", "address": "团结社区庆阳路259号3栋2单元301室"}
    if lat is not None:
        place.update(lat=lat, lon=lon)
    return {"kind": "call", "id": f"RX-{i}", "occurred_at": at, "source": "110", "line": "110",
            "caller": {"role": "caller", "name": "王小明", "phone": "13800138000"},
            "call_type": "dispute", "place": place, "text": "邻居又吵起来了", "disposition": "dispatched",
            "parties": []}


def fight(i: int, at: str, lat: float, lon: float) -> dict:
    return {"kind": "video_alert", "id": f"XL-F{i}", "occurred_at": at, "source": "xl",
            "camera_id": f"CAM-F{i}", "alert_type": "fight", "confidence": 0.99, "head_count": 4,
            "place": {"region_code": "629901001001", "address": "团结社区庆阳路", "lat": lat, "lon": lon}}


def run(records: list[dict], pipe: Pipeline | None = None):
    pipe = pipe or Pipeline(Hasher(b"test-key-0000000"), default_detectors())
    out = pipe.process(list(decode_lines([json.dumps(r, ensure_ascii=False) for r in records])))
    assert not out.rejects, out.rejects
    return pipe, out


def test_key_person_near_a_school_in_school_hours():
    _, out = run([GRID, SITE, KP,
                  face(1, "2026-05-06T08:00:00+08:00", SCHOOL[0] + 0.001, SCHOOL[1]),   # ~111 m, Wed
                  face(2, "2026-05-07T08:00:00+08:00", SCHOOL[0] + 0.004, SCHOOL[1]),   # ~445 m
                  face(3, "2026-05-09T08:00:00+08:00", SCHOOL[0], SCHOOL[1])])          # Saturday
    hits = [s for s in out.signals if s.rule_id == "key_person_near_school"]
    assert [s.record_id for s in hits] == ["XL-1"]
    assert not hits[0].evidence.get("shadow")            # a live rule now: it reaches fusion
    assert "李贵海" not in json.dumps(hits[0].model_dump(mode="json"), ensure_ascii=False)


def test_no_site_registry_no_school():
    _, out = run([GRID, KP, face(1, "2026-05-06T08:00:00+08:00", SCHOOL[0], SCHOOL[1])])
    assert not [s for s in out.signals if s.rule_id == "key_person_near_school"]


def test_camera_fight_near_a_dispute_counts_for_a_day():
    near = (36.0690, 103.8500)
    pipe, out = run([GRID, fight(1, "2026-05-06T20:00:00+08:00", *near),
                     call(1, "2026-05-06T21:00:00+08:00", near[0] + 0.001, near[1]),
                     call(2, "2026-05-06T21:30:00+08:00", near[0] + 0.001, near[1])])
    hits = [s for s in out.signals if s.rule_id == "camera_incident_near_dispute"]
    assert [s.record_id for s in hits] == ["RX-2"] and hits[0].evidence.get("shadow")
    # a day and more later the fight no longer counts; a call without coordinates reads 0
    later = pipe.places.incidents_near(near[0], near[1], t=pipe.watermark.timestamp() + 2 * 86400)
    assert later == 0
    _, out2 = run([GRID, fight(1, "2026-05-06T20:00:00+08:00", *near),
                   call(1, "2026-05-06T21:00:00+08:00", None, None),
                   call(2, "2026-05-06T21:30:00+08:00", None, None)])
    assert not [s for s in out2.signals if s.rule_id == "camera_incident_near_dispute"]


def test_incidents_round_trip_and_are_pruned():
    p = Places()
    p.add_incident("fight", 36.07, 103.85, t=1_000.0)
    p.add_incident("gathering", 36.0701, 103.85, t=50_000.0)
    p.add_incident("loitering", 36.07, 103.85, t=50_000.0)     # not an incident that counts
    q = Places()
    q.restore(json.loads(json.dumps(p.snapshot())))
    assert q.incidents_near(36.07, 103.85, t=60_000.0) == p.incidents_near(36.07, 103.85, t=60_000.0) == 2
    q.prune(before=10_000.0)
    assert q.incidents_near(36.07, 103.85, t=60_000.0) == 1


def test_incident_index_agrees_with_a_scan_of_every_incident():
    """The cell index (time-sorted per cell, late alerts inserted in order, pruned) counts what a
    plain distance check over every kept incident counts, for random points and times."""
    import random

    import math

    from graph.places import INCIDENT_RADIUS_M, INCIDENT_WINDOW_S, M_PER_DEG, metres

    rng = random.Random(11)
    places, kept = Places(), []
    base = (36.06, 103.84)
    for step in range(3000):
        t = step * 60.0 + rng.uniform(-7200, 0)          # up to 2 h late, out of order
        la, lo = base[0] + rng.uniform(0, 0.02), base[1] + rng.uniform(0, 0.02)
        kind = rng.choice(["fight", "gathering", "face_match"])
        places.add_incident(kind, la, lo, t)
        if kind != "face_match":
            kept.append((t, la, lo))
        if step % 500 == 499:                              # prune as the pipeline does
            cut = t - 2 * INCIDENT_WINDOW_S
            places.prune(cut)
            kept = [k for k in kept if k[0] >= cut]
        if step % 3 == 0:
            qa, qo = base[0] + rng.uniform(0, 0.02), base[1] + rng.uniform(0, 0.02)
            want = sum(1 for ts, a, o in kept if t - INCIDENT_WINDOW_S < ts <= t
                       and metres(qa, qo, a, o) <= INCIDENT_RADIUS_M - 0.5)
            near_edge = sum(1 for ts, a, o in kept if t - INCIDENT_WINDOW_S < ts <= t
                            and abs(metres(qa, qo, a, o) - INCIDENT_RADIUS_M) < 0.5)
            got = places.incidents_near(qa, qo, t)
            assert want <= got <= want + near_edge, (step, got, want)
            # and exactly what the index's own distance test gives over every incident: the
            # cells it skips as wholly outside the radius held none inside it
            kx, r2 = math.cos(math.radians(qa)), (INCIDENT_RADIUS_M / M_PER_DEG) ** 2
            assert got == sum(1 for ts, a, o in kept if t - INCIDENT_WINDOW_S < ts <= t
                              and (a - qa) ** 2 + ((o - qo) * kx) ** 2 <= r2), step
    assert sum(len(q) for q in places._inc_cells.values()) == len(kept)
