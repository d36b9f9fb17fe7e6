"""The shared closed-loop step (engine/acts_apply.py) and the worker's act records in log order
(engine/worker_acts.py), on a real pipeline over hand-made records (no servers: unit tests)."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from engine.acts_apply import apply_act
from engine.lifecycle import Act, ActionError, LastActs
from engine.pipeline import Pipeline
from engine.worker_acts import ActState, process
from rules.builtin import default_detectors
from streams.codec import decode, encode
from streams.errors import RecordRejected
from streams.privacy import Hasher
from streams.records import ActRecord
from streams.sources import decode_lines

from .test_pipeline import T0, call

THREATS = [call("a", 0), call("b", 20), call("c", 30, "他扬言要拿刀砍人"),
           call("d", 40, "又来闹,说要同归于尽"), call("e", 44, "报警人称对方拿刀在门口")]
MORE = call("f", 47, "对方又来砸门")   # updates the warning


def pipeline_with_warning():
    p = Pipeline(Hasher(b"t" * 32), default_detectors())
    out = p.process(list(decode_lines(THREATS)))
    assert out.warnings, "the threats must raise a warning"
    return p, out.warnings[-1]


def act_line(aid, w, action, version, hours, by="张三", **kw):
    rec = ActRecord(id=aid, occurred_at=T0 + timedelta(hours=hours), warning_id=w.id,
                    case_id=w.case_id, region_code=w.region_code, action=action, by=by,
                    version=version, **kw)
    return encode(rec)


def test_ack_is_the_next_version_and_new_evidence_builds_on_it():
    p, w = pipeline_with_warning()
    done = apply_act(p, Act(w.id, "ack", "张三", w.version), w, now=T0 + timedelta(hours=45))
    assert (done.warning.id, done.warning.version, done.warning.state) == (w.id, w.version + 1, "acknowledged")
    a = done.audit
    assert (a.action, a.from_state, a.to_state, a.by, a.version) == \
        ("ack", "new", "acknowledged", "张三", w.version + 1)
    assert done.outputs.warnings == [done.warning]
    more = p.process(list(decode_lines([MORE])))
    assert more.warnings, "more threats update the warning"
    nxt = more.warnings[-1]
    assert (nxt.id, nxt.version, nxt.state) == (w.id, w.version + 2, "acknowledged"), \
        "new evidence builds on the acted version and keeps its state"


def test_a_stale_version_names_who_acted_and_a_bad_move_is_refused():
    p, w = pipeline_with_warning()
    last = LastActs()
    done = apply_act(p, Act(w.id, "ack", "张三", w.version), w)
    last.note(done.audit)
    with pytest.raises(ActionError) as e:
        apply_act(p, Act(w.id, "ack", "李四", w.version), w, last=last.get(w.id))
    assert e.value.status == 409 and e.value.body["by"] == "张三" and "张三" in str(e.value)
    with pytest.raises(ActionError) as e:   # 处置 before 分流: the state does not allow it
        apply_act(p, Act(w.id, "handling", "李四", done.warning.version), done.warning)
    assert e.value.status == 409 and e.value.body["state"] == "acknowledged"
    with pytest.raises(ActionError) as e:
        apply_act(p, Act(w.id, "close", "李四", done.warning.version, outcome="done?"), done.warning)
    assert e.value.status == 422 and e.value.body["field"] == "outcome"


def test_close_feeds_a_feedback_through_the_pipeline_and_the_case_stays_closed():
    p, w0 = pipeline_with_warning()
    w = apply_act(p, Act(w0.id, "ack", "张三", w0.version), w0).warning
    done = apply_act(p, Act(w.id, "close", "王五", w.version, outcome="resolved",
                            note="已化解,当事人电话13800138000"), w, now=T0 + timedelta(hours=45))
    assert (done.warning.version, done.warning.state) == (w.version + 1, "closed")
    fb = [r for r in done.outputs.records if r.kind == "feedback"]
    assert len(fb) == 1 and (fb[0].warning_id, fb[0].case_id, fb[0].outcome.value, fb[0].by) == \
        (w.id, w.case_id, "resolved", "王五")
    assert "13800138000" not in fb[0].note + done.audit.note, "free text is masked"
    assert p.book.open_warning(w.case_id) is None
    more = p.process(list(decode_lines([MORE, call("g", 49, "对方又来砸门,扬言同归于尽")])))
    assert all(x.id != w.id for x in more.warnings), "a closed warning never takes a new version"


def test_close_without_the_book_closes_the_stored_version():
    _, w = pipeline_with_warning()
    w = w.model_copy(update={"state": "handling"})
    fresh = Pipeline(Hasher(b"t" * 32), default_detectors())   # a restart: the book is empty
    done = apply_act(fresh, Act(w.id, "close", "王五", w.version, outcome="false_alarm"), w)
    assert (done.warning.version, done.warning.state) == (w.version + 1, "closed")
    assert done.warning.reasons[-1] == {"rule_id": "feedback", "outcome": "false_alarm"}


def test_act_records_in_the_log_replay_to_the_same_state():
    _, w = pipeline_with_warning()
    v = w.version
    log = THREATS + [act_line("A-1", w, "ack", v, 45),
                     act_line("A-2", w, "ack", v, 45.5, by="李四"),          # stale: refused
                     act_line("A-3", w, "dispatch", v + 1, 46, unit="司法"),
                     act_line("A-4", w, "close", v + 2, 46.5, outcome="resolved"),
                     MORE,
                     act_line("A-5", w, "ack", v + 3, 48),                    # closed: refused
                     act_line("A-6", w.model_copy(update={"id": "W-none"}), "ack", 1, 48)]
    runs = []
    for _ in range(2):   # the live run and a rebuild from the same log
        p = Pipeline(Hasher(b"t" * 32), default_detectors())
        out = process(p, ActState(), list(decode_lines(log)))
        runs.append(out)
    a, b = runs
    assert [x.model_dump_json() for x in a.warnings] == [x.model_dump_json() for x in b.warnings]
    assert [x.id for x in a.audit] == [x.id for x in b.audit]
    ours = [x for x in a.warnings if x.id == w.id]
    assert [(x.version, x.state) for x in ours[-3:]] == \
        [(v + 1, "acknowledged"), (v + 2, "dispatched"), (v + 3, "closed")]
    assert [x.action for x in a.audit] == ["ack", "dispatch", "close"]
    assert {k: aid for k, (aid, _) in a.acted.items()} == \
        {(w.id, v + 1): "A-1", (w.id, v + 2): "A-3", (w.id, v + 3): "A-4"}
    refused = {it.record.id: (exc.status, exc.body.get("by")) for it, exc in a.refused}
    assert refused == {"A-2": (409, "张三"), "A-5": (409, None), "A-6": (404, None)}
    assert any(r.kind == "feedback" for r in a.records), "办结 leaves a Feedback to store"
    assert a.by_kind["act"] == 6


def test_an_act_record_is_validated_like_any_record():
    _, w = pipeline_with_warning()
    good = json.loads(act_line("A-1", w, "close", 3, 45, outcome="resolved"))
    assert decode(json.dumps(good)).kind == "act"
    for field, value, reason in (("action", "delete", "unknown_category"), ("version", 0, "bad_value"),
                                 ("region_code", "12", "bad_region_code"), ("outcome", "", "bad_value"),
                                 ("warning_id", None, "missing_field")):
        bad = dict(good)
        if value is None:
            del bad[field]
        else:
            bad[field] = value
        with pytest.raises(RecordRejected) as e:
            decode(json.dumps(bad))
        assert (e.value.field, e.value.reason) == (field, reason)


class _Store:
    """Takes audit writes (the console writes only audit rows itself)."""

    def __init__(self):
        self.batches = []

    def write(self, batch):
        self.batches.append(batch)


def test_the_console_matches_answers_by_act_id_and_audits_sla_breaches():
    from types import SimpleNamespace

    from engine.console_app import KafkaActs
    from engine.lifecycle import Desk
    from engine.worker_acts import act_headers, refusal_headers
    from sinks import routing
    from sinks.sse import SseHub
    from streams.sources import Item
    from streams.topics import Topics

    p, w = pipeline_with_warning()
    done = apply_act(p, Act(w.id, "ack", "张三", w.version), w)
    clock = [1000.0]
    desk = Desk(routing.load(), None, clock=lambda: clock[0])
    store, topics = _Store(), Topics("t")
    acts = KafkaActs(store, "unused:1", topics, desk, SseHub())

    def msg(topic, value, hdrs):
        return SimpleNamespace(topic=topic, partition=0, offset=0, value=value, headers=hdrs)

    async def go():
        loop = asyncio.get_running_loop()
        ok, no, other = loop.create_future(), loop.create_future(), loop.create_future()
        acts._waiting.update({"A-1": ok, "A-2": no, "A-3": other})
        acts._on_message(msg("t.warnings", w.model_dump_json().encode(), []))   # evidence: no act
        acts._on_message(msg("t.warnings", done.warning.model_dump_json().encode(),
                             act_headers("A-1", done.audit)))
        rec = decode(act_line("A-2", w, "ack", w.version, 45, by="李四"))
        refusal = ActionError(409, "预警已变化", version=w.version + 1, by="张三")
        acts._on_message(msg("t.dead-letters", b"{}", refusal_headers(Item(7, "{}", rec, None, "x"), refusal)))
        assert not other.done(), "an answer goes to its own act only"
        assert ok.result()["warning"]["version"] == w.version + 1
        assert ok.result()["audit"]["by"] == "张三"
        with pytest.raises(ActionError) as e:
            no.result()
        assert (e.value.status, e.value.body["by"], e.value.body["version"]) == (409, "张三", w.version + 1)
        # SLA: the new warning's clock runs in the console; the acked one's stopped
        fresh = w.model_copy(update={"id": "W-other", "state": "new"})
        acts._on_message(msg("t.warnings", fresh.model_dump_json().encode(), []))
        clock[0] += 10 * 24 * 3600
        assert [x.id for x in desk.tick()] == ["W-other"]
        await asyncio.sleep(0.2)   # the audit row is written in the background
    asyncio.run(go())
    audit = [a for b in store.batches for a in b.audit]
    assert [(a.warning_id, a.action, a.by) for a in audit] == [("W-other", "sla_breach", "系统")]
    assert acts.counts["acts_done"] == 1 and acts.counts["acts_refused"] == 1
