"""Unit tests of the engine's Prometheus metrics (engine/metrics.py, engine/worker_metrics.py):
read back with ``registry.get_sample_value``. Fakes only stand in for Faust's consumer and for
a spooling store; the pipeline, detectors and desk are the real ones."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from engine.app import prime_desk_metrics
from engine.lifecycle import open_desk
from engine.metrics import Metrics
from engine.pipeline import Pipeline
from engine.worker import store_write
from engine.worker_metrics import LagWatcher, partition_lag
from rules.builtin import default_detectors
from sinks.store import StoreBatch
from streams.errors import SinkUnavailable
from streams.privacy import Hasher
from streams.sources import decode_lines

from .test_pipeline import call, idn

PHONE, NAME = "13800138000", "王小明"
ROOT = Path(__file__).resolve().parents[1]


def routing_with_webhook(path: Path, url: str, name: str, centre: str = "620102000000") -> Path:
    """The default routing policy plus one webhook (for a centre's 12-digit region code)."""
    text = (ROOT / "sinks" / "routing.yaml").read_text(encoding="utf-8")
    assert "\nwebhooks: []" in text
    hook = (f"\nwebhooks:\n  - name: {name}\n    url: {url}\n    secret: 0123456789abcdef0123\n"
            f"    centre: '{centre}'")
    path.write_text(text.replace("\nwebhooks: []", hook), encoding="utf-8")
    return path


def lines():
    threat = [call(f"c{i}", i * 3, "扬言要拿刀砍人,同归于尽", phone=PHONE) for i in range(4)]
    kp = json.dumps({"kind": "key_person", "id": "k1", "occurred_at": "2026-05-01T08:00:00+08:00",
                     "person": {"id_number": idn(9), "name": NAME}, "category": "severe_mental",
                     "risk_level": 3, "place": {"region_code": "629901001002"}}, ensure_ascii=False)
    return [kp, *threat, "{not json", json.dumps({"kind": "nonsense", "id": "x"})]


def observed(clock=lambda: 1_000.0):
    m = Metrics(CollectorRegistry(), clock=clock)
    p = Pipeline(Hasher(b"t" * 32), default_detectors())
    out = p.process(list(decode_lines(lines())))
    m.observe(out)
    return m, out


def test_records_rejects_warnings_and_detector_time_per_batch():
    t = iter([10.0, 2_000.0])
    m, out = observed(clock=lambda: next(t))
    get = m.registry.get_sample_value
    assert get("yujing_records_in_total", {"stream": "call"}) == 4
    assert get("yujing_records_in_total", {"stream": "key_person"}) == 1
    reasons = {rj.reason for rj in out.rejects}
    assert len(out.rejects) == 2 and len(reasons) == 2
    for r in reasons:
        assert get("yujing_rejects_total", {"reason": r}) == 1
    assert out.warnings, "four threats on one phone must warn"
    for w in out.warnings:
        assert get("yujing_warnings_total", {"level": w.level.value, "state": w.state}) >= 1
    # one observation per detector per batch, timed around the detector's own calls
    assert get("yujing_detector_seconds_count", {"detector": "PackDetector"}) == 1
    assert 0 < get("yujing_detector_seconds_sum", {"detector": "PackDetector"}) < 5
    assert out.detector_seconds.keys() == {"PackDetector"}
    assert get("yujing_records_last_seen_seconds") == 2_000.0  # start 10.0, then this batch


def test_last_seen_stays_at_the_start_without_records():
    m = Metrics(CollectorRegistry(), clock=lambda: 123.0)
    p = Pipeline(Hasher(b"t" * 32), default_detectors())
    m.observe(p.process(list(decode_lines(["{broken"]))))
    assert m.registry.get_sample_value("yujing_records_last_seen_seconds") == 123.0
    assert m.registry.get_sample_value("yujing_rejects_total", {"reason": "malformed_json"}) == 1


def test_no_personal_data_in_any_label():
    m, _ = observed()
    values = {v for fam in m.registry.collect() for s in fam.samples for v in s.labels.values()}
    assert values, "labels were expected"
    for secret in (PHONE, NAME, idn(9), PHONE[-4:]):
        assert not any(secret in v for v in values), secret


def test_spool_gauge_reads_the_store_at_scrape_time():
    class Spooling:
        n = 0

        def spooled(self):
            return self.n
    store = Spooling()
    m = Metrics(CollectorRegistry())
    m.watch_spool(store)
    assert m.registry.get_sample_value("yujing_spool_batches") == 0
    store.n = 5
    assert m.registry.get_sample_value("yujing_spool_batches") == 5
    chdb_like = Metrics(CollectorRegistry())
    chdb_like.watch_spool(object())       # no spool: stays 0
    assert chdb_like.registry.get_sample_value("yujing_spool_batches") == 0


def test_desk_series_exist_at_zero_on_the_engine_registry(tmp_path, monkeypatch):
    routing_with_webhook(tmp_path / "routing.yaml", "http://127.0.0.1:9/h", "城关区综治中心")
    monkeypatch.delenv("YUJING_ROUTING_FILE", raising=False)
    m = Metrics(CollectorRegistry())
    desk = open_desk(tmp_path, m.registry)
    get = m.registry.get_sample_value
    assert get("yujing_sla_breaches_total", {"level": "red"}) is None
    prime_desk_metrics(desk)
    for level in ("red", "orange", "yellow", "blue"):
        assert get("yujing_sla_breaches_total", {"level": level}) == 0
    labels = {"channel": "webhook", "target": "城关区综治中心"}
    assert get("yujing_push_failures_total", labels) == 0
    desk.sender.failures.labels("webhook", "城关区综治中心").inc()
    assert get("yujing_push_failures_total", labels) == 1


def test_worker_store_waits_count_as_sink_errors():
    class Flaky:
        calls = 0

        def write(self, batch):
            self.calls += 1
            if self.calls < 3:
                raise SinkUnavailable("server down")
    engine = SimpleNamespace(counts={"store_waits": 0}, metrics=Metrics(CollectorRegistry()))
    p = Pipeline(Hasher(b"t" * 32), default_detectors())
    out = p.process(list(decode_lines(lines()[:2])))
    asyncio.run(store_write(Flaky(), StoreBatch(records=out.records), engine, base_delay=0.001))
    assert engine.metrics.registry.get_sample_value("yujing_sink_errors_total") == 2


@pytest.mark.parametrize("ends,pos,want", [
    ({0: 100, 1: 7}, {0: 40, 1: 7}, {0: 60, 1: 0}),
    ({0: 5}, {0: None}, {0: 5}),
    ({0: None, 1: 3}, {}, {1: 3}),
])
def test_partition_lag(ends, pos, want):
    assert partition_lag(ends, pos) == want


def test_lag_watcher_sets_and_removes_partitions():
    from collections import namedtuple
    TP = namedtuple("TP", "topic partition")   # as Faust's TP
    tp0, tp1 = TP("e", 0), TP("e", 1)
    other = TP(topic="registries", partition=0)

    class Consumer:
        assigned = {tp0, tp1, other}
        _committed_offset = {tp1: 30}

        def assignment(self):
            return self.assigned

        async def highwaters(self, *tps):
            return {tp: {0: 100, 1: 50}[tp.partition] for tp in tps}

    app = SimpleNamespace(consumer=Consumer())
    engine = SimpleNamespace(next_offset={0: 90})
    m = Metrics(CollectorRegistry())
    w = LagWatcher(app, engine, m, "e")
    assert asyncio.run(w.update()) == {0: 10, 1: 20}
    get = m.registry.get_sample_value
    assert get("yujing_consumer_lag", {"topic": "e", "partition": "0"}) == 10
    assert get("yujing_consumer_lag", {"topic": "e", "partition": "1"}) == 20
    assert get("yujing_consumer_lag", {"topic": "registries", "partition": "0"}) is None
    app.consumer.assigned = {tp0}          # partition 1 revoked
    engine.next_offset[0] = 100
    asyncio.run(w.update())
    assert get("yujing_consumer_lag", {"topic": "e", "partition": "0"}) == 0
    assert get("yujing_consumer_lag", {"topic": "e", "partition": "1"}) is None


def test_worker_cli_takes_a_metrics_port():
    from engine.cli_kafka import main
    with pytest.raises(SystemExit) as exc:
        main(["worker", "--metrics-port", "notaport"])
    assert exc.value.code == 2
