"""``yujing ingest``: publish a file (or the synthetic city) to Kafka, validated and keyed.

Every line is decoded first. A good registry record (grid, key person, camera, site) goes to the
compacted registries topic keyed ``kind:id``; an event record or feedback goes to the events
topic keyed by its 区县 (district) or 街道 (subdistrict) code (``key_level``, see
streams/topics.py), on the partition Kafka's Java client would choose for that key. A line that does not decode goes to the dead-letter topic whole, with the reason in
headers, and publishing goes on. Publishing is batched (``linger_ms``), idempotent and
``acks=all``; an optional rate limit paces it; a progress line goes to stderr. Every record
message carries header ``yujing-body: codec``: its value is ``streams.codec.encode``'s text of
the record, which the worker stores as the record's body as is (no second serialisation).

Feedback names a record or a case, not a place: it goes to the partition of the record it names
when this run published that record, otherwise to every partition (header
``yujing-broadcast: 1``; the worker holding the case applies it, the others find no such case).
"""
from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any, Callable, Iterable, TextIO

from streams.codec import Reject, encode
from streams.errors import SinkError
from streams.sources import Item
from streams.topics import (
    BODY_CODEC, DEFAULT_PARTITIONS, H_BODY, H_BROADCAST, H_DETAIL, H_FIELD, H_KIND, H_LINE, H_RECORD_ID, H_REASON,
    DEFAULT_KEY_LEVEL, H_SOURCE, H_STAGE, H_SUBDISTRICT, KEY_LEVELS, Topics, event_key, headers,
    partition_for, registry_key, route, subdistrict_key,
)


class SlowTaskNoise(logging.Filter):
    """Drops kafka-python's "Task ... ran for 0.198s (>0.100s threshold). It is blocking the
    event loop" warnings. Its network thread times each step in wall time, and while ``ingest``
    validates records in this thread that step waits for the GIL: a month of records printed
    a dozen such warnings, none of them actionable (kafka-python 3's producer has no setting
    for the threshold). Every other message of that logger still shows.

    >>> import logging
    >>> f = SlowTaskNoise()
    >>> f.filter(logging.makeLogRecord({"msg": "Task %r ran for %.3fs (>%.3fs threshold). It is "
    ...                                        "blocking the event loop", "args": ("t", 0.2, 0.1)}))
    False
    >>> f.filter(logging.makeLogRecord({"msg": "Task %s left RUNNING after step", "args": ("t",)}))
    True
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "blocking the event loop" not in str(record.msg)


_NOISE = SlowTaskNoise()


def producer(bootstrap: str, **overrides: Any):
    """A kafka-python producer set for bulk ingest: batched, idempotent, acks from all replicas."""
    from kafka import KafkaProducer
    sel = logging.getLogger("kafka.net.selector")
    if _NOISE not in sel.filters:
        sel.addFilter(_NOISE)
    conf = dict(bootstrap_servers=bootstrap, client_id="yujing-ingest", acks="all",
                enable_idempotence=True,   # retries keep per-partition order, no duplicates
                linger_ms=20, batch_size=256 * 1024, max_request_size=2 * 1024 * 1024,
                request_timeout_ms=30000)
    conf.update(overrides)
    return KafkaProducer(**conf)


def dead_letter_headers(rej: Reject, stage: str) -> list[tuple[str, bytes]]:
    return headers(**{H_REASON: rej.reason, H_FIELD: rej.field, H_DETAIL: rej.detail[:500],
                      H_SOURCE: rej.source, H_LINE: rej.line, H_RECORD_ID: rej.record_id or None,
                      H_STAGE: stage})


class RateLimit:
    """At most ``rate`` sends a second, measured from the start (no burst after a pause)."""

    def __init__(self, rate: float | None):
        self.rate = rate if rate and rate > 0 else None
        self.t0 = time.monotonic()

    def wait(self, n: int) -> None:
        if self.rate is None:
            return
        ahead = self.t0 + n / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


class Router:
    """Where an event record or feedback goes: ``(key, partitions)``; key None = broadcast
    (feedback naming a record this router did not route: every partition). Shared by ``Ingest``,
    the tests' in-process reference and the cross-partition measurement (benchmarks/kafka_cross.py).

    >>> from types import SimpleNamespace as NS
    >>> r = Router(8, "district")
    >>> r.target(NS(kind="call", id="c1", place=NS(region_code="629901001002")))
    ('629901000000', [6])
    >>> r.target(NS(kind="feedback", id="f1", record_id="c1", place=None))   # c1's partition
    ('629901000000', [6])
    >>> r.target(NS(kind="feedback", id="f2", record_id="other", place=None))[1] == list(range(8))
    True
    """

    def __init__(self, partitions: int, key_level: str = DEFAULT_KEY_LEVEL):
        if key_level not in KEY_LEVELS:
            raise ValueError(f"key level {key_level!r} is not one of {', '.join(KEY_LEVELS)}")
        self.partitions, self.key_level = partitions, key_level
        self._where: dict[str, str] = {}   # record id -> key, to route feedback

    def target(self, rec: Any) -> tuple[str | None, list[int]]:
        key = event_key(rec, self.key_level)
        if key is None and rec.kind == "feedback":
            key = self._where.get(rec.record_id or "")
        if key is None:
            return None, list(range(self.partitions))
        self._where[rec.id] = key
        return key, [partition_for(key, self.partitions)]


class Ingest:
    """One publishing run. ``run(items)`` returns the summary dict."""

    def __init__(self, bootstrap: str, topics: Topics, *, partitions: int | None = None,
                 rate: float | None = None, progress: TextIO | None = sys.stderr,
                 progress_every: float = 1.0, producer_factory: Callable[..., Any] = producer,
                 key_level: str = DEFAULT_KEY_LEVEL):
        self.topics = topics
        self.prod = producer_factory(bootstrap)
        self.partitions = partitions or self._partitions(topics.events)
        self.router = Router(self.partitions, key_level)
        self.rate = RateLimit(rate)
        self.progress, self.progress_every = progress, progress_every
        self.sent: Counter[str] = Counter()
        self.by_partition: Counter[int] = Counter()
        self.rejects: Counter[str] = Counter()
        self.broadcast = 0
        self.lines = 0
        self.errors: list[BaseException] = []
        self._registry_pending = False

    def _partitions(self, topic: str) -> int:
        parts = self.prod.partitions_for(topic)  # waits for metadata; None if no such topic
        if not parts:
            raise SinkError(f"topic {topic} does not exist: run `yujing topics create` first")
        return len(parts)

    def _send(self, topic: str, value: bytes, key: str | None, partition: int | None,
              hdrs: list[tuple[str, bytes]]) -> None:
        fut = self.prod.send(topic, value=value, key=key.encode() if key is not None else None,
                             partition=partition, headers=hdrs)
        fut.add_errback(self.errors.append)
        self.sent[topic] += 1

    def publish(self, it: Item) -> None:
        rec = it.record
        if rec is None:
            rej = Reject.of(it.error, it.raw, source=it.source)
            self.rejects[rej.reason] += 1
            self._send(self.topics.dead_letters, it.raw.encode("utf-8"), rej.record_id or None,
                       None, dead_letter_headers(rej, "ingest"))
            return
        value = encode(rec).encode("utf-8")
        if route(rec) == "registries":
            self._send(self.topics.registries, value, registry_key(rec), 0,
                       headers(**{H_KIND: rec.kind}) + [(H_BODY, BODY_CODEC)])
            self._registry_pending = True
            return
        if self._registry_pending:
            # registry entries reach the broker before the events that refer to their regions
            self.prod.flush()
            self._registry_pending = False
        key, parts = self.router.target(rec)
        if key is None:
            self.broadcast += 1
            hdrs = headers(**{H_KIND: rec.kind, H_BROADCAST: 1}) + [(H_BODY, BODY_CODEC)]
            for p in parts:
                self._send(self.topics.events, value, rec.id, p, hdrs)
                self.by_partition[p] += 1
            return
        sub = subdistrict_key(rec) or key   # feedback routed by its record: that record's key
        self._send(self.topics.events, value, key, parts[0],
                   headers(**{H_KIND: rec.kind, H_SUBDISTRICT: sub}) + [(H_BODY, BODY_CODEC)])
        self.by_partition[parts[0]] += 1

    def run(self, items: Iterable[Item]) -> dict[str, Any]:
        t0 = last = time.monotonic()
        try:
            for it in items:
                self.lines += 1
                self.rate.wait(self.lines)
                self.publish(it)
                if self.errors:
                    raise SinkError(f"publishing failed: {self.errors[0]!r}")
                now = time.monotonic()
                if self.progress is not None and now - last >= self.progress_every:
                    last = now
                    self._print_progress(now - t0)
            self.prod.flush()
        finally:
            self.prod.close(timeout=30)
        if self.errors:
            raise SinkError(f"publishing failed for {len(self.errors)} messages: {self.errors[0]!r}")
        secs = time.monotonic() - t0
        if self.progress is not None:
            self._print_progress(secs)
            print(file=self.progress)
        return {"lines": self.lines, "published": dict(self.sent),
                "events_by_partition": {str(k): v for k, v in sorted(self.by_partition.items())},
                "rejects": dict(self.rejects), "feedback_broadcast": self.broadcast,
                "partitions": self.partitions, "key_level": self.router.key_level, "seconds": round(secs, 2),
                "lines_per_s": round(self.lines / max(secs, 1e-9), 1)}

    def _print_progress(self, secs: float) -> None:
        print(f"\r{self.lines:,} lines, {sum(self.sent.values()):,} messages, "
              f"{sum(self.rejects.values()):,} rejected ({self.lines / max(secs, 1e-9):,.0f} lines/s)",
              end="", file=self.progress, flush=True)


def ingest(items: Iterable[Item], bootstrap: str, topics: Topics | None = None, **kw: Any) -> dict:
    """Publish ``items`` (from ``streams.sources.open_source`` or the simulator); the summary."""
    return Ingest(bootstrap, topics or Topics(), **kw).run(items)


__all__ = ["DEFAULT_PARTITIONS", "Ingest", "RateLimit", "Router", "dead_letter_headers", "ingest", "producer"]
