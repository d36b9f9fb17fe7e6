"""Case merges end to end (issue #3): the pipeline reports each merge with the linker's masked
reason, the store keeps them (``case_merges``, chDB and the real ClickHouse server via the
``store`` fixture), and the warning page's data follows them both ways: the survivor's timeline
takes the merged case's records, and the merged case's warning leads to the survivor.
The page itself in Chromium: tests/test_case_merges_browser.py."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from starlette.testclient import TestClient

from engine.metrics import Metrics
from engine.pipeline import Pipeline
from engine.web import make_app
from graph.cases import CaseMerge
from rules.builtin import default_detectors
from sinks.sse import SseHub
from sinks.store import StoreBatch
from streams.records import TZ, Call, Warning
from streams.sources import decode_lines

from .test_linker import H, _line, call, who

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=TZ)
CLEAR = ("张三", "李四", "王五", "赵六", "13800138000")


def test_pipeline_reports_merges_with_a_masked_reason():
    p = Pipeline(H, default_detectors())
    lines = [call("a", 0, who(1, "张三"), "东岗区甲路1号", parties=[who(2, "李四")]),
             call("b", 1, who(3, "王五"), "东岗区乙路2号", parties=[who(4, "赵六")]),
             call("x", 2, who(1, "张三"), "", parties=[who(2, "李四"), who(3, "王五"), who(4, "赵六")])]
    outs = [p.process(list(decode_lines([_line(r)]))) for r in lines]
    a, b = outs[0].case_of["a"], outs[1].case_of["b"]
    merges = outs[2].merges
    assert [(m.gone, m.into) for m in merges] == [(b, a)] and outs[2].merged == {b: a}
    m = merges[0]
    assert m.at == T0 + timedelta(hours=2) and "记录 x" in m.why and "身份证号" in m.why
    ids = [who(n, "x")["id_number"] for n in (1, 2, 3, 4)]
    assert not any(s in m.why for s in CLEAR + tuple(ids))


def _merges(p: str) -> list[CaseMerge]:
    return [CaseMerge(f"{p}C-b", f"{p}C-a", T0 + timedelta(hours=1, milliseconds=250),
                      "记录 r-x 同时关联两案(依据:电话+住址),两案合并"),
            CaseMerge(f"{p}C-c", f"{p}C-a", T0 + timedelta(hours=2), "记录 r-y 同时关联两案(依据:身份证号),两案合并"),
            CaseMerge(f"{p}C-d", f"{p}C-c", T0 + timedelta(minutes=30), "记录 r-z 同时关联两案(依据:身份证号),两案合并")]


def test_case_merges_round_trip(store):
    p = f"m{uuid.uuid4().hex[:6]}-"
    store.write(StoreBatch(merged=_merges(p)))
    store.write(StoreBatch(merged=_merges(p)[:1]))  # a replayed write adds nothing
    store.flush()
    for start in ("C-a", "C-b", "C-d"):  # from any case of the group: all of it, oldest first
        rows = store.case_merges(p + start)
        assert [(r["gone"], r["into"]) for r in rows] == [(p + "C-d", p + "C-c"), (p + "C-b", p + "C-a"),
                                                          (p + "C-c", p + "C-a")]
    row = store.case_merges(p + "C-b")[1]
    assert abs(row["at"] - (T0 + timedelta(hours=1))) < timedelta(seconds=1)  # 18.16: whole seconds
    assert row["at"].utcoffset() == timedelta(hours=8)
    assert row["why"] == "记录 r-x 同时关联两案(依据:电话+住址),两案合并"
    assert store.case_merges(p + "C-none") == []


def _call(rid: str, case_minutes: int) -> Call:
    return Call.model_validate({"id": rid, "occurred_at": (T0 + timedelta(minutes=case_minutes)).isoformat(),
                                "line": "110", "call_type": "dispute", "text": f"{rid} 邻居吵架",
                                "caller": {"name": "张三", "phone": "13800138000"},
                                "place": {"region_code": "629901001002", "address": "和平路8号"}})


def _warning(wid: str, case_id: str, version: int, state: str, rids: list[str], reasons=()) -> Warning:
    return Warning(id=wid, version=version, case_id=case_id, level="orange", score=0.6,
                   region_code="629901001002", address="和平路8号", dispute_kind="neighbour",
                   title="邻里纠纷", explanation="说明", state=state, first_at=T0,
                   updated_at=T0 + timedelta(minutes=10 * version),
                   reasons=[{"rule_id": "threat_words", "score": 0.4}, *reasons], record_ids=rids)


def seed_merged(store, p: str) -> None:
    """Two cases, ``C-b`` merged into ``C-a``: each had a warning; the merged one is closed with
    the ``merged`` reason (engine/warning_book.py)."""
    a, b = p + "C-a", p + "C-b"
    recs = [_call(p + "R-a1", 0), _call(p + "R-b1", 5), _call(p + "R-a2", 20)]
    ws = [_warning(p + "W-a", a, 1, "new", [p + "R-a1"]),
          _warning(p + "W-b", b, 1, "new", [p + "R-b1"]),
          _warning(p + "W-b", b, 2, "closed", [p + "R-b1"], [{"rule_id": "merged", "case_id": a}])]
    store.write(StoreBatch(records=recs, warnings=ws,
                           record_cases={p + "R-a1": a, p + "R-b1": b, p + "R-a2": a},
                           merged=[CaseMerge(b, a, T0 + timedelta(minutes=20),
                                             "记录 R-a2 同时关联两案(依据:电话+住址),两案合并")]))
    store.flush()


def test_warning_page_data_follows_merges(store):
    p = f"w{uuid.uuid4().hex[:6]}-"
    seed_merged(store, p)
    client = TestClient(make_app(store, SseHub(), Metrics(), lambda: {}))
    survivor = client.get(f"/api/warnings/{p}W-a?full=1").json()
    m = survivor["merges"]
    assert m["survivor"] == p + "C-a" and m["cases"] == [p + "C-a", p + "C-b"] and "merged_into" not in m
    assert m["lines"][0]["text"].startswith(f"案件 {p}C-b 于 2026-05-01 09:20 并入案件 {p}C-a:记录 R-a2")
    assert not any(s in json.dumps(m, ensure_ascii=False) for s in CLEAR)
    ids = [it["record_id"] for it in survivor["timeline"] if it["type"] == "record"]
    assert ids == [p + "R-a1", p + "R-b1", p + "R-a2"]  # the merged case's record in time order
    old = client.get(f"/api/warnings/{p}W-b?full=1").json()
    assert old["merges"]["merged_into"] == {"case_id": p + "C-a", "warning_id": p + "W-a"}
    assert {it["record_id"] for it in old["timeline"] if it["type"] == "record"} == set(ids)
    alone = client.get(f"/api/warnings/{p}W-a").json()  # the list's light view reads no merges
    assert "merges" not in alone


def test_graph_explain_lists_merges(tmp_path):
    import subprocess
    import sys

    from graph.detector import GraphDetector
    from tests.test_cli import ROOT, YUJING
    data = tmp_path / "data"
    seed = ("import sys; from pathlib import Path; from sinks.chdb_store import ChdbStore;"
            "from tests.test_case_merges import seed_merged;"
            "s = ChdbStore(Path(sys.argv[1]) / 'chdb'); seed_merged(s, ''); s.close()")
    subprocess.run([sys.executable, "-c", seed, str(data)], cwd=ROOT, check=True, timeout=120)
    snap = tmp_path / "graph.json"
    snap.write_text(json.dumps(GraphDetector(H).snapshot(), ensure_ascii=False), encoding="utf-8")
    run = [*YUJING, "graph", "explain", "C-b", "--snapshot", str(snap)]
    out = subprocess.run([*run, "--data-dir", str(data)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "合并记录:" in out.stdout and "2026-05-01 09:20 案件 C-b 并入案件 C-a" in out.stdout
    assert "依据:电话+住址" in out.stdout and not any(s in out.stdout for s in CLEAR)
    assert subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=120).returncode == 1
