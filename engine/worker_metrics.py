"""Metrics of ``yujing worker`` (the Kafka path), served with ``--metrics-port``.

The worker counts its batches on the same ``engine.metrics.Metrics`` as ``yujing run`` (records
in, rejects, warnings, detector time, store waits as sink errors, spool size, records last seen),
plus ``yujing_consumer_lag{topic, partition}``: for each events partition the worker holds, the
partition's end offset (Kafka's high watermark) minus the next offset the worker will process
(its own position, or the group's committed offset before its first batch). Labels are topic
names and partition numbers only. ``yujing_event_loop_lag_seconds`` (``LoopLag``): how late the
worker's event loop runs, sampled every 50 ms.
"""
from __future__ import annotations

import asyncio
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


class LoopLag:
    """Observes ``yujing_event_loop_lag_seconds``: how much later than asked the loop wakes a
    task that sleeps ``interval``. Whatever holds the loop (a long batch, a collector pass, a
    blocking call) delays every record waiting in the consumer; a stall over ``log_over``
    seconds is also logged at debug, to line up with the batch logs.

    >>> import asyncio, time
    >>> m = Metrics()
    >>> async def stall():
    ...     task = asyncio.create_task(LoopLag(m, interval=0.01).run())
    ...     await asyncio.sleep(0.05)
    ...     time.sleep(0.3)              # the loop is held
    ...     await asyncio.sleep(0.05)
    ...     task.cancel()
    >>> asyncio.run(stall())
    >>> get = m.registry.get_sample_value
    >>> get("yujing_event_loop_lag_seconds_count") - get("yujing_event_loop_lag_seconds_bucket", {"le": "0.25"})
    1.0
    """

    def __init__(self, metrics: Metrics, interval: float = 0.05, log_over: float = 0.1):
        self.metrics, self.interval, self.log_over = metrics, interval, log_over

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - t - self.interval)
            self.metrics.loop_lag.observe(lag)
            if lag > self.log_over:
                log.debug("event loop stalled %.0f ms", lag * 1000)


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
