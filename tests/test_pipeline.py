"""The in-process pipeline on hand-made records: linking, rules, fusion, one warning per case."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from engine.fusion import LevelCuts
from streams.codes import LEVEL_RANK, Level
from engine.pipeline import Pipeline
from rules.builtin import RepeatContact, default_detectors
from streams.detect import CaseContext, CaseEntry
from streams.ident import id_check_digit
from streams.privacy import Hasher
from streams.records import TZ
from streams.sources import decode_lines

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=TZ)
REGION = "629901001002"


def idn(seq: int) -> str:
    first = f"62990119800101{seq:03d}"
    return first + id_check_digit(first)


def call(rid, hours, text="邻里吵架", phone="13800138000", addr="和平路8号2单元301", region=REGION,
         **kw):
    d = {"kind": "call", "id": rid, "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
         "line": "110", "caller": {"phone": phone, "name": "王小明"}, "call_type": "dispute",
         "place": {"region_code": region, "address": addr}, "text": text}
    d.update(kw)
    return json.dumps(d, ensure_ascii=False)


def grid(rid, region=REGION):
    return json.dumps({"kind": "grid", "id": rid, "occurred_at": T0.isoformat(), "grid_id": rid,
                       "region_code": region})


def run(lines, pipeline=None):
    p = pipeline or Pipeline(Hasher(b"t" * 32), default_detectors())
    return p, p.process(list(decode_lines(lines)))


def test_one_warning_per_case_updated_as_versions():
    lines = [call("a", 0), call("b", 20), call("c", 30, "他扬言要拿刀砍人"),
             call("d", 40, "又来闹,说要同归于尽"), call("e", 44, "报警人称对方拿刀在门口"),
             call("f", 47, "对方又来砸门")]
    _, out = run(lines)
    assert len(out.warnings) >= 2, "threats plus repeat calls must raise and then update a warning"
    assert len({w.id for w in out.warnings}) == 1
    assert [w.version for w in out.warnings] == list(range(1, len(out.warnings) + 1))
    scores = [w.score for w in out.warnings]
    assert scores == sorted(scores) and scores[-1] > scores[0], "new threats raise the score"
    ranks = [LEVEL_RANK[w.level] for w in out.warnings]
    assert ranks == sorted(ranks), "an open warning's level never goes down"
    _, fewer = run(lines[:3])
    assert not fewer.warnings or fewer.warnings[-1].score < scores[-1]
    last = out.warnings[-1]
    assert "扬言" in last.explanation and "同归于尽" in last.explanation
    # no clear personal data in what is pushed
    dumped = last.model_dump_json()
    assert "13800138000" not in dumped and "王小明" not in dumped


def test_independent_precursors_add_up_to_red():
    kp = json.dumps({"kind": "key_person", "id": "k1", "occurred_at": T0.isoformat(),
                     "person": {"id_number": idn(9)}, "category": "severe_mental", "risk_level": 3,
                     "place": {"region_code": REGION}})
    failed = json.dumps({"kind": "grid_event", "id": "g1", "occurred_at": (T0 + timedelta(hours=2)).isoformat(),
                         "place": {"region_code": REGION, "address": "和平路8号2单元301"}, "grid_id": "G1",
                         "dispute_no": "D-9", "status": "mediation_failed", "mediation_attempts": 3,
                         "parties": [{"role": "respondent", "id_number": idn(9)}]}, ensure_ascii=False)
    _, one = run([call("a", 0, "对方扬言要拿刀砍人")])
    _, out = run([kp, call("a", 0, "对方扬言要拿刀砍人"), failed, call("b", 5, "又来了"),
                  call("c", 8, "说要同归于尽")])
    assert one.warnings == [] or LEVEL_RANK[one.warnings[-1].level] <= LEVEL_RANK[Level.YELLOW]
    assert out.warnings[-1].level == Level.RED
    rules = {r["rule_id"] for r in out.warnings[-1].reasons}
    assert {"threat_words", "mediation_failed", "key_person_party", "repeat_contact"} <= rules


def test_unrelated_cases_get_separate_warnings():
    _, out = run([call("a", 0, "扬言报复", phone="13800000001", addr="和平路1号"),
                  call("b", 1, "扬言报复", phone="13900000002", addr="建设街99号"),
                  call("c", 2, "拿刀要砍人,同归于尽", phone="13800000001", addr="和平路1号"),
                  call("d", 3, "拿刀要砍人,同归于尽", phone="13900000002", addr="建设街99号"),
                  call("e", 4, "又来砸门", phone="13800000001", addr="和平路1号"),
                  call("f", 5, "又来砸门", phone="13900000002", addr="建设街99号")])
    assert len({w.case_id for w in out.warnings}) == 2
    assert len({w.id for w in out.warnings}) == 2


def test_linking_by_registration_person_and_address():
    reg = {"kind": "grid_event", "id": "g", "occurred_at": (T0 + timedelta(hours=3)).isoformat(),
           "place": {"region_code": REGION, "address": "和平路1号"}, "grid_id": "G1",
           "dispute_no": "D-1", "dispute_kind": "neighbour",
           "parties": [{"role": "complainant", "phone": "13800000001"}]}
    visit = dict(reg, id="v", category="visit", occurred_at=(T0 + timedelta(hours=9)).isoformat(),
                 place={"region_code": REGION, "address": "别处"}, parties=[])
    other_reg = dict(reg, id="g2", dispute_no="D-2", occurred_at=(T0 + timedelta(hours=5)).isoformat())
    _, out = run([call("a", 0, phone="13800000001", addr="和平路1号"),     # calls first ...
                  call("b", 1, phone="13900000002", addr="建设街99号"),
                  json.dumps(reg, ensure_ascii=False),                    # ... then registered
                  json.dumps(other_reg, ensure_ascii=False),              # same people, new dispute
                  call("c", 6, phone="13900000002", addr="和平路1号"),     # phone and address disagree
                  json.dumps(visit, ensure_ascii=False)])                 # follow-up by number
    c = out.case_of
    assert c["g"] == c["a"], "a registration formalises the calls-only case of its party"
    assert c["g2"] != c["g"], "a new dispute number is a new case, even with the same people"
    assert c["b"] != c["a"]
    assert c["v"] == c["g"], "the dispute number wins over everything"
    assert c["c"] == c["b"], "a person (phone) beats an address"


def test_same_input_gives_same_outputs():
    lines = [call(f"r{i}", i * 5, "扬言要砍人" if i % 3 == 0 else "纠纷", phone=f"1380000000{i % 4}")
             for i in range(40)]
    _, a = run(lines)
    _, b = run(lines)
    assert [(w.id, w.version, w.score) for w in a.warnings] == [(w.id, w.version, w.score) for w in b.warnings]
    assert [s.id for s in a.signals] == [s.id for s in b.signals]


def test_unknown_region_rejected_once_registry_known_and_duplicates_skipped():
    _, out = run([grid("g1"), call("a", 0), call("a", 0), call("x", 1, region="629901002001")])
    assert [r.reason for r in out.rejects] == ["unknown_region"]
    assert out.rejects[0].field == "place.region_code"
    assert out.duplicates == 1
    assert [r.id for r in out.records] == ["g1", "a"]


def test_feedback_closes_the_warning():
    fb = json.dumps({"kind": "feedback", "id": "f1", "occurred_at": (T0 + timedelta(days=3)).isoformat(),
                     "record_id": "b", "outcome": "resolved"})
    _, out = run([call("a", 0, "扬言报复"), call("b", 1, "拿刀要同归于尽"), call("c", 2, "又来砸门"), fb])
    assert len(out.warnings) >= 2
    assert out.warnings[-1].state == "closed"
    assert out.warnings[-1].version == out.warnings[-2].version + 1


def test_key_person_among_parties():
    kp = json.dumps({"kind": "key_person", "id": "k1", "occurred_at": T0.isoformat(),
                     "person": {"id_number": idn(5), "role": "subject"},
                     "category": "community_correction", "risk_level": 3,
                     "place": {"region_code": REGION}})
    ev = call("a", 1, "吵架", parties=[{"role": "respondent", "id_number": idn(5)}])
    _, out = run([kp, ev])
    rules = {s.rule_id: s for s in out.signals}
    assert "key_person_party" in rules
    assert "社区矫正人员" in rules["key_person_party"].reason
    assert idn(5) not in out.signals[0].model_dump_json()


def test_repeat_window_excludes_a_record_exactly_one_window_old():
    rule = RepeatContact(threshold=3, window=timedelta(days=7))
    at = T0 + timedelta(days=7)
    entries = [CaseEntry("x", "call", T0, "dispute"), CaseEntry("y", "call", T0 + timedelta(days=1), "dispute"),
               CaseEntry("z", "call", at, "dispute")]

    class Rec:
        id, kind, occurred_at = "z", "call", at
    assert rule.detect(Rec(), CaseContext("C", entries)) == []  # x is exactly 7 days old: outside
    entries[0] = entries[0]._replace(at=T0 + timedelta(seconds=1))
    assert len(rule.detect(Rec(), CaseContext("C", entries))) == 1


def test_level_cuts_must_be_ordered():
    with pytest.raises(ValidationError):
        LevelCuts(red=0.5, orange=0.7)
