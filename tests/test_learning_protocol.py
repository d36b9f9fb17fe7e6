"""Conformance: every learning detector honours the detector protocol and the learning additions
(shape, determinism, snapshot/restore mid-stream, JSON state, no I/O, no wall clock)."""
from __future__ import annotations

import builtins
import json
import socket
import time
from dataclasses import replace

import pytest

from engine.pipeline import Pipeline as LearningPipeline
from learning import EscalationDetector, LearningDetector, RateAnomalyDetector, checkpoint
from streams.detect import Detector
from streams.privacy import Hasher
from streams.records import Signal
from streams.simulate import SimConfig, simulate
from streams.sources import decode_lines

FACTORIES = {"escalation": lambda: EscalationDetector(emit_min_p=0.0),
             "rates": lambda: RateAnomalyDetector(min_baseline_hours=24, alpha=0.05, min_count=2)}


class Recorder:
    """Records what the pipeline hands detectors, so a stream can be replayed to one directly."""
    name = "test.recorder"

    def __init__(self):
        self.calls: list = []

    def detect(self, record, case):
        self.calls.append(("detect", record, replace(case, entries=list(case.entries))))
        return []

    def advance(self, watermark):
        self.calls.append(("advance", watermark))
        return []

    def observe_outcome(self, case_id, outcome, at, record_id=None):
        self.calls.append(("outcome", case_id, outcome, at, record_id))

    def snapshot(self):
        return {}

    def restore(self, state):
        pass


@pytest.fixture(scope="module")
def calls():
    lines = [ln for ln, _ in simulate(SimConfig(days=6, seed=11, scale=0.3)) if ln is not None]
    rec = Recorder()
    LearningPipeline(Hasher(b"test-key-00000000"), [rec]).process(list(decode_lines(lines)))
    assert any(c[0] == "outcome" for c in rec.calls)
    return rec.calls


def play(det, calls):
    out = []
    for c in calls:
        if c[0] == "detect":
            out.extend(det.detect(c[1], c[2]))
        elif c[0] == "advance":
            out.extend(det.advance(c[1]))
        else:
            det.observe_outcome(*c[1:])
    return [s.model_dump_json() for s in out]


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_shape(kind):
    d = FACTORIES[kind]()
    assert isinstance(d, Detector) and isinstance(d, LearningDetector)
    assert isinstance(d.name, str) and d.name.startswith("learning.")


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_deterministic_and_signals_valid(kind, calls):
    a, b = play(FACTORIES[kind](), calls), play(FACTORIES[kind](), calls)
    assert a == b and a, "the same stream must give the same (non-empty) signals"
    for s in a:
        sig = Signal.model_validate_json(s)
        assert 0 <= sig.score <= 1 and sig.reason


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_snapshot_restore_mid_stream(kind, calls):
    whole = play(FACTORIES[kind](), calls)
    half = len(calls) // 2
    first = FACTORIES[kind]()
    head = play(first, calls[:half])
    state = json.loads(json.dumps(checkpoint.dump([first])))   # through JSON, as on disk
    second = FACTORIES[kind]()
    checkpoint.restore(state, [second])
    assert head + play(second, calls[half:]) == whole


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_no_io_no_clock(kind, calls, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a detector did I/O or read the clock")
    d = FACTORIES[kind]()
    for mod, attr in ((builtins, "open"), (socket, "socket"), (time, "time"), (time, "monotonic")):
        monkeypatch.setattr(mod, attr, boom)
    play(d, calls)


def test_checkpoint_file_round_trip(calls, tmp_path):
    a = EscalationDetector(emit_min_p=0.0)
    play(a, calls)
    path = checkpoint.save(tmp_path / "m.json", [a])
    b = EscalationDetector(emit_min_p=0.0)
    assert checkpoint.load(path, [b]) == [a.name]
    tail = [c for c in calls if c[0] == "detect"][-200:]
    assert [s.score for c in tail for s in a.detect(c[1], c[2])] == \
        [s.score for c in tail for s in b.detect(c[1], c[2])]
    doc = json.loads(path.read_text())
    doc["version"] = 99
    with pytest.raises(ValueError):
        checkpoint.restore(doc, [b])
