"""The Kafka worker's store writes, gathered across batches, with the batches' acks held.

A store write costs much the same for 50 rows as for 5,000 (chDB makes a part per insert and
table; a ClickHouse server a round trip), and at 1,000 records/s the worker's batches are small:
writing every batch put ~36 ms of store time before each next batch, i.e. into the latency of
every warning behind it. ``HeldWrites`` instead takes each batch's ``StoreBatch`` and its Kafka
messages, holds the messages' acks (``Message.incref``: Faust's own ack after the batch is then
not the last one) and writes once the rows reach ``max_rows`` or the oldest held batch is
``max_seconds`` old. A write runs as a task beside the agent; once the store has the rows and
the producer has flushed (the batches' warnings are on the broker), the held messages are acked
and Faust may commit their offsets. So the guarantee of engine/worker.py holds unchanged:
nothing is committed that the store and the warnings topic do not have.

Back-pressure: one write at a time; while one is running, batches keep gathering up to
``2 * max_rows`` rows, then ``add`` waits for the running write (a store that is down keeps
``store_write`` waiting, so the agent takes nothing more and the consumer stops fetching).
Faust waits for every held ack before a rebalance and ``flush`` at a clean stop writes the rest.

>>> import asyncio
>>> from sinks.store import StoreBatch
>>> class Store:
...     def __init__(self): self.writes = []
...     def write(self, b): self.writes.append(len(b.records))
>>> class Msg:
...     refs, acked = 0, False
...     def incref(self): self.refs += 1
...     def ack(self, consumer): self.acked = True
>>> async def demo():
...     store, flushed = Store(), []
...     async def producer_flush(): flushed.append(1)
...     held = HeldWrites(store, producer_flush, lambda: None, max_rows=3, max_seconds=60)
...     a, b = Msg(), Msg()
...     await held.add(StoreBatch(records=["r1", "r2"]), [a])     # 2 rows: not due yet
...     before = (list(store.writes), a.acked)
...     await held.add(StoreBatch(records=["r3"]), [b])           # 3 rows: one write of both
...     await held.settle()
...     return before, store.writes, a.acked and b.acked, len(flushed)
>>> asyncio.run(demo())
(([], False), [3], True, 1)
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Sequence

from sinks.store import StoreBatch
from sinks.writer import merge

log = logging.getLogger("yujing.worker")

Writer = Callable[[Any, StoreBatch], Awaitable[None]]


async def _plain_write(store: Any, batch: StoreBatch) -> None:
    await asyncio.to_thread(store.write, batch)


class HeldWrites:
    """Gathered store writes and the acks they hold (see the module doc)."""

    def __init__(self, store: Any, producer_flush: Callable[[], Awaitable[Any]],
                 consumer: Callable[[], Any], *, max_rows: int = 10_000, max_seconds: float = 0.5,
                 write: Writer = _plain_write):
        self.store, self.producer_flush, self.consumer = store, producer_flush, consumer
        self.max_rows, self.max_seconds, self._write = max_rows, max_seconds, write
        self.pending: list[StoreBatch] = []   # batches gathered, in order
        self.rows = 0
        self.held: list[Any] = []
        self.since: float | None = None
        self.running: asyncio.Task | None = None
        self.error: Exception | None = None   # a failed write: raised to the agent by ``add``
        self.seconds = 0.0          # spent in writes (beside the agent, not in its way)

    def __len__(self) -> int:
        return self.rows

    def due(self) -> bool:
        return bool(self.held or self.rows) and (
            self.rows >= self.max_rows
            or (self.since is not None and time.monotonic() - self.since >= self.max_seconds))

    async def add(self, batch: StoreBatch, messages: Sequence[Any]) -> None:
        """Take a batch's rows and hold its messages' acks; start a write when due. A write
        that failed (not ``SinkUnavailable``, which ``store_write`` waits out) is raised here,
        after the batch is taken: its rows stay gathered, its acks held, and writes are retried."""
        while self.rows >= 2 * self.max_rows and self.running is not None:
            await asyncio.shield(self.running)   # back-pressure: the store is behind
        for m in messages:
            m.incref()
        self.held += messages
        self.pending.append(batch)
        self.rows += len(batch)
        if self.since is None:
            self.since = time.monotonic()
            self._kick_later()
        self.kick()
        self.raise_error()

    def kick(self, now: bool = False) -> None:
        """Start a write if one is due (or ``now``, with anything gathered) and none is running
        (per batch, and ``max_seconds`` after the first rows gathered)."""
        if self.running is None and (self.due() or (now and (self.held or self.rows))):
            self.running = asyncio.ensure_future(self._run())

    def _kick_later(self) -> None:
        # a plain loop callback, not a Faust timer: Faust stops its timers at shutdown and
        # then waits (a rebalance, too) for every held ack, which only a write gives back
        left = self.max_seconds - (time.monotonic() - (self.since or 0.0))
        asyncio.get_running_loop().call_later(max(0.001, left), self.kick)

    async def _run(self) -> None:
        try:
            while True:   # started by ``kick``: something is gathered
                batch, held = merge(self.pending), self.held
                self.pending, self.rows, self.held, self.since = [], 0, [], None
                t = time.perf_counter()
                await self._write(self.store, batch)
                await self.producer_flush()   # the batches' warnings are on the broker
                consumer = self.consumer()
                for m in held:
                    m.ack(consumer)
                self.seconds += time.perf_counter() - t
                if not self.due():
                    break
        except Exception as exc:   # keep the rows and their acks: nothing past them is committed
            log.exception("store write failed; kept, retried in %.1fs", self.max_seconds)
            self.pending, self.held = [batch, *self.pending], held + self.held
            self.rows += len(batch)
            self.since = time.monotonic()
            self.error = exc
        finally:
            self.running = None
            if self.since is not None:   # rows came during the write, or it failed
                self._kick_later()

    def raise_error(self) -> None:
        if self.error is not None:
            exc, self.error = self.error, None
            raise exc

    async def settle(self) -> None:
        """Wait for the running write, if any (and raise what it failed with)."""
        if self.running is not None:
            await asyncio.shield(self.running)
        self.raise_error()

    async def flush(self) -> None:
        """Write everything gathered now (before a snapshot at a clean stop or a revoke)."""
        await self.settle()
        self.kick(now=True)
        await self.settle()
