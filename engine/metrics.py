"""Prometheus metrics, on a registry handed in (never the global one) so tests can read them.

Labels are bounded sets (stream kinds, reject reasons, levels, rule ids, detector classes, Kafka
topics and partitions): never personal data. docs/ops.md lists every metric, the alerts over
them (deploy/prometheus/alerts.yml) and the dashboard (deploy/grafana/dashboards/yujing.json).

Metrics defined elsewhere on the same registry: ``yujing_sla_breaches`` (engine/lifecycle.py)
and ``yujing_push_failures`` / ``yujing_push_dead_letters`` (sinks/webhook.py).

>>> m = Metrics()
>>> m.registry.get_sample_value("yujing_spool_batches")
0.0
>>> m.consumer_lag.labels("yujing.events", "3").set(42)
>>> m.registry.get_sample_value("yujing_consumer_lag", {"topic": "yujing.events", "partition": "3"})
42.0
"""
from __future__ import annotations

import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams import native

DETECTOR_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time):
        self.registry = r = registry or CollectorRegistry()
        self._clock = clock
        self.records_in = Counter("yujing_records_in", "Records accepted, by stream kind",
                                  ["stream"], registry=r)
        self.rejects = Counter("yujing_rejects", "Records rejected, by reason", ["reason"],
                               registry=r)
        self.duplicates = Counter("yujing_duplicates", "Records seen again and skipped", registry=r)
        self.late = Counter("yujing_late_records", "Records older than the watermark", registry=r)
        self.signals = Counter("yujing_signals", "Signals raised, by rule", ["rule"], registry=r)
        self.warnings = Counter("yujing_warnings", "Warning versions pushed, by level and state",
                                ["level", "state"], registry=r)
        self.push_latency = Histogram(
            "yujing_push_latency_seconds", "From a record's arrival to its warning's push",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.batch_seconds = Histogram(
            "yujing_pipeline_batch_seconds", "Pipeline time per batch",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.detector_seconds = Histogram(
            "yujing_detector_seconds", "Time one detector spent on one pipeline batch, by detector "
            "class", ["detector"], buckets=DETECTOR_BUCKETS, registry=r)
        self.sink_errors = Counter("yujing_sink_errors", "Failed writes to the store (retried)",
                                   registry=r)
        self.spool = Gauge("yujing_spool_batches", "Batches waiting in the store's on-disk spool "
                           "(a ClickHouse server that is down); always 0 for the embedded store",
                           registry=r)
        self.records_last_seen = Gauge(
            "yujing_records_last_seen_seconds", "Wall time (unix seconds) a record was last "
            "accepted; the process start until the first one", registry=r)
        self.records_last_seen.set(clock())
        self.consumer_lag = Gauge("yujing_consumer_lag", "Kafka messages not yet processed "
                                  "(partition end offset minus the worker's position), by topic "
                                  "and partition; Kafka workers only", ["topic", "partition"],
                                  registry=r)
        self.loop_lag = Histogram(
            "yujing_event_loop_lag_seconds", "How late the event loop woke a task that slept a "
            "fixed interval (a stalled loop delays every record waiting to be taken); Kafka "
            "workers only", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.open_cases = Gauge("yujing_open_cases", "Cases held in memory", registry=r)
        self.sse_clients = Gauge("yujing_sse_clients", "Console connections listening", registry=r)
        self.pack_version = Gauge("yujing_rule_pack_version", "Version of each rule pack in use",
                                  ["pack"], registry=r)
        self.event_time = Gauge("yujing_event_time_seconds",
                                "Event time of the newest record processed (unix seconds)", registry=r)
        # which code this process runs: a node at 0 links and evaluates rules ~1.2-1.5x slower
        self.compiled = Gauge("yujing_compiled", "1 when the case linker and the rule engine run "
                              "compiled by mypyc (streams/native.py), 0 as plain Python", registry=r)
        self.compiled.set(1.0 if native.compiled() else 0.0)

    def set_pack_versions(self, versions: dict[str, int]) -> None:
        for pack, version in versions.items():
            self.pack_version.labels(pack).set(version)

    def watch_spool(self, store: Any) -> None:
        """Read the spool size from ``store.spooled()`` at each scrape, if the store spools
        (``sinks.clickhouse_server.ServerStore``); otherwise the gauge stays 0.

        >>> class S:
        ...     def spooled(self): return 7
        >>> m = Metrics(); m.watch_spool(S())
        >>> m.registry.get_sample_value("yujing_spool_batches")
        7.0
        """
        spooled = getattr(store, "spooled", None)
        if callable(spooled):
            self.spool.set_function(lambda: float(spooled()))

    def observe(self, out) -> None:
        """Count one pipeline ``Outputs``."""
        for kind, n in out.by_kind.items():
            self.records_in.labels(kind).inc(n)
        if out.by_kind:
            self.records_last_seen.set(self._clock())
        for rj in out.rejects:
            self.rejects.labels(rj.reason).inc()
        if out.duplicates:
            self.duplicates.inc(out.duplicates)
        if out.late:
            self.late.inc(out.late)
        for s in out.signals:
            self.signals.labels(s.rule_id).inc()
        for w in out.warnings:
            self.warnings.labels(w.level.value, w.state).inc()
        for name, secs in getattr(out, "detector_seconds", {}).items():
            self.detector_seconds.labels(name).observe(secs)
