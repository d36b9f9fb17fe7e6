"""The Faust-free part of ``yujing worker``: registry state, a pipeline per partition, the
rebuild of a partition's state (newest snapshot + replay of the records after it) and the
per-stage timings of the batches (``Engine.seconds``). See engine/worker.py for the guarantees.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Sequence

from streams.codec import decode
from streams.errors import RecordRejected
from streams.sources import Item
from streams.topics import H_BODY, BODY_CODEC

from .config import Settings
from .metrics import Metrics
from .pipeline import Pipeline
from .worker_acts import ActOutputs, ActState
from .worker_acts import process as apply_items
from .worker_state import Snapshots, dump

log = logging.getLogger("yujing.worker")


def to_item(raw: bytes, topic: str, partition: int, offset: int) -> Item:
    """A Kafka message as the pipeline's ``Item`` (``line`` = offset, ``source`` = where)."""
    text = raw.decode("utf-8", "replace") if raw is not None else ""
    src = f"{topic}[{partition}]@{offset}"
    try:
        return Item(offset, text, decode(raw if raw is not None else b"", line=offset), None, src)
    except RecordRejected as exc:
        return Item(offset, text, None, exc, src)


def codec_body(hdrs: Any) -> bool:
    """Does a message say its value is ``streams.codec.encode``'s text of its record (header
    ``yujing-body: codec``, set by ``yujing ingest``)? Then the store may keep it as is.

    >>> codec_body([("yujing-kind", b"call"), ("yujing-body", b"codec")]), codec_body(None)
    (True, False)
    >>> codec_body({"yujing-body": b"other"})
    False
    """
    if not hdrs:
        return False
    pairs = hdrs.items() if hasattr(hdrs, "items") else hdrs
    return any(k == H_BODY and v == BODY_CODEC for k, v in pairs)


def decode_batch(messages: Sequence[Any]) -> tuple[dict[int, list[Item]], dict[str, bytes]]:
    """Kafka messages (``.value .topic .partition .offset .headers``) as items per partition, in
    order, and the bodies the store may take as they are: the value of each record message that
    says it is the codec's text (``codec_body``), first sight of an id only, as the pipeline."""
    by_part: dict[int, list[Item]] = {}
    bodies: dict[str, bytes] = {}
    for m in messages:
        it = to_item(m.value, m.topic, m.partition, m.offset)
        by_part.setdefault(m.partition, []).append(it)
        if it.record is not None and codec_body(m.headers):
            bodies.setdefault(it.record.id, m.value)
    return by_part, bodies


class Engine:
    """Registry state and a pipeline per partition; snapshots when ``snapshots`` is given:
    a partition's state is saved after ``snapshot_every`` records or ``snapshot_seconds``
    (checked after each batch's outputs are out) and when the partition is revoked."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, *,
                 snapshots: Snapshots | None = None, snapshot_every: int = 50_000,
                 snapshot_seconds: float = 300.0):
        from .app import build_pipeline
        from .worker_models import base_checkpoint
        self.metrics = metrics or Metrics()  # engine/worker_metrics.py serves it
        self.data_dir = settings.data_dir
        # every partition's model starts from one pinned checkpoint (or cold): a replay from
        # offset 0 then learns the log's labels once (engine/worker_models.py)
        base = base_checkpoint(settings.data_dir) if settings.learning else None
        self._build = lambda: build_pipeline(settings, base or False)
        self.registry: list[Item] = []
        self.pipelines: dict[int, Pipeline] = {}
        self.next_offset: dict[int, int] = {}   # per partition: the offset its state has reached
        self.acts: dict[int, ActState] = {}     # per partition: what the centre's acts need
        self.snapshots, self.snapshot_every, self.snapshot_seconds = snapshots, snapshot_every, snapshot_seconds
        self._since: dict[int, int] = {}        # per partition: records since its last snapshot
        self._snap_at: dict[int, float] = {}    # ... and when that was (monotonic)
        self._saved: dict[int, int] = {}        # ... and the offset it covers
        self._spare: dict[int, Pipeline] = {}   # built ahead for assigned partitions (``prepare``)
        self.ready = asyncio.Event()
        self.counts: dict[str, Any] = {"batches": 0, "items": 0, "warnings": 0, "rejects": 0,
                                       "store_waits": 0, "skipped": 0, "replayed": 0,
                                       "restored": 0, "snapshots": 0}
        # wall seconds per stage, summed over batches (the heartbeat file shows them)
        self.seconds: dict[str, float] = dict.fromkeys(
            ("decode", "rebuild", "pipeline", "store", "store_wait", "produce", "snapshot"), 0.0)

    def pipeline(self, partition: int) -> Pipeline:
        p = self.pipelines.get(partition)
        if p is None:   # every partition knows every grid and key person
            p = self.pipelines[partition] = self._fresh(partition)
        return p

    def add_registry(self, items: Sequence[Item]) -> None:
        self.registry.extend(it for it in items if it.record is not None)
        for p in [*self.pipelines.values(), *self._spare.values()]:
            p.process(items)           # already-seen ids are skipped as duplicates

    def prepare(self, partitions: Sequence[int]) -> None:
        """Build fresh pipelines (with the registry) for partitions just assigned, so that their
        first batch does not wait for it (about 0.25 s a partition); used when the partition's
        state has no snapshot to start from."""
        for p in partitions:
            if p not in self.pipelines and p not in self._spare:
                self._spare[p] = self._fresh()

    def _fresh(self, partition: int | None = None) -> Pipeline:
        pipe = self._spare.pop(partition, None) if partition is not None else None
        if pipe is None:
            pipe = self._build()
            pipe.process(self.registry)
        return pipe

    def process(self, partition: int, items: Sequence[Item]) -> ActOutputs:
        t = time.perf_counter()
        out = self._apply(partition, items)
        self.seconds["pipeline"] += time.perf_counter() - t
        if items:
            self.next_offset[partition] = items[-1].line + 1
        self._since[partition] = self._since.get(partition, 0) + len(items)
        c = self.counts
        c["batches"] += 1
        c["items"] += len(items)
        c["warnings"] += len(out.warnings)
        c["rejects"] += len(out.rejects)
        c["acts"] = c.get("acts", 0) + len(out.audit)
        c["acts_refused"] = c.get("acts_refused", 0) + len(out.refused)
        return out

    def _apply(self, partition: int, items: Sequence[Item]) -> ActOutputs:
        """Records through the partition's pipeline, the centre's acts applied in log order."""
        return apply_items(self.pipeline(partition), self.acts.setdefault(partition, ActState()), items)

    def fresh(self, partition: int, items: list[Item]) -> list[Item]:
        """Drop items this partition's state has already seen (a refetch after a rebalance)."""
        done = self.next_offset.get(partition)
        if done is None or partition not in self.pipelines:
            return items
        keep = [it for it in items if it.line >= done]
        self.counts["skipped"] += len(items) - len(keep)
        return keep

    # ---- rebuilding a partition's state -----------------------------------------------------
    async def ensure(self, bootstrap: str, topic: str, partition: int, first_offset: int) -> None:
        """Make the partition's state be that of offsets [0, first_offset): kept if it is, else
        restored from the newest snapshot at or below ``first_offset`` (if any) and the records
        after it replayed (a gap means it missed records: rebuild too)."""
        if partition in self.pipelines and self.next_offset.get(partition) == first_offset:
            return
        t = time.perf_counter()
        self.forget([partition])
        start, note = 0, "no snapshot"
        got = (self.snapshots.load(self._build, partition, first_offset)
               if self.snapshots is not None and first_offset > 0 else None)
        if got is not None:
            start, pipe, acts = got
            self.counts["restored"] += 1
            note = f"snapshot at offset {start}"
            pipe.process(self.registry)   # registry entries that came after the snapshot
        else:
            pipe, acts = self._fresh(partition), ActState()
        # rebuilt aside and installed at the end: a revoke meanwhile neither snapshots nor
        # extends a half-built state
        n = await self._replay(bootstrap, topic, partition, start, first_offset, pipe, acts)
        self.pipelines[partition], self.acts[partition] = pipe, acts
        self.next_offset[partition] = first_offset
        self._saved[partition] = start if got is not None else -1
        self._since[partition], self._snap_at[partition] = n, time.monotonic()
        self.counts["replayed"] += n
        self.seconds["rebuild"] += time.perf_counter() - t
        log.info("partition %d: state rebuilt from %d records before offset %d (%s, %.1fs)",
                 partition, n, first_offset, note, time.perf_counter() - t)

    async def _replay(self, bootstrap: str, topic: str, partition: int, start: int, end: int,
                      pipe: Pipeline, acts: ActState) -> int:
        """Apply offsets [start, end) of the partition to ``pipe``, outputs discarded (they were
        produced before ``end`` was committed); returns how many records that was."""
        if start >= end:
            return 0
        from aiokafka import AIOKafkaConsumer, TopicPartition
        tp = TopicPartition(topic, partition)
        cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                client_id="yujing-replay", max_partition_fetch_bytes=8 * 1024 * 1024)
        await cons.start()
        n = 0
        try:
            cons.assign([tp])
            cons.seek(tp, start)
            while await cons.position(tp) < end:
                got = await cons.getmany(tp, timeout_ms=1000, max_records=5000)
                items = [to_item(m.value, m.topic, m.partition, m.offset)
                         for m in got.get(tp, ()) if start <= m.offset < end]
                apply_items(pipe, acts, items)
                n += len(items)
        finally:
            await cons.stop()
        return n

    def forget(self, partitions: Sequence[int]) -> None:
        """A revoked partition's state is dropped: another worker owns its order now."""
        for p in partitions:
            self.pipelines.pop(p, None)
            self.next_offset.pop(p, None)
            self.acts.pop(p, None)
            self._since.pop(p, None)
            self._snap_at.pop(p, None)

    # ---- the learned model --------------------------------------------------------------------
    def model_updates(self) -> dict[int, int]:
        """Labels each partition's model has learned (the heartbeat file shows them)."""
        from .worker_models import model_updates
        return {p: model_updates(pipe) for p, pipe in sorted(self.pipelines.items())}

    def save_models(self, topic: str) -> None:
        """The shared checkpoint DATA_DIR/models/learning.json from the partition that learned
        the most (engine/worker_models.py); a failure is logged, never fatal."""
        from .worker_models import save_shared
        try:
            path = save_shared(self.data_dir, self.pipelines, self.next_offset, topic)
        except Exception as exc:  # noqa: BLE001 - disk full...: the snapshots still hold the models
            log.warning("learning: shared checkpoint not saved: %r", exc)
            return
        if path is not None:
            self.counts["model_checkpoints"] = self.counts.get("model_checkpoints", 0) + 1

    # ---- snapshots --------------------------------------------------------------------------
    def due(self) -> list[int]:
        """Partitions whose snapshot is due (records or time since the last one)."""
        if self.snapshots is None:
            return []
        now = time.monotonic()
        return [p for p, n in self._since.items()
                if n and p in self.next_offset
                and (n >= self.snapshot_every or now - self._snap_at.get(p, now) >= self.snapshot_seconds)]

    async def save(self, topic: str, partitions: Sequence[int]) -> None:
        """Snapshot these partitions at the offset their state has reached (skipped when it has
        not moved since the last one). A failure is logged: it costs a longer replay later."""
        if self.snapshots is None:
            return
        for p in partitions:
            off = self.next_offset.get(p)
            if off is None or p not in self.pipelines or self._saved.get(p) == off:
                continue
            t = time.perf_counter()
            try:
                data = dump(self.pipelines[p], self.acts.setdefault(p, ActState()),
                            topic=topic, partition=p, offset=off)
                await asyncio.to_thread(self.snapshots.write, p, off, data)
            except Exception as exc:  # noqa: BLE001 - disk full, a state that does not pickle...
                log.warning("partition %d: snapshot at offset %d failed: %r", p, off, exc)
                continue
            finally:
                self._since[p], self._snap_at[p] = 0, time.monotonic()
                self.seconds["snapshot"] += time.perf_counter() - t
            self._saved[p] = off
            self.counts["snapshots"] += 1
            log.info("partition %d: snapshot at offset %d (%d bytes, %.2fs)", p, off, len(data),
                     time.perf_counter() - t)
