"""``graph.party_cases`` and ``graph.address_cases`` through the real pipeline: a rule an analyst
writes over them fires on the record whose person, or whose address, is known in other live
cases, not on the first sighting; the backtest's link-once tape replays the same counts."""
from __future__ import annotations

import json
from pathlib import Path

from engine import backtest_tape as bt
from engine.pipeline import Pipeline
from rules.detector import PackDetector
from rules.packs import load_packs
from streams.privacy import Hasher
from streams.sources import decode_lines

KEY = b"test-key-0000000"
PACK = """\
pack: test_link
title: 关联案件
owner: 测试
defaults:
  streams: [call, grid_event]
rules:
  - id: person_in_other_cases
    version: 1
    score: 0.3
    title: 当事人涉及其他案件
    description: 本条记录的当事人在其他在办案件中出现过。
    when: graph.party_cases >= 1
    reason: 当事人涉及其他在办案件
    tests:
      - records: [{text: 无}]
        fire: false
  - id: person_in_two_other_cases
    version: 1
    score: 0.3
    title: 当事人涉及两起以上其他案件
    description: 本条记录的当事人在两起以上其他在办案件中出现过。
    when: graph.party_cases >= 2
    reason: 当事人涉及两起以上其他在办案件
    tests:
      - records: [{text: 无}]
        fire: false
  - id: address_in_other_cases
    version: 1
    score: 0.3
    title: 同一地址多起案件
    description: 本条记录的地址在其他在办案件中出现过。
    when: graph.address_cases >= 2
    reason: 同一地址已有两起以上其他案件
    tests:
      - records: [{text: 无}]
        fire: false
"""


def call(i: int, day: int, name: str, phone: str, address: str, text: str) -> dict:
    return {"kind": "call", "id": f"RX-{i}", "occurred_at": f"2026-05-{day:02d}T10:00:00+08:00",
            "source": "110", "line": "110", "caller": {"role": "caller", "name": name, "phone": phone},
            "call_type": "dispute", "text": text, "disposition": "dispatched", "parties": [],
            "place": {"region_code": "629901001001", "address": address}}


def grid(i: int, day: int, no: str, parties: list[tuple[str, str]], address: str) -> dict:
    return {"kind": "grid_event", "id": f"GE-{i}", "occurred_at": f"2026-05-{day:02d}T15:00:00+08:00",
            "source": "grid", "grid_id": "629901001001-01", "dispute_no": no,
            "dispute_kind": "neighbour", "status": "reported", "text": "邻里纠纷登记",
            "parties": [{"role": "party", "name": n, "phone": p} for n, p in parties],
            "place": {"region_code": "629901001001", "address": address}}


# 王小明 is a party to two registered disputes with different people at different places (two
# cases); then he calls about a third matter: his person is known in both earlier cases.
# Three registered disputes at 庆阳路259号 with different people: the third sees two others there.
RECORDS = [
    grid(1, 1, "D-1", [("王小明", "13800138000"), ("李四", "13900139001")], "团结社区庆阳路12号"),
    grid(2, 2, "D-2", [("王小明", "13800138000"), ("赵六", "13900139002")], "团结社区张掖路8号"),
    call(3, 3, "王小明", "13800138000", "团结社区中山路100号", "又跟人吵起来了"),
    grid(4, 4, "D-4", [("孙一", "13700137001")], "团结社区庆阳路259号"),
    grid(5, 5, "D-5", [("周二", "13700137002")], "团结社区庆阳路259号"),
    grid(6, 6, "D-6", [("吴三", "13700137003")], "团结社区庆阳路259号"),
]


def detectors(tmp: Path) -> list:
    (tmp / "p.yaml").write_text(PACK, encoding="utf-8")
    ps = load_packs(tmp)
    assert not ps.errors, ps.errors
    return [PackDetector(ps.specs, tuning=ps.tuning())]


def items():
    return list(decode_lines([json.dumps(r, ensure_ascii=False) for r in RECORDS]))


def fired(out) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for s in out.signals:
        got.setdefault(s.rule_id, []).append(s.record_id)
    return got


def test_rules_read_other_cases_of_the_records_people_and_address(tmp_path):
    out = Pipeline(Hasher(KEY), detectors(tmp_path)).process(items())
    assert not out.rejects
    cases = {r: c for r, c in out.case_of.items()}
    assert len({cases["GE-1"], cases["GE-2"], cases["GE-4"], cases["GE-5"], cases["GE-6"]}) == 5
    got = fired(out)
    # GE-2 sees GE-1's case through 王小明; the call sees both; nobody else shares a person
    assert got["person_in_other_cases"] == ["GE-2", "RX-3"]
    assert got["person_in_two_other_cases"] == ["RX-3"]
    # the third registration at 庆阳路259号 sees the two before it
    assert got["address_in_other_cases"] == ["GE-6"]


def test_the_link_once_tape_replays_the_same_counts(tmp_path):
    full = Pipeline(Hasher(KEY), detectors(tmp_path)).process(items())
    tape = bt.record(items(), KEY)
    replay = bt.replay_pipeline(tape, detectors(tmp_path)).process(list(tape.items))
    assert fired(replay) == fired(full) and fired(full)
