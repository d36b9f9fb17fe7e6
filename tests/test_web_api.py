"""The console's JSON API over a real store (chDB and the ClickHouse server, via the ``store``
fixture), served in-process by Starlette's TestClient: list filters, sorting, paging and counts,
422 naming the parameter, jurisdiction (404 + audit outside it, masked records), the analysts'
figures and the saved backtest reports."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from engine.auth import Viewer
from engine.metrics import Metrics
from engine.web import make_app
from engine.web_warning import case_graph
from sinks.sse import SseHub
from sinks.store import StoreBatch
from streams.records import TZ, Call, Feedback, Signal, Warning

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=TZ)
LEVELS = ("red", "orange", "yellow", "blue")
N = 40


def _warning(i: int, version: int = 1, state: str = "new") -> Warning:
    return Warning(id=f"W-{i:03d}", version=version, case_id=f"C-{i:03d}", level=LEVELS[i % 4],
                   score=round(0.5 + i / 100, 2), region_code=f"6299010{i % 2 + 1:02d}{i % 5:03d}",
                   dispute_kind="neighbour" if i % 3 == 0 else "wages", title=f"预警{i}",
                   explanation="说明", state=state, first_at=T0,
                   updated_at=T0 + timedelta(minutes=i, seconds=version),
                   reasons=[{"rule_id": "threat_words" if i % 2 else "repeat_contact", "score": 0.4}],
                   record_ids=[f"R-{i:03d}"])


@pytest.fixture(scope="module")
def seeded(store):
    ws = [_warning(i) for i in range(N)]
    ws += [_warning(i, 2, "closed" if i % 4 == 0 else "acknowledged") for i in range(0, N, 2)]
    calls = [Call.model_validate({"id": f"R-{i:03d}", "occurred_at": (T0 + timedelta(minutes=i)).isoformat(),
                                  "line": "110", "call_type": "dispute", "text": f"王小明(13800138000)说第{i}次",
                                  "caller": {"name": "王小明", "phone": "13800138000"},
                                  "place": {"region_code": ws[i].region_code, "address": "和平路8号"}})
             for i in range(N)]
    sig = [Signal(id=f"S-{i:03d}", detector="rules.packs", rule_id=w.reasons[0]["rule_id"], rule_version=1,
                  case_id=w.case_id, record_id=f"R-{i:03d}", score=0.4, reason="理由",
                  evidence={}, at=T0 + timedelta(minutes=i)) for i, w in enumerate(ws[:N])]
    sig.append(Signal(id="S-shadow", detector="rules.packs", rule_id="key_person_near_school", rule_version=1,
                      case_id="C-001", record_id="R-001", score=0.4, reason="影子", evidence={"shadow": True},
                      at=T0))
    fb = [Feedback(id=f"FB-{i}", occurred_at=T0 + timedelta(hours=2), case_id=f"C-{i:03d}",
                   outcome="escalated_criminal" if i % 8 == 0 else "resolved") for i in range(0, N, 4)]
    store.write(StoreBatch(warnings=ws, records=calls + fb, signals=sig,
                           record_cases={c.id: f"C-{int(c.id[2:]):03d}" for c in calls}))
    store.flush()
    return store


def _client(store, tmp_path=None, viewer: Viewer | None = None, audit: list | None = None) -> TestClient:
    app = make_app(store, SseHub(), Metrics(), lambda: {}, data_dir=tmp_path)

    async def with_viewer(scope, receive, send):  # what engine/gate.py's middleware does
        if viewer is not None:
            scope["yujing.viewer"] = viewer
        if audit is not None:
            scope["yujing.audit"] = lambda *a: audit.append(a)
        await app(scope, receive, send)
    return TestClient(with_viewer)


def _ids(client, query: str) -> list[str]:
    r = client.get("/api/warning-list?" + query)
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()["rows"]]


@pytest.mark.parametrize("query, field", [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("offset=-1", "offset"), ("level=purple", "level"),
    ("state=gone", "state"), ("sort=name", "sort"), ("order=up", "order"), ("region=62a", "region"),
    ("kind=feud", "kind"), ("rule=DROP%20TABLE", "rule"), ("from=yesterday", "from"),
    ("from=2026-05-02T00:00&to=2026-05-01T00:00", "to")])
def test_bad_parameters_answer_422_naming_them(seeded, query, field):
    client = _client(seeded)
    for path in ("/api/warning-list", "/api/warnings"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 422 and r.json()["field"] == field, (path, r.text)


def test_filters_sorting_paging_and_counts(seeded):
    client = _client(seeded)
    latest = {i: (2 if i % 2 == 0 else 1) for i in range(N)}
    state = {i: ("closed" if i % 4 == 0 else "acknowledged") if i % 2 == 0 else "new" for i in range(N)}
    page = client.get("/api/warning-list?limit=7").json()
    assert page["total"] == N and len(page["rows"]) == 7
    assert page["by_level"] == {lv: N // 4 for lv in LEVELS}
    assert page["rows"][0]["version"] == latest[int(page["rows"][0]["id"][2:])]
    # default sort: updated_at, newest first; paging walks the whole list without repeats
    seen = []
    for off in range(0, N, 7):
        seen += _ids(client, f"limit=7&offset={off}")
    assert seen == [f"W-{i:03d}" for i in range(N - 1, -1, -1)]
    assert _ids(client, "order=asc&limit=3") == ["W-000", "W-001", "W-002"]
    assert _ids(client, "sort=score&limit=2") == ["W-039", "W-038"]
    lv = _ids(client, "sort=level&limit=50")
    assert [int(x[2:]) % 4 for x in lv] == sorted((i % 4 for i in range(N)))  # red first
    # filters, each against what was written
    assert set(_ids(client, "state=open&limit=500")) == {f"W-{i:03d}" for i in range(N) if state[i] != "closed"}
    assert set(_ids(client, "state=closed,new&limit=500")) == {f"W-{i:03d}" for i in range(N) if state[i] != "acknowledged"}
    assert set(_ids(client, "region=629901002000&limit=500")) == {f"W-{i:03d}" for i in range(N) if i % 10 == 5}
    assert set(_ids(client, "kind=neighbour&limit=500")) == {f"W-{i:03d}" for i in range(N) if i % 3 == 0}
    assert set(_ids(client, "rule=threat_words&limit=500")) == {f"W-{i:03d}" for i in range(N) if i % 2}
    frm, to = (T0 + timedelta(minutes=10)).isoformat(), (T0 + timedelta(minutes=14, seconds=59)).isoformat()
    r = client.get("/api/warning-list", params={"from": frm, "to": to, "level": "red,blue"}).json()
    assert {w["id"] for w in r["rows"]} == {f"W-{i:03d}" for i in range(10, 15) if i % 4 in (0, 3)}
    assert r["total"] == len(r["rows"]) and sum(r["by_level"].values()) == 5  # counts ignore level
    assert "explanation" not in r["rows"][0] and r["rows"][0]["rules"]
    bare = client.get("/api/warnings?limit=3")
    assert bare.headers["x-total-count"] == str(N) and "explanation" in bare.json()[0]


def test_jurisdiction_filters_lists_and_hides_other_warnings(seeded):
    audit: list = []
    v = Viewer("li", "李社区", "duty", "629901002", "社区")
    client = _client(seeded, viewer=v, audit=audit)
    mine = {f"W-{i:03d}" for i in range(N) if i % 2}
    assert set(_ids(client, "limit=500")) == mine
    assert set(_ids(client, "region=6299&limit=500")) == mine, "a wider filter is narrowed"
    assert set(_ids(client, "region=629901002000&limit=500")) == {f"W-{i:03d}" for i in range(N) if i % 10 == 5}
    assert _ids(client, "region=629901001") == [], "a region outside matches nothing"
    other = next(f"W-{i:03d}" for i in range(N) if f"W-{i:03d}" not in mine)
    r = client.get(f"/api/warnings/{other}?full=1")
    assert r.status_code == 404 and r.json() == client.get("/api/warnings/W-none").json()
    assert [(a[0], a[2]) for a in audit] == [("denied", other)]
    summary = client.get("/api/summary").json()
    assert summary["open"] == len([w for w in mine if int(w[2:]) % 4 != 0])


def test_full_warning_masks_records_and_builds_timeline_and_graph(seeded):
    client = _client(seeded)
    d = client.get("/api/warnings/W-003?full=1").json()
    text = json.dumps(d, ensure_ascii=False)
    assert "13800138000" not in text and "王小明" not in text
    rec = [x for x in d["timeline"] if x["type"] == "record"]
    assert [x["record_id"] for x in rec] == ["R-003"] and "138****8000" in rec[0]["text"]
    assert rec[0]["signals"][0]["rule_id"] == "threat_words"
    cats = sorted(n["category"] for n in d["graph"]["nodes"])
    assert cats == ["人员", "地址", "案件", "电话"]
    assert d["sla"]["status"] == "none"  # no desk in this app: no clock


def test_graph_evidence_paths_join_the_case_graph():
    recs = [{"id": "r1", "kind": "call", "body": {"caller": {"name": "王小明", "phone": "13800138000"}}}]
    sig = [{"rule_id": "graph_repeat_pair", "reason": "x", "evidence": {"path": [
        {"node": "王某某", "kind": "person"}, {"edge": "当事人"}, {"node": "C-9", "kind": "case"}]}}]
    g = case_graph("C-1", recs, sig)
    names = {n["name"]: n["id"] for n in g["nodes"]}
    assert set(names) == {"C-1", "王某某", "138****8000", "C-9"}, "the masked person is one node"
    assert {(lk["source"], lk["target"]) for lk in g["links"] if lk["label"] == "当事人"} >= {
        tuple(sorted((names["王某某"], names["C-9"])))}
    assert g["paths"][0]["rule_id"] == "graph_repeat_pair"


def test_rule_stats_precision_from_feedback(seeded):
    client = _client(seeded)
    d = client.get("/api/analyst/rules").json()
    rows = {r["rule_id"]: r for r in d["windows"]["7"]["live"]}
    # repeat_contact fired on the even cases; every 4th has feedback, every 8th 民转刑
    rc = rows["repeat_contact"]
    assert (rc["cases"], rc["judged"], rc["confirmed"]) == (N // 2, N // 4, N // 8)
    assert rc["precision"] == round((N // 8) / (N // 4), 3)
    assert rows["threat_words"]["judged"] == 0 and rows["threat_words"]["precision"] is None
    assert [r["rule_id"] for r in d["windows"]["30"]["shadow"]] == ["key_person_near_school"]
    assert d["until"].startswith("2026-05-01T09:39")


def test_backtest_reports_are_listed_and_served(seeded, tmp_path):
    (tmp_path / "backtests").mkdir()
    (tmp_path / "backtests" / "a.json").write_text(json.dumps(
        {"level": "blue", "input": {"records": 9}, "overall": {"blue": {"warned_cases": 2}}, "rules": {"x": {}}}))
    (tmp_path / "backtests" / "bad.json").write_text("{not json")
    (tmp_path / "secret.json").write_text("{}")
    client = _client(seeded, tmp_path)
    items = {b["name"]: b for b in client.get("/api/analyst/backtests").json()}
    assert items["a.json"]["overall"] == {"warned_cases": 2} and items["a.json"]["rules"] == 1
    assert "error" in items["bad.json"]
    assert client.get("/api/analyst/backtests/a.json").json()["input"] == {"records": 9}
    assert client.get("/api/analyst/backtests/..%2Fsecret.json").status_code == 404
    assert client.get("/api/analyst/backtests/nope.json").status_code == 404
