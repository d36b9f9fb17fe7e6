"""The in-process runner: plays a source through the pipeline into the store and the console.

Batches flow source → pipeline → store (first) → push (second), so a warning the console
shows is already stored.  Pacing follows event time at ``speed`` event-seconds per
wall-second (0 = as fast as the CPU allows).  A failing store makes the runner wait and
retry; nothing is dropped and memory does not grow, because the source is not read meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from sinks.store import Store, StoreBatch
from streams.errors import SinkError
from streams.sources import Item

from .metrics import Metrics
from .pipeline import Outputs, Pipeline

log = logging.getLogger("yujing.runner")


@dataclass
class Progress:
    items: int = 0
    records: int = 0
    rejects: int = 0
    duplicates: int = 0
    signals: int = 0
    warnings: int = 0
    event_time: str = ""
    started: float = field(default_factory=time.monotonic)
    done: bool = False

    def as_dict(self) -> dict[str, Any]:
        secs = max(time.monotonic() - self.started, 1e-9)
        return {"items": self.items, "records": self.records, "rejects": self.rejects,
                "duplicates": self.duplicates, "signals": self.signals,
                "warnings": self.warnings, "event_time": self.event_time,
                "items_per_s": round(self.items / secs, 1), "done": self.done}


class Runner:
    """``batch_size`` records per pipeline batch (small: the console is served between batches);
    outputs are written to the store together once they hold ``store_batch`` records or the
    oldest has waited ``max_store_wait`` seconds, because each store insert has a fixed cost
    (about 12 ms in chDB) that small writes would pay again and again."""

    def __init__(self, pipeline: Pipeline, store: Store, *, metrics: Metrics, dead_letters=None,
                 publish=None, speed: float = 0.0, batch_size: int = 500,
                 max_batch_wait: float = 0.25, store_batch: int = 5000,
                 max_store_wait: float = 0.5):
        self.pipeline, self.store, self.metrics = pipeline, store, metrics
        self.dead_letters = dead_letters
        self.publish = publish            # callable(event, data) for the console push
        self.speed, self.batch_size, self.max_batch_wait = speed, batch_size, max_batch_wait
        self.store_batch, self.max_store_wait = store_batch, max_store_wait
        self.progress = Progress()
        self._pending: list[tuple[Outputs, list[Item], float]] = []  # processed, not yet stored

    async def play(self, items: Iterable[Item], stop: asyncio.Event) -> Progress:
        batch: list[Item] = []
        arrived = time.monotonic()
        t0_wall = t0_event = None
        for it in items:
            if stop.is_set():
                break
            rec = it.record
            if self.speed > 0 and rec is not None and rec.kind not in ("grid", "key_person", "camera", "site"):
                ts = rec.occurred_at.timestamp()
                if t0_event is None:
                    t0_wall, t0_event = time.monotonic(), ts
                due = t0_wall + (ts - t0_event) / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    if batch:  # what has arrived goes out before we wait for the next one
                        await self._run_batch(batch, arrived)
                        batch = []
                    await self._flush()
                    await _sleep_unless(stop, wait)
            if not batch:
                arrived = time.monotonic()
            batch.append(it)
            if len(batch) >= self.batch_size or time.monotonic() - arrived > self.max_batch_wait:
                await self._run_batch(batch, arrived)
                batch = []
        if batch:
            await self._run_batch(batch, arrived)
        await self._flush()
        self.progress.done = not stop.is_set()
        await asyncio.to_thread(self.store.flush)
        if self.dead_letters is not None:
            self.dead_letters.flush()
        return self.progress

    async def _run_batch(self, batch: list[Item], arrived: float) -> None:
        t = time.perf_counter()
        out = self.pipeline.process(batch)
        self.metrics.batch_seconds.observe(time.perf_counter() - t)
        self._pending.append((out, batch, arrived))
        held = sum(len(o.records) + len(o.signals) for o, _, _ in self._pending)
        if held >= self.store_batch or time.monotonic() - self._pending[0][2] >= self.max_store_wait:
            await self._flush()
        await asyncio.sleep(0)  # let the console be served between batches

    async def _flush(self) -> None:
        """Store what is pending in one write, then dead-letter, count and push it."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        merged = Outputs()
        for out, _, _ in pending:
            merged.records += out.records
            merged.signals += out.signals
            merged.warnings += out.warnings
            merged.rejects += out.rejects
            merged.case_of.update(out.case_of)
        await self._store(merged)
        if self.dead_letters is not None and merged.rejects:
            self.dead_letters.extend(merged.rejects)
        now = time.monotonic()
        for out, batch, arrived in pending:
            self.metrics.observe(out)
            for w in out.warnings:
                if self.publish is not None:
                    self.publish("warning", warning_view(w))
                self.metrics.push_latency.observe(now - arrived)
            self._count(batch, out)

    async def _store(self, out: Outputs) -> None:
        sb = StoreBatch(records=out.records, signals=out.signals, warnings=out.warnings,
                        rejects=out.rejects, record_cases=out.case_of)
        delay = 0.5
        while True:
            try:
                await asyncio.to_thread(self.store.write, sb)
                return
            except SinkError as exc:
                # the stream waits for the store rather than dropping or piling up data
                self.metrics.sink_errors.inc()
                log.warning("store write failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _count(self, batch: list[Item], out: Outputs) -> None:
        p = self.progress
        p.items += len(batch)
        p.records += len(out.records)
        p.rejects += len(out.rejects)
        p.duplicates += out.duplicates
        p.signals += len(out.signals)
        p.warnings += len(out.warnings)
        wm = self.pipeline.watermark
        if wm is not None:
            newest = wm + self.pipeline.lateness
            p.event_time = newest.isoformat(timespec="minutes")
            self.metrics.event_time.set(newest.timestamp())
        self.metrics.open_cases.set(len(self.pipeline.linker.cases))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


def warning_view(w) -> dict[str, Any]:
    """The JSON the console gets for a warning version (no clear personal data by construction)."""
    d = w.model_dump(mode="json")
    d["level_label"] = w.level.label
    return d
