"""``yujing run``: the whole engine in one process on the embedded store.

The runner and the web server share one asyncio loop; Ctrl-C (SIGINT) or SIGTERM
stops the runner after its current batch, flushes the store and the dead letters,
then stops the server.
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterable

import uvicorn

from graph.detector import GraphDetector
from rules.detector import PackDetector
from rules.packs import load_packs
from rules.reload import PackReloader, ProfileMetric
from sinks.deadletter import DeadLetterFile
from sinks.sse import SseHub
from streams import native
from streams.privacy import Hasher
from streams.sources import Item

from .config import Settings, hash_key
from . import gate
from .lifecycle import open_desk
from .metrics import Metrics
from .pipeline import Pipeline, tune_gc
from .runner import Runner
from .users import open_users
from .warning_book import WarningBook
from .web import make_app

log = logging.getLogger("yujing")


def build_pipeline(settings: Settings, checkpoint: Path | bool = True) -> Pipeline:
    """The pipeline over the rule packs of ``settings.rules_dir`` (a pack failing lint stops
    the start with file:line:col). ``checkpoint``: where the escalation model starts from
    (True: DATA_DIR/models/learning.json if there; False: cold; a path: that file if there;
    the Kafka workers pin theirs, engine/worker_models.py)."""
    book = WarningBook(settings.levels, fusion=settings.fusion)
    hasher = Hasher(hash_key(settings))
    detectors: list = [PackDetector(load_packs(settings.rules_dir).specs)]  # first: hot reload
    if settings.graph_patterns:
        detectors.append(GraphDetector(hasher, retention=timedelta(days=settings.retention_days)))
    if settings.learning:  # the escalation model, warm from its checkpoint (docs/learning.md)
        if checkpoint is True:
            checkpoint = settings.data_dir / "models" / "learning.json"
        detectors += learning_detectors(checkpoint or None)
    return Pipeline(hasher, detectors, book,
                    lateness=timedelta(hours=settings.lateness_hours),
                    retention=timedelta(days=settings.retention_days))


def open_store(settings: Settings):
    """The embedded chDB store, or a ClickHouse server (with a spool under the data folder)."""
    if settings.store_url:
        from sinks.clickhouse_server import ServerStore
        return ServerStore(settings.store_url, spool_dir=settings.data_dir / "spool")
    from sinks.chdb_store import ChdbStore  # heavy import: only when a store is wanted
    return ChdbStore(settings.data_dir / "chdb")


async def serve_and_play(settings: Settings, items: Iterable[Item], *, exit_when_done: bool,
                         progress_every: float = 5.0) -> dict:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    hub = SseHub()
    # closed loop (issue 6): routing policy, SLA timers, webhooks; see engine/lifecycle.py.
    # Config (routing policy, rule packs) is read before the store is opened: a bad file stops
    # the start without touching the data.
    desk = open_desk(settings.data_dir, metrics.registry, hub.publish)
    pipeline = build_pipeline(settings)
    tune_gc()   # a stream: the cyclic GC far less often (engine/pipeline.py, GC_THRESHOLD)
    log.info("linker and rules: %s", native.describe())
    users = open_users(settings)
    # rules profile (平时/战时/...): `yujing rules profile NAME` writes DATA_DIR/rules-profile
    reloader = PackReloader(settings.rules_dir, pipeline.detectors[0],
                            profile_file=settings.data_dir / "rules-profile")
    metrics.set_pack_versions(reloader.versions())
    profile_metric = ProfileMetric(metrics.registry)
    profile_metric.set(reloader.profile(), reloader.profiles())
    for err in reloader.errors:
        log.error("rules profile: %s", err)
    log.info("rules profile %s active (known: %s)", reloader.profile(), ", ".join(reloader.profiles()))
    store = open_store(settings)
    metrics.watch_spool(store)  # ops (issue 9): spool size of a ClickHouse server's store
    prime_desk_metrics(desk)
    dead = DeadLetterFile(settings.data_dir / "dead-letters" / "rejects.jsonl")
    runner = Runner(pipeline, store, metrics=metrics, dead_letters=dead,
                    publish=hub.publish, speed=settings.speed, batch_size=settings.batch_size,
                    desk=desk)
    stop = asyncio.Event()
    app = make_app(store, hub, metrics, runner.progress.as_dict, stop, runner=runner,
                   data_dir=settings.data_dir)
    gate.install(app, users, audit=runner.note_access)  # login; who sees what (engine/auth.py)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # ours below stop the runner first
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve_task = asyncio.create_task(server.serve())
    while not server.started:
        if serve_task.done():
            store.close()
            serve_task.result()  # raises the bind error, if that is what happened
            raise SystemExit(f"could not serve on {settings.host}:{settings.port}")
        await asyncio.sleep(0.05)
    log.info("console on http://%s:%d/  metrics on /metrics", settings.host, settings.port)

    async def report() -> None:
        while True:
            await asyncio.sleep(progress_every)
            p = runner.progress.as_dict()
            log.info("processed %d records (%d rejected, %d duplicates), %d warning versions, "
                     "event time %s, %.0f items/s", p["records"], p["rejects"], p["duplicates"],
                     p["warnings"], p["event_time"], p["items_per_s"])

    async def reload_rules() -> None:
        # runs on the loop between batches, so a swap never lands inside Pipeline.process
        while True:
            await asyncio.sleep(settings.rules_poll_seconds)
            res = reloader.poll()
            if res is not None:
                (log.info if res.ok else log.error)("rule packs: %s", res.summary())
                metrics.set_pack_versions(reloader.versions())
                profile_metric.set(reloader.profile(), reloader.profiles())

    reporter = asyncio.create_task(report())
    reloading = asyncio.create_task(reload_rules())
    desk.start(stop)  # closed loop: SLA ticker and webhook workers
    started = time.monotonic()
    try:
        result = await runner.play(items, stop)
        log.info("%s: %s", "stopped" if stop.is_set() else "input finished", result.as_dict())
        if not exit_when_done and not stop.is_set():
            log.info("replay done; the console stays up until Ctrl-C")
            await runner.serve_inbox(stop)  # closed loop: acts still apply after the input ends
    finally:
        reporter.cancel()
        reloading.cancel()
        stop.set()
        await desk.close()  # closed loop: undelivered webhooks go to dead letters
        dead.close()
        save_graph(pipeline, settings.data_dir / "graph.json")
        save_models(pipeline, settings.data_dir / "models" / "learning.json")
        await asyncio.to_thread(store.close)
        server.should_exit = True
        await serve_task
    summary = runner.progress.as_dict()
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def prime_desk_metrics(desk) -> None:
    """Create the desk's labelled series at 0 (every level's SLA breaches, every webhook's
    failures) so that Prometheus sees the first breach or failure as an increase, and the
    dashboard shows 0 rather than "no data"."""
    from streams.codes import Level
    for level in Level:
        desk.breaches.labels(level.value)
    if desk.sender is not None:
        for hook in desk.policy.webhooks:
            desk.sender.failures.labels("webhook", hook.name)


def save_graph(pipeline: Pipeline, path: Path) -> None:
    """The relationship graph, if the graph detector runs, for `yujing graph explain`."""
    for d in pipeline.detectors:
        if isinstance(d, GraphDetector):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(d.snapshot(), ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)


def learning_detectors(path: Path | None) -> list:
    """The escalation model, restored from ``path`` if a checkpoint is there (None: cold).  A
    checkpoint that does not load (another version, a damaged file) is logged and the model
    starts cold."""
    from learning import EscalationDetector, checkpoint
    model = EscalationDetector()
    if path is not None and path.exists():
        try:
            done = checkpoint.load(path, [model])
            log.info("learning: loaded %s from %s (%d labels learned)", ", ".join(done), path,
                     model.updates)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("learning: checkpoint %s not loaded (%s); the model starts cold", path, exc)
            model = EscalationDetector()
    return [model]


def learning_models(pipeline: Pipeline) -> list:
    """The pipeline's learning detectors (those a checkpoint holds)."""
    return [d for d in pipeline.detectors if callable(getattr(d, "observe_outcome", None))
            and str(getattr(d, "name", "")).startswith("learning.")]


def save_models(pipeline: Pipeline, path: Path, meta: dict | None = None) -> bool:
    """The learning detectors' checkpoint (``learning.checkpoint``), if any run; ``meta`` goes
    in the file (default ``{"saved_by": "yujing run"}``). Whether one was written."""
    from learning import checkpoint
    models = learning_models(pipeline)
    if models:
        checkpoint.save(path, models, meta or {"saved_by": "yujing run"})
        log.info("learning: checkpoint saved to %s", path)
    return bool(models)


def items_for(settings: Settings, input_path: str | Path | None, mapping: str | Path | None):
    """The items to play: a file (with an optional mapping) or the synthetic city."""
    if input_path:
        from streams.sources import open_source
        return open_source(input_path, mapping)
    from streams.simulate import SimConfig, generate
    from streams.sources import decode_lines
    cfg = SimConfig(days=settings.sim_days, seed=settings.sim_seed, scale=settings.sim_scale)
    return decode_lines(generate(cfg), source=f"simulate-seed{cfg.seed}")
