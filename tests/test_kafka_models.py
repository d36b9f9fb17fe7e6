"""The escalation model in the Kafka workers (engine/worker_models.py), on a real broker.

Feedback for a case reaches a worker and its partition's model learns it; the worker stops with
SIGTERM (snapshot of every partition held, shared checkpoint DATA_DIR/models/learning.json) and
starts again: the partition's model has learned that label exactly once — restored from the
snapshot, and again when every snapshot was tampered with (refused by its MAC, the partition
rebuilt by replaying the log over the pinned start, not over the worker's own checkpoint, which
would learn the label twice). Without a broker: where the workers' models start.
"""
from __future__ import annotations

import json
import signal
from datetime import timedelta

import pytest

from engine.worker_models import BASE, SAVED_BY, base_checkpoint

from .kafka_fixtures import wait_until, worker_process, yujing_kafka
from .test_pipeline import T0, call

pytestmark = pytest.mark.integration
CASE = [call("a", 0), call("b", 20), call("c", 30, "他扬言要拿刀砍人"),
        call("d", 40, "又来闹,说要同归于尽"), call("e", 44, "报警人称对方拿刀在门口")]
# a second case in the same place, still open (pending for the model) when the worker stops
OTHER = [call(f"q{n}", 45 + n, "楼上漏水又吵起来", phone="13900139000", addr="建设路1号1单元101")
         for n in (1, 2, 3)]


def feedback(rid: str, hours: float, record_id: str) -> str:
    return json.dumps({"kind": "feedback", "id": rid, "occurred_at": (T0 + timedelta(hours=hours)).isoformat(),
                       "record_id": record_id, "outcome": "escalated_criminal", "by": "派出所"},
                      ensure_ascii=False)


def reference_model(lines: list[str], data_dir) -> dict:
    """The escalation model of one uninterrupted in-process pipeline over ``lines`` (cold start),
    as its checkpoint holds it."""
    from engine.app import build_pipeline, learning_models
    from engine.config import load_settings
    from streams.sources import decode_lines
    p = build_pipeline(load_settings(data_dir=data_dir))
    p.process(list(decode_lines(lines, source="ref")))
    return json.loads(json.dumps(learning_models(p)[0].snapshot()))


def alive(data) -> dict:
    try:
        return json.loads((data / "worker.alive").read_text())
    except (OSError, ValueError):
        return {}


def test_worker_model_learns_and_keeps_it_over_restarts(kafka_broker, kafka_topics, tmp_path):
    bootstrap, data = kafka_broker.bootstrap, tmp_path / "w"
    args = ["--bootstrap", bootstrap, "--topic-prefix", kafka_topics.prefix, "--quiet"]

    def ingest(lines, name):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yujing_kafka("ingest", str(path), *args)

    def learned(log, *procs):
        """Wait for the worker to have processed every record so far; its models' updates."""
        wait_until(lambda: alive(data).get("items", 0) > 0 and alive(data)["model_updates"],
                   60, "the worker's heartbeat with its partitions' models", *procs, logs=[log])
        return {int(p): n for p, n in alive(data)["model_updates"].items() if n}

    first_lines = CASE + OTHER + [feedback("fb1", 50, "e")]   # learns from a-d
    ingest(first_lines, "case.jsonl")
    logs = [tmp_path / f"w{n}.log" for n in (1, 2, 3)]
    with worker_process(bootstrap, kafka_topics.prefix, data, logs[0], "--snapshot-every", "1") as wk:
        wait_until(lambda: any(alive(data).get("model_updates", {}).values()), 60,
                   "the feedback learned by a partition's model", wk, logs=logs[:1])
        first = {int(p): n for p, n in alive(data)["model_updates"].items() if n}
        wk.send_signal(signal.SIGTERM)
        assert wk.wait(30) == 0, logs[0].read_text()[-3000:]
    assert list(first.values()) == [1], f"one label, one partition's model: {first}"
    (part,) = first
    ck = json.loads((data / "models" / "learning.json").read_text())
    assert ck["meta"]["saved_by"] == SAVED_BY and ck["meta"]["partition"] == part
    assert ck["detectors"]["learning.escalation"]["updates"] == 1
    assert ck["detectors"]["learning.escalation"]["weights"], "a learned model has weights"
    folder = data / "snapshots" / kafka_topics.events / str(part)
    assert max(int(f.stem) for f in folder.glob("*.snap")) == ck["meta"]["offset"], \
        "the clean stop snapshots the partition where its state is"

    # restart: a new record of the case makes the worker rebuild the partition (from the snapshot)
    ingest([call("g", 60, "对方又来砸门,扬言同归于尽")], "later.jsonl")
    (data / "worker.alive").unlink()   # the heartbeat read next is the restarted worker's
    with worker_process(bootstrap, kafka_topics.prefix, data, logs[1]) as wk:
        wait_until(lambda: "state rebuilt" in logs[1].read_text(), 60, "the rebuild", wk, logs=logs[1:2])
        assert learned(logs[1], wk) == {part: 1}, "the restarted worker's model is not the learned one"
        wk.send_signal(signal.SIGTERM)
        assert wk.wait(30) == 0, logs[1].read_text()[-3000:]
    assert f"partition {part}: state rebuilt from" in logs[1].read_text()
    assert "(snapshot at offset" in logs[1].read_text(), logs[1].read_text()[-3000:]
    assert not (data / "models" / BASE).exists(), "a worker's own checkpoint is never its start"

    # every snapshot of the partition altered: refused by MAC, the worker rebuilds from offset 0
    snaps = sorted(folder.glob("*.snap"))
    for f in snaps:
        b = bytearray(f.read_bytes())
        b[-5] ^= 0x01
        f.write_bytes(bytes(b))
    last = [call("h", 62, "对方还在门口"), feedback("fb2", 63, "q3")]   # the open case labelled
    ingest(last, "later2.jsonl")
    (data / "worker.alive").unlink()
    with worker_process(bootstrap, kafka_topics.prefix, data, logs[2]) as wk:
        wait_until(lambda: "state rebuilt" in logs[2].read_text(), 60, "the rebuild", wk, logs=logs[2:])
        assert learned(logs[2], wk) == {part: 2}, "the rebuilt model lost or repeated a label"
        wk.send_signal(signal.SIGTERM)
        assert wk.wait(30) == 0, logs[2].read_text()[-3000:]
    # the model after a replay from offset 0 is the uninterrupted one's, to the last weight: a
    # replay over the worker's own checkpoint would have seen the open case's records twice
    want = reference_model(first_lines + [call("g", 60, "对方又来砸门,扬言同归于尽")] + last, tmp_path / "ref")
    got = json.loads((data / "models" / "learning.json").read_text())["detectors"]["learning.escalation"]
    assert got["updates"] == want["updates"] == 2
    assert got == want, "the rebuilt model differs from the uninterrupted run's"
    text = logs[2].read_text()
    assert text.count("MAC does not match") >= 1, text[-3000:]
    assert f"partition {part}: state rebuilt from" in text and "(no snapshot" in text


def test_workers_pin_where_their_models_start(tmp_path):
    """A checkpoint from `yujing run` is pinned (copied to worker-base.json) and stays the start
    after a worker overwrites learning.json; a worker's own checkpoint is never a start."""
    models = tmp_path / "models"
    models.mkdir()
    assert base_checkpoint(tmp_path) is None                       # nothing: cold
    (models / "learning.json").write_text(json.dumps({"meta": {"saved_by": SAVED_BY}}))
    assert base_checkpoint(tmp_path) is None                       # the workers' own: cold
    run = json.dumps({"format": "yujing.learning.checkpoint", "meta": {"saved_by": "yujing run"}})
    (models / "learning.json").write_text(run)
    assert base_checkpoint(tmp_path) == models / BASE
    (models / "learning.json").write_text(json.dumps({"meta": {"saved_by": SAVED_BY}}))
    assert base_checkpoint(tmp_path) == models / BASE and (models / BASE).read_text() == run
