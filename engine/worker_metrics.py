"""Metrics of ``yujing worker`` (the Kafka path), served with ``--metrics-port``.

The worker counts its batches on the same ``engine.metrics.Metrics`` as ``yujing run`` (records
in, rejects, warnings, detector time, store waits as sink errors, spool size, records last seen),
plus ``yujing_consumer_lag{topic, partition}``: for each events partition the worker holds, the
partition's end offset (Kafka's high watermark) minus the next offset the worker will process
(its own position, or the group's committed offset before its first batch). Labels are topic
names and partition numbers only.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from .metrics import Metrics

log = logging.getLogger("yujing.worker")


def partition_lag(ends: Mapping[int, int | None], positions: Mapping[int, int | None]) -> dict[int, int]:
    """Lag per partition: end offset minus position (never negative; an unknown position
    counts from 0, an unknown end is left out).

    >>> partition_lag({0: 120, 1: 50, 2: None}, {0: 100, 1: None, 2: 5})
    {0: 20, 1: 50}
    >>> partition_lag({3: 10}, {3: 12})
    {3: 0}
    """
    return {p: max(0, end - (positions.get(p) or 0)) for p, end in ends.items() if end is not None}


class LagWatcher:
    """Sets ``yujing_consumer_lag`` from a Faust app's consumer; ``update()`` on a timer."""

    def __init__(self, app: Any, engine: Any, metrics: Metrics, topic: str):
        self.app, self.engine, self.metrics, self.topic = app, engine, metrics, topic
        self._shown: set[int] = set()

    def positions(self, tps) -> dict[int, int | None]:
        committed = getattr(self.app.consumer, "_committed_offset", {})  # Faust: next offset to read
        out: dict[int, int | None] = {}
        for tp in tps:
            mine, theirs = self.engine.next_offset.get(tp.partition), committed.get(tp)
            known = [o for o in (mine, theirs) if o is not None]
            out[tp.partition] = max(known) if known else None
        return out

    async def update(self) -> dict[int, int]:
        consumer = self.app.consumer
        try:
            tps = [tp for tp in consumer.assignment() if tp.topic == self.topic]
            ends = await consumer.highwaters(*tps) if tps else {}
        except Exception as exc:  # noqa: BLE001 - not started yet, or a rebalance: next tick
            log.debug("consumer lag not read: %r", exc)
            return {}
        lag = partition_lag({tp.partition: end for tp, end in ends.items()}, self.positions(tps))
        for p, n in lag.items():
            self.metrics.consumer_lag.labels(self.topic, str(p)).set(n)
        for p in self._shown - set(lag):   # revoked: another worker reports it now
            try:
                self.metrics.consumer_lag.remove(self.topic, str(p))
            except KeyError:
                pass
        self._shown = set(lag)
        return lag


def serve_metrics(metrics: Metrics, host: str, port: int):
    """Serve ``metrics.registry`` at http://HOST:PORT/metrics in a daemon thread; returns the
    server (``.shutdown()`` to stop)."""
    from prometheus_client import start_http_server
    try:
        server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise SystemExit(f"cannot serve metrics on {host}:{port}: {exc}") from None
    log.info("worker metrics on http://%s:%d/metrics", host, server.server_port)
    return server
