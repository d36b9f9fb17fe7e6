"""``yujing worker``: the Faust app that runs the engine on Kafka.

One agent takes batches from the events topic (``stream.take_events``) and hands each
partition's slice to that partition's own ``engine.pipeline.Pipeline`` (the same class and
detectors as ``yujing run``; built by ``engine.app.build_pipeline``). A pipeline per partition,
because a partition (a set of 街道 subdistricts) is the unit whose order Kafka keeps: its
pipeline sees exactly the sequence a replay or another worker would see, so warning ids and
versions are reproducible. The registries (grids → valid regions, 重点人员) are global: a task
reads the whole compacted registries topic before the agent starts and keeps tailing it, and
every partition's pipeline gets every registry record. The Faust-free part (state per
partition, rebuilds, stage timings) is ``engine.worker_engine.Engine``.

Outputs per batch, all partitions of the batch together: the warning versions to the warnings
topic keyed by case id and the rejects to the dead-letter topic with the reason in headers are
handed to the producer at once; the batch's store rows (``store=``: the embedded chDB or a
ClickHouse server's ``ServerStore``; records, signals, warnings, rejects; records that ``yujing
ingest`` published go in with their message text as body) join a gathered write and the batch's
acks are held (engine/worker_sink.py): a write of many batches' rows at once, every
``store_seconds`` or ``store_rows``, beside the agent; when the store has the rows and the
producer has flushed, the held events are acked and Faust may commit their offsets. (Writing
each batch before the next put ~36 ms of store time into the latency of every warning behind it.)
Guarantee: at least once, with exact state. A crash after outputs but before the commit replays
the batch; the outputs of a replay are the same ids and versions, so idempotent readers
(ReplacingMergeTree on (id, version)) see no duplicates. Pipeline state lives in memory and in
snapshots (engine/worker_state.py): when a worker gets a partition (start, restart, rebalance) it
rebuilds that partition's state from the newest snapshot at or below the offset Faust resumes at
(none: from offset 0) and replays the records after it up to that offset, outputs discarded
(they were produced before that offset was committed). Snapshots are saved every
``snapshot_every`` records or ``snapshot_seconds`` per partition, after a batch's outputs are
out, when a partition is revoked and at a clean stop. Each partition's escalation model learns in
its pipeline and its learned state is in the snapshots; on revoke and stop the worker also writes
the shared checkpoint DATA_DIR/models/learning.json (engine/worker_models.py). The centre's acts (签收/分流/处置/办结) are act records in
the same log, applied in their place (engine/worker_acts.py): the replay rebuilds the warnings'
closed-loop state too, and snapshots hold it. Registry records go to the store once, as read.

Back-pressure: a store that is slow or down (``SinkUnavailable``, e.g. a ClickHouse server down
with its spool full) makes ``store_write`` wait and retry with backoff; rows keep gathering up to
twice ``store_rows``, then the agent waits and takes no next batch, Faust's bounded stream buffer
fills and the consumer stops fetching. Memory stays flat, nothing is committed past what the
store holds (only the waiting batches' own warnings may be on the topic ahead of it), nothing is
dropped.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from pathlib import Path
from typing import Any

import faust

from sinks.store import StoreBatch
from streams.errors import SinkUnavailable
from streams.topics import H_LEVEL, H_VERSION, H_WARNING_ID, Topics, headers

from .config import Settings, hash_key
from .kafka_ingest import dead_letter_headers
from .metrics import Metrics
from .worker_acts import ActOutputs, act_headers, refusal_headers
from .worker_engine import Engine, codec_body, decode_batch, to_item
from .worker_sink import HeldWrites
from .worker_state import Snapshots

log = logging.getLogger("yujing.worker")
__all__ = ["Engine", "load_registries", "make_app", "run_worker", "store_write", "to_item"]


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
            msgs = [m for tp in sorted(got) for m in got[tp]]
            items = [to_item(m.value, m.topic, m.partition, m.offset) for m in msgs]
            if items:
                engine.add_registry(items)
                bodies = {it.record.id: m.value for it, m in zip(items, msgs)
                          if it.record is not None and codec_body(m.headers)}
                await store_write(store, StoreBatch(records=[i.record for i in items if i.record is not None],
                                                    bodies=bodies), engine)
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


def make_app(settings: Settings, bootstrap: str, topics: Topics, *, batch_size: int = 2000,
             within: float = 0.02, store: Any = None, app_id: str | None = None,
             metrics: Metrics | None = None, snapshot_dir: str | Path | None = None,
             snapshot_every: int = 50_000, snapshot_seconds: float = 300.0,
             store_rows: int = 10_000, store_seconds: float = 0.5) -> faust.App:
    """The Faust app. ``store``: an ``sinks.store.Store``, written in gathered writes beside the
    agent that hold the batches' acks (engine/worker_sink.py);
    ``metrics``: counted per batch, with consumer lag (engine/worker_metrics.py);
    ``snapshot_dir``: partition snapshots (default DATA_DIR/snapshots; ``snapshot_every=0``:
    none, every rebuild replays from offset 0). ``take_events(batch_size, within)``: a batch
    ends when full or ``within`` seconds after the agent asked for it, so ``within`` bounds the
    wait a record adds to its warning's latency; with a backlog batches fill up to
    ``batch_size``. Store writes gather batches up to ``store_rows`` rows or ``store_seconds``
    (engine/worker_sink.py), so one write and producer flush covers many small batches."""
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
        # the stream buffer holds one batch ahead while the agent works on the current one
        stream_buffer_maxsize=max(4096, 2 * batch_size), broker_max_poll_records=max(500, batch_size),
    )
    short_fetch_wait(app, max(10, int(within * 1000)))
    raw = dict(key_serializer="raw", value_serializer="raw")
    events = app.topic(topics.events, **raw)
    warnings = app.topic(topics.warnings, **raw)
    dead = app.topic(topics.dead_letters, **raw)
    snaps = None
    if snapshot_every > 0:
        snaps = Snapshots(snapshot_dir or Path(settings.data_dir) / "snapshots", topics.events,
                          hash_key=hash_key(settings))   # the files' MAC key
    engine = Engine(settings, metrics, snapshots=snaps, snapshot_every=snapshot_every,
                    snapshot_seconds=snapshot_seconds)
    app.yujing_engine = engine  # for tests and status
    engine.metrics.watch_spool(store)
    from .worker_metrics import LagWatcher, LoopLag
    lag = LagWatcher(app, engine, engine.metrics, topics.events)

    @app.task
    async def loop_lag() -> None:
        await LoopLag(engine.metrics).run()

    @app.timer(2.0)
    async def consumer_lag() -> None:
        await lag.update()

    alive = Path(settings.data_dir) / "worker.alive"

    @app.timer(5.0)
    async def heartbeat() -> None:
        """Liveness for container health checks: DATA_DIR/worker.alive, rewritten every 5 s
        (with the counts and the seconds spent per stage)."""
        import json
        engine.seconds["store"] = held.seconds
        alive.write_text(json.dumps({**engine.counts, "ready": engine.ready.is_set(),
                                     "seconds": {k: round(v, 3) for k, v in engine.seconds.items()},
                                     "partitions": sorted(engine.pipelines),
                                     "model_updates": engine.model_updates(), "at": time.time()}))

    held = HeldWrites(store, lambda: app.producer.flush(), lambda: app.consumer, max_rows=store_rows,
                      max_seconds=store_seconds,
                      write=lambda st, b: store_write(st, b, engine))

    @app.task
    async def registries() -> None:
        await load_registries(engine, bootstrap, topics.registries, store=store)

    def assigned() -> list[int]:
        return [tp.partition for tp in app.consumer.assignment() if tp.topic == topics.events]

    @app.agent(events, name="yujing-events")
    async def process(stream):
        await engine.ready.wait()   # unknown-region checks need the whole grid registry
        engine.prepare(assigned())
        # the registries and the rebuilt partitions live as long as the worker: out of the
        # collector's full passes (``gc.freeze``), which then walk only what came since
        gc.collect()
        gc.freeze()
        async for batch in stream.take_events(batch_size, within=within):
            await handle(batch)

    async def handle(batch) -> None:
        sec = engine.seconds
        t = t0 = time.perf_counter()
        # order within a partition is kept; partitions are independent
        by_part, bodies = decode_batch([ev.message for ev in batch])
        sec["decode"] += time.perf_counter() - t
        outs = []
        for part, items in sorted(by_part.items()):
            items = engine.fresh(part, items)
            if not items:
                continue
            await engine.ensure(bootstrap, topics.events, part, items[0].line)
            outs.append(engine.process(part, items))
        if not outs:
            return
        t = time.perf_counter()
        joined = ActOutputs()   # one write for every partition of the batch
        for out in outs:
            engine.metrics.observe(out)
            joined.add(out)
            joined.audit += out.audit
        sb = StoreBatch(records=joined.records, signals=joined.signals, warnings=joined.warnings,
                        rejects=joined.rejects, record_cases=joined.case_of, audit=joined.audit,
                        merged=joined.merges, bodies=bodies)
        msgs = [ev.message for ev in batch]
        # warnings and dead letters go to the producer at once and the rows join the gathered
        # write, which acks the batch once the store has them (engine/worker_sink.py): the
        # store's time is not in a warning's latency. A batch with the centre's acts is stored
        # first: the console answers the act from the warnings topic and then reads the store.
        if any(out.acted or out.refused for out in outs):
            await held.flush()
            await store_write(store, sb, engine)
            sb = StoreBatch()   # (stored; the acks still wait for the next producer flush)
        for out in outs:
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
        t1 = time.perf_counter()
        sec["produce"] += t1 - t
        await held.add(sb, msgs)
        sec["store_wait"] += time.perf_counter() - t1
        engine.metrics.open_cases.set(sum(len(p.linker.cases) for p in engine.pipelines.values()))
        if log.isEnabledFor(logging.DEBUG):   # how old the batch's records were when done
            ts = [ev.message.timestamp for ev in batch]   # (seconds)
            log.debug("batch of %d: oldest %.3fs, newest %.3fs old, handled in %.3fs; %s", len(batch),
                      time.time() - min(ts), time.time() - max(ts), time.perf_counter() - t0,
                      {k: round(v, 3) for k, v in sec.items()})
        await engine.save(topics.events, engine.due())

    @app.on_partitions_assigned.connect
    async def on_assigned(app_, assigned, **kw) -> None:
        if engine.ready.is_set():
            engine.prepare([tp.partition for tp in assigned if tp.topic == topics.events])

    @app.on_partitions_revoked.connect
    async def on_revoked(app_, revoked, **kw) -> None:
        mine = [tp.partition for tp in revoked if tp.topic == topics.events]
        await held.flush()   # (Faust has waited for the held acks already; this is the rest)
        await engine.save(topics.events, mine)   # the next owner starts from here
        engine.save_models(topics.events)        # the shared checkpoint, while the models are here
        engine.forget(mine)

    @app.on_before_shutdown.connect
    async def on_shutdown(app_, **kw) -> None:
        """A clean stop (SIGTERM/SIGINT; the agent has stopped): snapshot every partition held
        (one past the committed offset is passed over on load) and write the shared checkpoint."""
        await held.flush()
        await engine.save(topics.events, sorted(engine.pipelines))
        engine.save_models(topics.events)

    return app


def short_fetch_wait(app: faust.App, ms: int) -> None:
    """Faust's aiokafka consumer lets the broker hold a fetch up to 1.5 s (hard-coded), and
    aiokafka has one fetch in flight per broker: a fetch held open for partitions without new
    data delays the records that meanwhile arrived on the others (measured: records 0.5-2 s old
    when their batch started at 1,000 records/s). ``ms`` caps that hold (through the consumer
    attribute its ``start()`` hands to the fetcher)."""
    from faust.transport.drivers import aiokafka as drv

    class Thread(drv.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            cons = super()._create_worker_consumer(transport)
            cons._fetch_max_wait_ms = ms
            return cons

    class Consumer(drv.Consumer):
        def _new_consumer_thread(self):
            return Thread(self, loop=self.loop, beacon=self.beacon)

    app.transport.Consumer = Consumer


def run_worker(app: faust.App, loglevel: str = "warn") -> None:
    """Run until SIGINT/SIGTERM (Faust's worker: commits acked offsets on a clean stop)."""
    from faust.worker import Worker
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
