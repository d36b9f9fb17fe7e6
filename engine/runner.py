"""The in-process runner: plays a source through the pipeline into the store and the console.

Batches flow source → pipeline → store (first) → push (second), so a warning the console
shows is already stored.  Pacing follows event time at ``speed`` event-seconds per
wall-second (0 = as fast as the CPU allows).  A failing store makes the runner wait and
retry; nothing is dropped and memory does not grow, because the source is not read meanwhile.

The centre's acts (签收, 分流, 办结... from engine/actions.py) come in through ``act``: an
inbox the runner drains between batches, while pacing and after the input ends, so the
pipeline stays single-threaded and every act meets the warning book in one definite order.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from sinks.store import AuditEntry, Store, StoreBatch
from streams.errors import SinkError
from streams.records import Warning
from streams.sources import Item

from . import lifecycle as lc
from .acts_apply import apply_act, breach_entry

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
                 max_store_wait: float = 0.5, desk: "lc.Desk | None" = None):
        self.pipeline, self.store, self.metrics = pipeline, store, metrics
        self.dead_letters = dead_letters
        self.publish = publish            # callable(event, data) for the console push
        self.speed, self.batch_size, self.max_batch_wait = speed, batch_size, max_batch_wait
        self.store_batch, self.max_store_wait = store_batch, max_store_wait
        self.progress = Progress()
        self._pending: list[tuple[Outputs, list[Item], float]] = []  # processed, not yet stored
        self.desk = desk                  # SLA timers and webhooks (engine/lifecycle.py)
        if desk is not None:
            desk.on_breach = lambda w: self._post(("breach", w), None)
        self.last_acts = lc.LastActs()
        self._inbox: list[tuple[object, asyncio.Future | None]] = []
        self._wake = asyncio.Event()

    # ---- the centre's acts ---------------------------------------------------------------------
    def _post(self, item: object, fut: asyncio.Future | None) -> None:
        self._inbox.append((item, fut))
        self._wake.set()

    async def act(self, act: "lc.Act", timeout: float = 30.0) -> dict[str, Any]:
        """Apply one act in the runner's order; raises ``lifecycle.ActionError``."""
        fut = asyncio.get_running_loop().create_future()
        self._post(act, fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            raise lc.ActionError(503, "引擎繁忙(存储不可用?),请稍后重试") from None

    def note_access(self, action: str, viewer, warning_id: str, note: str) -> None:
        """Audit a look at a warning (``view_clear``: records shown in clear; ``denied``: outside
        the viewer's jurisdiction); see engine/auth.py.  Queued: written with the next store write."""
        entry = AuditEntry(at=lc.wall_now(), warning_id=warning_id, case_id="", version=0,
                           action=action, from_state="", to_state="",
                           by=f"{viewer.name}({viewer.login})", note=note,
                           key=f"{viewer.login}@{time.time_ns()}")
        self._post(("audit", entry), None)

    async def serve_inbox(self, stop: asyncio.Event) -> None:
        """After the input ends: keep applying acts until stopped."""
        while not stop.is_set():
            await self._idle(stop, 1.0)
            await self._drain_inbox()

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep until ``seconds`` pass, an act arrives or ``stop``."""
        if self._inbox:
            return
        self._wake.clear()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _drain_inbox(self) -> None:
        while self._inbox:
            item, fut = self._inbox.pop(0)
            try:
                if not isinstance(item, tuple):
                    res = await self._apply(item)
                elif item[0] == "breach":
                    res = await self._breach(item[1])
                else:  # ("audit", entry): a clear view or a denied look, written with the rest
                    res = await self._store(Outputs(), [item[1]])
            except Exception as exc:  # ActionError, or a bug: the HTTP side answers either way
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                elif not isinstance(exc, lc.ActionError):
                    log.exception("applying %r failed", item)
            else:
                if fut is not None and not fut.done():
                    fut.set_result(res)

    async def _apply(self, act: "lc.Act") -> dict[str, Any]:
        await self._flush()  # the store then holds every version the book has made
        rows = await asyncio.to_thread(self.store.warning_history, act.warning_id)
        if not rows:
            raise lc.ActionError(404, "预警不存在", warning_id=act.warning_id)
        done = apply_act(self.pipeline, act, Warning.model_validate(rows[-1]),
                         policy=self.desk.policy if self.desk is not None else None,
                         last=self.last_acts.get(act.warning_id))  # engine/acts_apply.py
        await self._store(done.outputs, [done.audit])
        self.last_acts.note(done.audit)
        self._pushed(done.outputs)
        return {"warning": warning_view(done.warning), "audit": audit_view(done.audit)}

    async def _breach(self, w: Warning) -> dict[str, Any]:
        """An SLA breach (fired by the desk) goes into the audit trail too."""
        entry = breach_entry(self.desk.policy if self.desk else None, w, lc.wall_now())
        await self._store(Outputs(), [entry])
        return audit_view(entry)

    def _pushed(self, out: Outputs) -> None:
        self.metrics.observe(out)
        for w in out.warnings:
            if self.publish is not None:
                self.publish("warning", warning_view(w))
            if self.desk is not None:
                self.desk.observe(w)

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
                    await self._wait_paced(stop, wait)
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

    async def _wait_paced(self, stop: asyncio.Event, seconds: float) -> None:
        """Pacing: wait for the next record's time, applying acts meanwhile."""
        until = time.monotonic() + seconds
        while not stop.is_set() and (left := until - time.monotonic()) > 0:
            await self._idle(stop, left)
            await self._drain_inbox()

    async def _run_batch(self, batch: list[Item], arrived: float) -> None:
        if self._inbox:
            await self._drain_inbox()
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
            merged.add(out)
        await self._store(merged)
        if self.dead_letters is not None and merged.rejects:
            self.dead_letters.extend(merged.rejects)
        now = time.monotonic()
        for out, batch, arrived in pending:
            self._pushed(out)
            for _ in out.warnings:
                self.metrics.push_latency.observe(now - arrived)
            self._count(batch, out)

    async def _store(self, out: Outputs, audit: list[AuditEntry] | None = None) -> None:
        sb = StoreBatch(records=out.records, signals=out.signals, warnings=out.warnings,
                        rejects=out.rejects, record_cases=out.case_of, audit=audit or [],
                        merged=out.merges)
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


def warning_view(w) -> dict[str, Any]:
    """The JSON the console gets for a warning version (no clear personal data by construction)."""
    d = w.model_dump(mode="json")
    d["level_label"] = w.level.label
    return d


def audit_view(a: AuditEntry) -> dict[str, Any]:
    return {"id": a.id, "at": a.at.isoformat(), "warning_id": a.warning_id, "version": a.version,
            "action": a.action, "from_state": a.from_state, "to_state": a.to_state, "by": a.by,
            "unit": a.unit, "outcome": a.outcome, "note": a.note}
