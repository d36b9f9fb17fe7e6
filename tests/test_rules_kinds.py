"""Every rule kind on hand-made sequences: window edges, late and out-of-order records,
timers that fire exactly once, suppression on event time, shadow marking, snapshot/restore."""
from __future__ import annotations

import json
from datetime import timedelta

from rules.detector import PackDetector
from rules.kinds import RuleSpec
from rules.lang.compiler import compile_condition
from rules.testing import T0, build_record
from streams.detect import CaseContext

H = 3600.0
A, B, C = (compile_condition(f'text == "{x}"', ["call"]) for x in "abc")


def spec(kind, **kw):
    base = dict(id="r", version=1, title="测试", pack="t", kind=kind, score=0.5, streams=("call",))
    base.update(kw)
    return RuleSpec(**base)


class Driver:
    """Plays records as the pipeline does: advance(newest - lateness) then detect."""

    def __init__(self, *specs, lateness_h=6):
        self.det = PackDetector(specs, lateness=timedelta(hours=lateness_h))
        self.lateness = timedelta(hours=lateness_h)
        self.newest = None
        self.n = 0

    def rec(self, text, hours, case="C"):
        self.n += 1
        r, _, _ = build_record(self.n, {"text": text, "at": f"{'-' if hours < 0 else '+'}{abs(hours) * 60:g}m"})
        self.newest = r.occurred_at if self.newest is None else max(self.newest, r.occurred_at)
        out = self.det.advance(self.newest - self.lateness)
        return out + self.det.detect(r, CaseContext(case, [], frozenset(), frozenset(), frozenset()))

    def play(self, events):
        return [s.record_id for t, h in events for s in self.rec(t, h)]

    def advance(self, hours):
        return self.det.advance(T0 + timedelta(hours=hours))


def test_threshold_out_of_order_counts_as_in_order_but_late_is_dropped():
    s = spec("threshold", when=A, count=3, window=24 * H)
    assert Driver(s).play([("a", 0), ("a", 2), ("a", 1)]) == ["t3"]
    # the third record is 19 h older than the newest: past the 6 h lateness, windows stay shut
    assert Driver(s).play([("a", 0), ("a", 20), ("a", 1)]) == []
    assert Driver(s).det.late == 0
    d = Driver(s)
    d.play([("a", 0), ("a", 20), ("a", 1)])
    assert d.det.late == 1


def test_threshold_window_edge_and_state_after_firing():
    s = spec("threshold", when=A, count=2, window=10 * H)
    assert Driver(s).play([("a", 0), ("a", 10)]) == []          # exactly W apart: outside
    assert Driver(s).play([("a", 0), ("a", 9.99)]) == ["t2"]
    # emptied after firing: the 3rd record alone does not fire again, the 4th does
    assert Driver(s).play([("a", 0), ("a", 1), ("a", 2), ("a", 3)]) == ["t2", "t4"]


def test_sequence_match_counts_and_negation():
    s = spec("sequence", steps=[A, B], window=10 * H)
    assert Driver(s).play([("a", 0), ("a", 1), ("a", 2), ("a", 3), ("a", 4), ("b", 5)]) == ["t6"]
    assert Driver(s).play([("a", 0), ("b", 1), ("a", 2), ("b", 3)]) == ["t2", "t4"]
    assert Driver(s).play([("a", 0), ("b", 1), ("b", 2)]) == ["t2"]     # B needs a fresh A
    assert Driver(s).play([("b", 0), ("a", 1)]) == []                   # order matters
    assert Driver(s).play([("a", 0), ("b", 10)]) == []                  # exactly T: outside
    neg = spec("sequence", steps=[A, B], window=10 * H, unless=C)
    assert Driver(neg).play([("a", 0), ("c", 1), ("b", 2)]) == []       # C between cancels
    assert Driver(neg).play([("c", 0), ("a", 1), ("b", 2)]) == ["t3"]   # C before A: no reach
    assert Driver(neg).play([("a", 0), ("c", 1), ("a", 2), ("b", 3)]) == ["t4"]  # only older A


def test_sequence_out_of_order_pairs_as_in_order():
    s = spec("sequence", steps=[A, B], window=10 * H)
    d = Driver(s)
    assert d.play([("b", 2), ("a", 1)]) == ["t1"]   # A arrives late (within lateness): B completes
    assert d.play([("b", 3)]) == []                  # consumed: no second match


def test_absence_fires_once_at_the_deadline():
    s = spec("absence", steps=[A, B], window=72 * H)
    d = Driver(s)
    d.play([("a", 0), ("a", 5)])                     # a second A does not start a second timer
    assert d.advance(71.99) == []
    sig = d.advance(72)
    assert [x.record_id for x in sig] == ["t1"] and sig[0].at == T0 + timedelta(hours=72)
    assert d.advance(100) == [] and d.advance(150) == []
    assert d.play([("a", 200)]) == []               # a new A after firing starts a new timer
    assert [x.record_id for x in d.advance(272)] == ["t3"]


def test_absence_timer_set_while_the_detector_sleeps_fires_at_its_deadline():
    # the detector skips rules until their ``wake`` (next sweep or timer); a timer started
    # after that was computed must still wake it at the deadline, not at the next sweep
    s = spec("absence", steps=[A, B], window=1 * H)
    d = Driver(s, lateness_h=0)
    assert d.advance(0) == []                        # no timers: the rule sleeps until its sweep
    d.play([("a", 0.5)])
    assert d.advance(1.49) == []
    assert [x.record_id for x in d.advance(1.5)] == ["t1"]
    assert d.advance(7) == []


def test_absence_cancel_edges():
    s = spec("absence", steps=[A, B], window=72 * H)
    d = Driver(s)
    d.play([("a", 0), ("b", 71)])
    assert d.advance(500) == []
    d = Driver(s)
    d.play([("a", 0), ("b", 72)])                    # B exactly at the deadline: too late
    assert len(d.advance(500)) == 1
    d = Driver(s)
    d.play([("b", 3), ("a", 1)])                     # B seen before its (out-of-order) A
    assert d.advance(500) == []


def test_absence_timer_survives_snapshot_and_fires_once():
    s = spec("absence", steps=[A, B], window=72 * H)
    d = Driver(s)
    d.play([("a", 0)])
    state = json.loads(json.dumps(d.det.snapshot()))
    d2 = Driver(s)
    d2.det.restore(state)
    assert len(d2.advance(80)) == 1 and d2.advance(90) == []
    changed = spec("absence", steps=[A, B], window=72 * H, version=2)
    d3 = Driver(changed)
    d3.det.restore(state)                            # a changed rule starts from empty state
    assert d3.advance(80) == []


def test_threshold_state_round_trips():
    s = spec("threshold", when=A, count=3, window=24 * H)
    d = Driver(s)
    d.play([("a", 0), ("a", 1)])
    d2 = Driver(s)
    d2.det.restore(json.loads(json.dumps(d.det.snapshot())))
    assert d2.play([("a", 2)]) == ["t1"]            # (the new driver numbers from t1)


def test_spike_against_own_baseline():
    s = spec("spike", when=A, count=3, bucket=24 * H, baseline=3, factor=2.0, floor=1.0, key="region:9")
    d = Driver(s)
    # 2 a day for 3 days: baseline 2, a day needs 4 (2x) -> the 4th record of day 3 fires, once
    ev = [("a", 24 * day + h) for day in range(3) for h in (1, 2)]
    assert d.play(ev) == []
    assert d.play([("a", 73), ("a", 74), ("a", 75)]) == []
    assert d.play([("a", 76)]) == ["t10"]
    assert d.play([("a", 77), ("a", 78)]) == []      # once per bucket


def test_suppression_runs_on_event_time_per_key():
    s = spec("match", when=A, suppress=H)
    assert Driver(s).play([("a", 0), ("a", 59 / 60), ("a", 1)]) == ["t1", "t3"]
    assert Driver(s).play([("a", 1), ("a", 0.5)]) == ["t1"]     # out of order, still within 1 h
    d = Driver(s)
    out = [x.record_id for x in d.rec("a", 0, case="X") + d.rec("a", 0.1, case="Y")]
    assert out == ["t1", "t2"]                                   # the key is the case


def test_shadow_signals_are_marked():
    live, shadow = spec("match", when=A), spec("match", when=A, id="s", shadow=True)
    sig = {x.rule_id: x for x in Driver(live, shadow).rec("a", 0)}
    assert sig["s"].evidence.get("shadow") is True
    assert "shadow" not in sig["r"].evidence


def test_only_rules_of_the_record_stream_run():
    g = spec("match", when=compile_condition('status == "mediation_failed"', ["grid_event"]),
             streams=("grid_event",))
    d = PackDetector([g])
    assert d.by_stream.keys() == {"grid_event"}
    assert Driver(g).play([("a", 0)]) == []


def test_same_records_same_signals():
    s = [spec("threshold", when=A, count=2, window=24 * H), spec("sequence", id="q", steps=[A, B], window=H * 5)]
    ev = [("a", 0), ("b", 1), ("a", 3), ("a", 2), ("b", 4)]
    one, two = Driver(*s), Driver(*s)
    assert [x.id for t, h in ev for x in one.rec(t, h)] == [x.id for t, h in ev for x in two.rec(t, h)]
