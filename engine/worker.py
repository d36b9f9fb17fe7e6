"""``yujing worker``: the Faust app that runs the engine on Kafka.

One agent takes batches from the events topic (``stream.take_events``) and hands each
partition's slice to that partition's own ``engine.pipeline.Pipeline`` (the same class and
detectors as ``yujing run``; built by ``engine.app.build_pipeline``). A pipeline per partition,
because a partition (a set of 街道 subdistricts) is the unit whose order Kafka keeps: its
pipeline sees exactly the sequence a replay or another worker would see, so warning ids and
versions are reproducible. The registries (grids → valid regions, 重点人员) are global: a task
reads the whole compacted registries topic before the agent starts and keeps tailing it, and
every partition's pipeline gets every registry record.

Outputs per batch: the store first (``store=``: the embedded chDB or a ClickHouse server's
``ServerStore``; records, signals, warnings, rejects), then the warning versions to the warnings topic keyed by case id and the rejects to the dead-letter topic
with the reason in headers; then the producer is flushed; only then does the batch end, its
events are acked and Faust may commit their offsets (Faust's commit flushes the producer again).
Guarantee: at least once, with exact state. A crash after outputs but before the commit replays
the batch; the outputs of a replay are the same ids and versions, so idempotent readers
(ReplacingMergeTree on (id, version)) see no duplicates. Pipeline state lives in memory: when a
worker gets a partition (start, restart, rebalance) it first rebuilds that partition's pipeline
by replaying the partition from its start up to the offset Faust resumes at, outputs discarded
(they were produced before that offset was committed). The centre's acts (签收/分流/处置/办结)
are act records in the same log, applied in their place (engine/worker_acts.py): the replay
rebuilds the warnings' closed-loop state too. The log is the state; replay cost grows
with history until snapshots come (docs/kafka.md). Registry records go to the store once, as read.

Back-pressure: a store that is slow or down (``SinkUnavailable``, e.g. a ClickHouse server down
with its spool full) makes ``store_write`` wait and retry with backoff; the agent does not take
the next batch, Faust's bounded stream buffer fills and the consumer stops fetching. Memory stays
flat, nothing is produced or committed past what the store holds, nothing is dropped.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import faust

from sinks.store import StoreBatch
from streams.codec import decode
from streams.errors import RecordRejected, SinkUnavailable
from streams.sources import Item
from streams.topics import (
    H_LEVEL, H_VERSION, H_WARNING_ID, Topics, headers,
)

from .config import Settings
from .kafka_ingest import dead_letter_headers
from .metrics import Metrics
from .pipeline import Pipeline
from .worker_acts import ActOutputs, ActState, act_headers, refusal_headers
from .worker_acts import process as apply_items

log = logging.getLogger("yujing.worker")


def to_item(raw: bytes, topic: str, partition: int, offset: int) -> Item:
    """A Kafka message as the pipeline's ``Item`` (``line`` = offset, ``source`` = where)."""
    text = raw.decode("utf-8", "replace") if raw is not None else ""
    src = f"{topic}[{partition}]@{offset}"
    try:
        return Item(offset, text, decode(raw if raw is not None else b"", line=offset), None, src)
    except RecordRejected as exc:
        return Item(offset, text, None, exc, src)


class Engine:
    """The Faust-free part: registry state and a pipeline per partition."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None):
        from .app import build_pipeline
        self.metrics = metrics or Metrics()  # engine/worker_metrics.py serves it
        self._build = lambda: build_pipeline(settings)
        self.registry: list[Item] = []
        self.pipelines: dict[int, Pipeline] = {}
        self.next_offset: dict[int, int] = {}   # per partition: the offset its state has reached
        self.acts: dict[int, ActState] = {}     # per partition: what the centre's acts need
        self.ready = asyncio.Event()
        self.counts = {"batches": 0, "items": 0, "warnings": 0, "rejects": 0, "store_waits": 0,
                       "skipped": 0}

    def pipeline(self, partition: int) -> Pipeline:
        p = self.pipelines.get(partition)
        if p is None:
            p = self.pipelines[partition] = self._build()
            p.process(self.registry)   # every partition knows every grid and key person
        return p

    def add_registry(self, items: Sequence[Item]) -> None:
        self.registry.extend(it for it in items if it.record is not None)
        for p in self.pipelines.values():
            p.process(items)           # already-seen ids are skipped as duplicates

    def process(self, partition: int, items: Sequence[Item]) -> ActOutputs:
        out = self._apply(partition, items)
        if items:
            self.next_offset[partition] = items[-1].line + 1
        self.counts["batches"] += 1
        self.counts["items"] += len(items)
        self.counts["warnings"] += len(out.warnings)
        self.counts["rejects"] += len(out.rejects)
        self.counts["acts"] = self.counts.get("acts", 0) + len(out.audit)
        self.counts["acts_refused"] = self.counts.get("acts_refused", 0) + len(out.refused)
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

    async def ensure(self, bootstrap: str, topic: str, partition: int, first_offset: int) -> None:
        """Make the partition's state be that of offsets [start, first_offset): kept if it is,
        else rebuilt by replaying the partition (a gap means it missed records: rebuild too)."""
        if partition in self.pipelines and self.next_offset.get(partition) == first_offset:
            return
        self.forget([partition])
        self.pipeline(partition)
        self.next_offset[partition] = first_offset
        if first_offset <= 0:
            return
        from aiokafka import AIOKafkaConsumer, TopicPartition
        tp = TopicPartition(topic, partition)
        cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                client_id="yujing-replay")
        await cons.start()
        n = 0
        try:
            cons.assign([tp])
            await cons.seek_to_beginning(tp)
            while await cons.position(tp) < first_offset:
                got = await cons.getmany(tp, timeout_ms=1000, max_records=5000)
                items = [to_item(m.value, m.topic, m.partition, m.offset)
                         for m in got.get(tp, ()) if m.offset < first_offset]
                # outputs discarded: produced before this offset was committed
                self._apply(partition, items)
                n += len(items)
        finally:
            await cons.stop()
        log.info("partition %d: state rebuilt from %d records before offset %d", partition, n, first_offset)

    def forget(self, partitions: Sequence[int]) -> None:
        """A revoked partition's state is dropped: another worker owns its order now."""
        for p in partitions:
            self.pipelines.pop(p, None)
            self.next_offset.pop(p, None)
            self.acts.pop(p, None)


async def store_write(store: Any, batch: StoreBatch, engine: Engine | None = None, *,
                      base_delay: float = 0.2, max_delay: float = 5.0) -> None:
    """Write ``batch`` to the store, waiting as long as the store is unavailable (back-pressure:
    the caller takes no more input meanwhile). Errors other than ``SinkUnavailable`` propagate."""
    if store is None or not len(batch):
        return
    delay, since = base_delay, None
    while True:
        try:
            await asyncio.to_thread(store.write, batch)
            if since is not None:
                log.warning("store is back after %.1fs; going on", time.monotonic() - since)
            return
        except SinkUnavailable as exc:
            if since is None:
                since = time.monotonic()
                log.warning("store unavailable, holding the stream until it returns: %s", exc)
            if engine is not None:
                engine.counts["store_waits"] += 1
                engine.metrics.sink_errors.inc()
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)


async def load_registries(engine: Engine, bootstrap: str, topic: str, poll: float = 0.5,
                          store: Any = None) -> None:
    """Read the registries topic from the start to its end (then set ``ready``) and keep tailing."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            client_id="yujing-registries", auto_offset_reset="earliest")
    await cons.start()
    try:
        parts = cons.partitions_for_topic(topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            parts = cons.partitions_for_topic(topic) or await _fetch_parts(cons, topic)
        if not parts:
            raise RuntimeError(f"registries topic {topic} does not exist (run `yujing topics create`)")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        cons.assign(tps)
        await cons.seek_to_beginning(*tps)
        ends = await cons.end_offsets(tps)
        while True:
            got = await cons.getmany(timeout_ms=int(poll * 1000), max_records=10000)
            items = [to_item(m.value, m.topic, m.partition, m.offset)
                     for tp in sorted(got) for m in got[tp]]
            if items:
                engine.add_registry(items)
                await store_write(store, StoreBatch(records=[i.record for i in items if i.record is not None]),
                                  engine)
            if not engine.ready.is_set() and await _caught_up(cons, ends):
                log.info("registries loaded: %d entries", len(engine.registry))
                engine.ready.set()
    finally:
        await cons.stop()


async def _caught_up(cons, ends) -> bool:
    for tp, end in ends.items():
        if await cons.position(tp) < end:
            return False
    return True


async def _fetch_parts(cons, topic: str):
    await cons._client.force_metadata_update()  # the topic may have been created after start
    return cons.partitions_for_topic(topic)


def make_app(settings: Settings, bootstrap: str, topics: Topics, *, batch_size: int = 500,
             within: float = 0.2, store: Any = None, app_id: str | None = None,
             metrics: Metrics | None = None) -> faust.App:
    """The Faust app. ``store``: an ``sinks.store.Store`` written before anything is produced;
    ``metrics``: counted per batch, with consumer lag (engine/worker_metrics.py)."""
    app = faust.App(
        app_id or f"{topics.prefix}-worker",   # = the consumer group id
        broker=f"kafka://{bootstrap}",
        datadir=str(Path(settings.data_dir) / "faust"),
        store="memory://", autodiscover=False, web_enabled=False,
        processing_guarantee="at_least_once",
        # a single test broker: short group timeouts, or every join waits 20-30 s (INFRA.md)
        broker_session_timeout=6, broker_heartbeat_interval=1, broker_rebalance_timeout=10,
        broker_commit_interval=1.0, consumer_auto_offset_reset="earliest",
        topic_replication_factor=1, topic_allow_declare=False, topic_disable_leader=True,
        producer_acks=-1,
    )
    raw = dict(key_serializer="raw", value_serializer="raw")
    events = app.topic(topics.events, **raw)
    warnings = app.topic(topics.warnings, **raw)
    dead = app.topic(topics.dead_letters, **raw)
    engine = Engine(settings, metrics)
    app.yujing_engine = engine  # for tests and status
    engine.metrics.watch_spool(store)
    from .worker_metrics import LagWatcher
    lag = LagWatcher(app, engine, engine.metrics, topics.events)

    @app.timer(2.0)
    async def consumer_lag() -> None:
        await lag.update()

    alive = Path(settings.data_dir) / "worker.alive"

    @app.timer(5.0)
    async def heartbeat() -> None:
        """Liveness for container health checks: DATA_DIR/worker.alive, rewritten every 5 s."""
        import json
        alive.write_text(json.dumps({**engine.counts, "ready": engine.ready.is_set(),
                                     "partitions": sorted(engine.pipelines), "at": time.time()}))

    @app.task
    async def registries() -> None:
        await load_registries(engine, bootstrap, topics.registries, store=store)

    @app.agent(events, name="yujing-events")
    async def process(stream):
        await engine.ready.wait()   # unknown-region checks need the whole grid registry
        async for batch in stream.take_events(batch_size, within=within):
            await handle(batch)

    async def handle(batch) -> None:
        by_part: dict[int, list[Item]] = {}
        for ev in batch:   # order within a partition is kept; partitions are independent
            m = ev.message
            by_part.setdefault(m.partition, []).append(to_item(m.value, m.topic, m.partition, m.offset))
        for part, items in sorted(by_part.items()):
            items = engine.fresh(part, items)
            if not items:
                continue
            await engine.ensure(bootstrap, topics.events, part, items[0].line)
            out = engine.process(part, items)
            engine.metrics.observe(out)
            await store_write(store, StoreBatch(
                records=out.records, signals=out.signals, warnings=out.warnings,
                rejects=out.rejects, record_cases=out.case_of, audit=out.audit), engine)
            for w in out.warnings:
                acted = out.acted.get((w.id, w.version))   # the centre's act made it: say which
                await warnings.send(key=w.case_id.encode(), value=w.model_dump_json().encode(),
                                    headers=headers(**{H_WARNING_ID: w.id, H_VERSION: w.version,
                                                       H_LEVEL: w.level.value})
                                    + (act_headers(*acted) if acted else []))
            for it, exc in out.refused:   # an act refused (stale version...): the console waits
                await dead.send(key=it.record.id.encode(), value=it.raw.encode("utf-8"),
                                headers=refusal_headers(it, exc))
            for r in out.rejects:
                await dead.send(key=r.record_id.encode() if r.record_id else None,
                                value=r.raw.encode("utf-8"),
                                headers=dead_letter_headers(r, "worker"))
        # outputs are on the broker before this batch's events are acked (then committed)
        await app.producer.flush()
        engine.metrics.open_cases.set(sum(len(p.linker.cases) for p in engine.pipelines.values()))

    @app.on_partitions_revoked.connect
    async def on_revoked(app_, revoked, **kw) -> None:
        engine.forget([tp.partition for tp in revoked if tp.topic == topics.events])

    return app


def run_worker(app: faust.App, loglevel: str = "warn") -> None:
    """Run until SIGINT/SIGTERM (Faust's worker: commits acked offsets on a clean stop)."""
    from faust.worker import Worker
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
