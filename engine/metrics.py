"""Prometheus metrics, on a registry handed in (never the global one) so tests can read them.

Labels are bounded sets (stream kinds, reject reasons, levels, rule ids): never personal data.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
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
        self.sink_errors = Counter("yujing_sink_errors", "Failed writes to the store (retried)",
                                   registry=r)
        self.open_cases = Gauge("yujing_open_cases", "Cases held in memory", registry=r)
        self.sse_clients = Gauge("yujing_sse_clients", "Console connections listening", registry=r)
        self.pack_version = Gauge("yujing_rule_pack_version", "Version of each rule pack in use",
                                  ["pack"], registry=r)
        self.event_time = Gauge("yujing_event_time_seconds",
                                "Event time of the newest record processed (unix seconds)", registry=r)

    def set_pack_versions(self, versions: dict[str, int]) -> None:
        for pack, version in versions.items():
            self.pack_version.labels(pack).set(version)

    def observe(self, out) -> None:
        """Count one pipeline ``Outputs``."""
        for kind, n in out.by_kind.items():
            self.records_in.labels(kind).inc(n)
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
