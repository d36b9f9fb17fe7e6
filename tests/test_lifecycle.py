"""The closed loop in process: state table, SLA timers on a fake clock, and the runner applying
acts against the real store on both back ends (chDB and a ClickHouse server)."""
from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from engine import lifecycle as lc
from engine.app import build_pipeline
from engine.config import Settings
from engine.metrics import Metrics
from engine.runner import Runner
from sinks.routing import parse
from streams.codes import Level
from streams.records import TZ, Warning
from streams.sources import decode_lines

from .test_pipeline import call, grid

STATES = ["new", "acknowledged", "dispatched", "handling", "closed"]
# (action, from state) pairs that are allowed; every other pair must be refused with 409
ALLOWED = {("ack", "new"), ("dispatch", "acknowledged"), ("dispatch", "dispatched"),
           ("handling", "dispatched"), ("close", "acknowledged"), ("close", "dispatched"),
           ("close", "handling")}
TO = {"ack": "acknowledged", "dispatch": "dispatched", "handling": "handling", "close": "closed"}
POLICY = parse("levels: {红: [区县, 街道], 橙: [区县], 黄: [街道], 蓝: [社区]}\n"
               "units: [公安, 司法]\nsla: {红: 10m, 橙: 30m, 黄: 2h, 蓝: 1d}\n")


def warning(state="new", version=3, level="red", wid="W-1") -> Warning:
    t = datetime(2026, 5, 1, 9, tzinfo=TZ)
    return Warning(id=wid, version=version, case_id="C-1", level=Level(level), score=0.9,
                   region_code="629901001004", title="t", explanation="e", state=state,
                   first_at=t, updated_at=t)


@pytest.mark.parametrize("action, state", list(itertools.product(TO, STATES)))
def test_state_machine_table(action, state):
    act = lc.Act("W-1", action, "张三", 3, unit="司法", outcome="resolved")
    if (action, state) in ALLOWED:
        assert lc.check(warning(state), act, POLICY) == TO[action]
    else:
        with pytest.raises(lc.ActionError) as err:
            lc.check(warning(state), act, POLICY)
        assert err.value.status == 409 and err.value.body["state"] == state


def test_stale_version_names_who_acted_and_bad_values_name_the_field():
    last = {"by": "李四", "action": "ack", "at": datetime(2026, 5, 1, 9, 30, 5, tzinfo=TZ)}
    with pytest.raises(lc.ActionError) as err:
        lc.check(warning("acknowledged", 4), lc.Act("W-1", "dispatch", "张三", 3, unit="司法"),
                 POLICY, last)
    assert err.value.status == 409 and err.value.body["by"] == "李四"
    assert "李四" in err.value.body["error"] and "签收" in err.value.body["error"]
    for act, fld in ((lc.Act("W-1", "dispatch", "z", 3, unit="消防"), "unit"),
                     (lc.Act("W-1", "close", "z", 3, outcome="done"), "outcome")):
        with pytest.raises(lc.ActionError) as err:
            lc.check(warning("acknowledged"), act, POLICY)
        assert (err.value.status, err.value.body["field"]) == (422, fld)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_sla_fires_once_and_stops_when_acknowledged():
    clock = Clock()
    sla = lc.SlaScheduler({"red": 600, "yellow": 7200}, clock)
    sla.track(warning(wid="W-a"))
    sla.track(warning(wid="W-b"))
    clock.t += 599
    assert sla.due() == []
    sla.track(warning("acknowledged", 4, wid="W-b"))  # 签收 in time: its timer stops
    clock.t += 2
    assert [w.id for w in sla.due()] == ["W-a"]
    clock.t += 10_000
    sla.track(warning(version=4, wid="W-a"))  # a new version while still unsigned: no re-arm
    assert sla.due() == [] and len(sla) == 0
    # a yellow raised to red while unsigned gets red's deadline from when it was first seen
    sla.track(warning(level="yellow", wid="W-c"))
    clock.t += 300
    sla.track(warning(level="red", version=4, wid="W-c"))
    clock.t += 301
    assert [w.id for w in sla.due()] == ["W-c"]


def test_desk_counts_a_breach_and_pushes_it_to_the_level_above():
    clock, got, reg = Clock(), [], CollectorRegistry()
    desk = lc.Desk(POLICY, None, publish=lambda e, d: got.append((e, d)), registry=reg,
                   clock=clock)
    desk.observe(warning(level="orange"))
    clock.t += 1801
    assert [w.id for w in desk.tick()] == ["W-1"]
    assert desk.tick() == []
    assert reg.get_sample_value("yujing_sla_breaches_total", {"level": "orange"}) == 1
    (event, data), = got
    assert event == "sla_breach"
    assert data["escalated_to"] == [{"level": "city", "region_code": "629900000000",
                                     "label": "市级综治中心(629900000000)"}]


# ---- the runner applying acts, against the store (both back ends) --------------------------------

def _lines(p):
    return [grid(p + "g"), call(p + "a", 0, "扬言要报复他", phone="13800138001"),
            call(p + "b", 1, "拿刀砍人", phone="13800138001"),
            call(p + "c", 2, "又来闹了,扬言同归于尽", phone="13800138001")]


def test_acts_version_audit_and_close_feeds_back_into_the_book(store, tmp_path):
    p = f"t{uuid.uuid4().hex[:6]}-"
    settings = Settings(data_dir=tmp_path, hash_key_file=None)
    runner = Runner(build_pipeline(settings), store, metrics=Metrics(),
                    desk=lc.Desk(POLICY, None, registry=CollectorRegistry()))

    async def go():
        stop = asyncio.Event()
        await runner.play(list(decode_lines(_lines(p))), stop)
        serving = asyncio.create_task(runner.serve_inbox(stop))
        w = next(x for x in store.latest_warnings(50) if x["case_id"] and
                 set(x["record_ids"]) & {p + "a", p + "b"})
        wid, v = w["id"], w["version"]
        results = await asyncio.gather(
            runner.act(lc.Act(wid, "ack", "张三", v)), runner.act(lc.Act(wid, "ack", "李四", v)),
            return_exceptions=True)
        with pytest.raises(lc.ActionError) as missing:
            await runner.act(lc.Act("W-nope", "ack", "张三", 1))
        r = await runner.act(lc.Act(wid, "dispatch", "张三", v + 1, unit="司法"))
        r = await runner.act(lc.Act(wid, "handling", "王五", r["warning"]["version"]))
        r = await runner.act(lc.Act(wid, "close", "王五", r["warning"]["version"],
                                    outcome="mediation_failed", note="联系13912345678未果"))
        stop.set()
        await serving
        return w, results, missing.value, r

    w, results, missing, closed = asyncio.run(go())
    ok, lost = results
    assert ok["warning"]["state"] == "acknowledged" and ok["warning"]["version"] == w["version"] + 1
    assert isinstance(lost, lc.ActionError) and lost.status == 409 and lost.body["by"] == "张三"
    assert missing.status == 404
    assert runner.pipeline.book.open_warning(w["case_id"]) is None, "the book closed the case"
    hist = store.warning_history(w["id"])
    assert [h["state"] for h in hist[-4:]] == ["acknowledged", "dispatched", "handling", "closed"]
    assert [h["version"] for h in hist] == list(range(1, len(hist) + 1))
    assert next(x for x in store.latest_warnings(500) if x["id"] == w["id"])["state"] == "closed"
    fb = store.query(f"SELECT warning_id, case_id, outcome, by, note FROM {store.db}.feedback FINAL"
                     f" WHERE warning_id = {{w:String}}", {"w": w["id"]})
    assert fb == [{"warning_id": w["id"], "case_id": w["case_id"], "outcome": "mediation_failed",
                   "by": "王五", "note": "联系139****5678未果"}]
    audit = store.audit_of(w["id"])
    assert [(a["action"], a["from_state"], a["to_state"], a["by"], a["version"]) for a in audit] == [
        ("ack", "new", "acknowledged", "张三", w["version"] + 1),
        ("dispatch", "acknowledged", "dispatched", "张三", w["version"] + 2),
        ("handling", "dispatched", "handling", "王五", w["version"] + 3),
        ("close", "handling", "closed", "王五", w["version"] + 4)]
    assert audit[1]["unit"] == "司法" and audit[3]["outcome"] == "mediation_failed"
    assert "13912345678" not in audit[3]["note"]
    assert isinstance(audit[0]["at"], datetime) and audit[0]["at"].tzinfo is not None
