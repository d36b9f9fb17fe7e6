"""The Kafka subcommands of ``yujing``; ``engine.cli`` calls ``add_commands(subparsers)``.

    yujing topics create [--bootstrap HOST:PORT] [--partitions N] [--topic-prefix P]
    yujing ingest FILE [--mapping MAP.yaml] [--bootstrap ...] [--rate N] [--key-level district]
    yujing ingest --simulate [--days 2 --scale 0.3 --seed 7]
    yujing worker [--bootstrap ...] [--store clickhouse://host:9000/yujing] [--batch-size 2000]
                  [--within 0.02] [--store-seconds 0.5 --store-rows 10000] [--snapshot-every 50000 --snapshot-seconds 300 --snapshot-dir D]
                  [-l warn] [--metrics-port 9108 [--metrics-host 0.0.0.0]]
    yujing console [--bootstrap ...] [--store clickhouse://...] [--host 0.0.0.0 --port 8000]
                   [--act-timeout 10] [--key-level district]   (engine/console_app.py)
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from streams.errors import SourceError
from streams.topics import DEFAULT_KEY_LEVEL, DEFAULT_PARTITIONS, DEFAULT_PREFIX, KEY_LEVELS, Topics

DEFAULT_BOOTSTRAP = os.environ.get("YUJING_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def create_topics(bootstrap: str, topics: Topics, partitions: int = DEFAULT_PARTITIONS,
                  timeout_ms: int = 30000) -> dict[str, str]:
    """Create every topic that does not exist yet; {name: "created" | "exists"}. Idempotent."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="yujing-topics",
                                 request_timeout_ms=timeout_ms)
    except KafkaError as exc:
        raise SourceError(f"cannot reach Kafka at {bootstrap}: {exc!r}") from None
    try:
        existing = set(admin.list_topics())
        result: dict[str, str] = {}
        for name, parts, config in topics.specs(partitions):
            if name in existing:
                result[name] = "exists"
                continue
            try:
                admin.create_topics([NewTopic(name, parts, 1, topic_configs=config)],
                                    timeout_ms=timeout_ms)
                result[name] = "created"
            except TopicAlreadyExistsError:   # a concurrent create won the race: fine
                result[name] = "exists"
        return result
    finally:
        admin.close()


def _topics(args: argparse.Namespace) -> Topics:
    # kafka-python logs every connection at INFO; the command's own output says what matters
    logging.getLogger("kafka").setLevel(logging.WARNING)
    return Topics(args.topic_prefix)


def _cmd_topics_create(args: argparse.Namespace) -> int:
    res = create_topics(args.bootstrap, _topics(args), args.partitions)
    print(json.dumps(res, ensure_ascii=False))
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from streams.sources import decode_lines, open_source

    from .kafka_ingest import ingest
    if args.simulate:
        from streams.simulate import SimConfig, generate
        cfg = SimConfig(days=args.days, seed=args.seed, scale=args.scale)
        items: Any = decode_lines(generate(cfg), source=f"simulate-seed{cfg.seed}")
    elif args.file:
        items = open_source(args.file, args.mapping)
    else:
        raise SourceError("ingest needs a FILE or --simulate")
    summary = ingest(items, args.bootstrap, _topics(args), rate=args.rate,
                     progress=None if args.quiet else sys.stderr, key_level=args.key_level)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def open_worker_store(settings: Any, spool_max_mb: float | None = None, wait: float = 120.0):
    """The worker's store: a ClickHouse server (``store_url``, spool under DATA_DIR/spool) or the
    embedded chDB under DATA_DIR/chdb. A server not up yet is waited for (``wait`` seconds)."""
    import time

    from streams.errors import SinkUnavailable
    if not settings.store_url:
        from sinks.chdb_store import ChdbStore
        return ChdbStore(settings.data_dir / "chdb")
    from sinks.clickhouse_server import ServerStore
    from sinks.spool import DEFAULT_MAX_BYTES
    cap = int(spool_max_mb * 1024 * 1024) if spool_max_mb else DEFAULT_MAX_BYTES
    deadline, delay = time.monotonic() + wait, 0.5
    while True:
        try:
            return ServerStore(settings.store_url, spool_dir=settings.data_dir / "spool",
                               spool_max_bytes=cap)
        except SinkUnavailable as exc:
            if time.monotonic() > deadline:
                raise
            logging.getLogger("yujing.worker").warning("store not reachable yet: %s", exc)
            time.sleep(delay)
            delay = min(5.0, delay * 2)


def _cmd_worker(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .worker import make_app, run_worker
    settings = load_settings(args.config, data_dir=args.data_dir, store_url=args.store)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from .metrics import Metrics
    from .pipeline import LATENCY_GC_THRESHOLD, tune_gc
    from .worker_metrics import serve_metrics
    tune_gc(LATENCY_GC_THRESHOLD)   # bounded collector pauses (engine/pipeline.py)
    from streams import native
    logging.getLogger("yujing.worker").info("linker and rules: %s", native.describe())
    store = open_worker_store(settings, args.spool_max_mb)
    metrics = Metrics()
    server = serve_metrics(metrics, args.metrics_host, args.metrics_port) if args.metrics_port else None
    try:
        app = make_app(settings, args.bootstrap, _topics(args), batch_size=args.batch_size,
                       within=args.within, app_id=args.group, store=store, metrics=metrics,
                       snapshot_dir=args.snapshot_dir, snapshot_every=args.snapshot_every,
                       snapshot_seconds=args.snapshot_seconds, store_rows=args.store_rows,
                       store_seconds=args.store_seconds)
        run_worker(app, args.log_level)
    finally:
        if server is not None:
            server.shutdown()
        store.close()
    return 0


def _cmd_console(args: argparse.Namespace) -> int:
    import asyncio

    from .config import load_settings
    from .console_app import serve_console
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = load_settings(args.config, data_dir=args.data_dir, store_url=args.store,
                             host=args.host, port=args.port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_worker_store(settings)
    try:
        asyncio.run(serve_console(settings, args.bootstrap, _topics(args), store,
                                  act_timeout=args.act_timeout, key_level=args.key_level))
    finally:
        store.close()
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP,
                   help="Kafka bootstrap HOST:PORT (default $YUJING_KAFKA_BOOTSTRAP or 127.0.0.1:9092)")
    p.add_argument("--topic-prefix", default=DEFAULT_PREFIX,
                   help=f"topic names are PREFIX.events, PREFIX.registries, ... (default {DEFAULT_PREFIX})")


def _key_level(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-level", choices=KEY_LEVELS,
                   default=os.environ.get("YUJING_KEY_LEVEL", DEFAULT_KEY_LEVEL),
                   help="events are keyed (and partitioned) by 区县 district or 街道 subdistrict code; "
                   "ingest and console must agree, the worker does not care (default "
                   f"$YUJING_KEY_LEVEL or {DEFAULT_KEY_LEVEL}: spreads the load; district misses fewer "
                   "cross-partition links but crowds a few partitions, docs/kafka.md)")


def add_commands(sub: Any) -> None:
    """Add ``topics``, ``ingest``, ``worker`` and ``console`` to the ``yujing`` subparsers."""
    t = sub.add_parser("topics", help="Kafka topics")
    ts = t.add_subparsers(dest="topics_command", required=True)
    tc = ts.add_parser("create", help="create the topics (existing ones are left as they are)")
    _common(tc)
    tc.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS,
                    help=f"partitions of the events and warnings topics (default {DEFAULT_PARTITIONS})")
    tc.set_defaults(func=_cmd_topics_create)

    i = sub.add_parser("ingest", help="publish a file (or the synthetic city) to Kafka")
    i.add_argument("file", nargs="?", help="JSONL/JSON of yujing records, or an export with --mapping")
    i.add_argument("--mapping", help="YAML mapping for another system's export")
    _common(i)
    i.add_argument("--rate", type=float, help="at most N records a second (default: as fast as possible)")
    i.add_argument("--simulate", action="store_true", help="publish the synthetic city instead of a file")
    i.add_argument("--days", type=int, default=2)
    i.add_argument("--seed", type=int, default=7)
    i.add_argument("--scale", type=float, default=0.3)
    i.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    _key_level(i)
    i.set_defaults(func=_cmd_ingest)

    w = sub.add_parser("worker", help="run the engine as a Faust worker on Kafka")
    _common(w)
    w.add_argument("--config", help="YAML settings file (see engine/config.py)")
    w.add_argument("--data-dir", help="data folder: DATA_DIR/chdb (embedded store), DATA_DIR/spool, "
                   "DATA_DIR/faust")
    w.add_argument("--store", metavar="URL", help="clickhouse://user:pass@host:9000/db: a ClickHouse "
                   "server instead of the embedded chDB store (default $YUJING_STORE_URL)")
    w.add_argument("--spool-max-mb", type=float, help="on-disk spool while the server is down "
                   "(default 1024 MB); when full the worker holds the stream")
    w.add_argument("--batch-size", type=int, default=2000,
                   help="most events per batch")
    w.add_argument("--store-seconds", type=float, default=0.5, metavar="T",
                   help="gather batches' store rows for up to T seconds into one write (offsets "
                   "are committed after the write: T delays the commit, not the warnings)")
    w.add_argument("--store-rows", type=int, default=10_000, metavar="N",
                   help="... or until N rows have gathered")
    w.add_argument("--within", type=float, default=0.02,
                   help="seconds to wait for a batch to fill before processing what came (the "
                   "wait a record may add to its warning's latency; 0.05 makes larger batches "
                   "under a backlog, fewer per-batch costs, and measured a p99 of 239-293 ms at "
                   "1,000 records/s against 86-165 ms at 0.02, docs/kafka.md)")
    w.add_argument("--snapshot-every", type=int, default=50_000, metavar="N",
                   help="snapshot a partition's state every N records (0 = never: a partition "
                   "the worker gets is rebuilt by replaying it from offset 0)")
    w.add_argument("--snapshot-seconds", type=float, default=300.0, metavar="T",
                   help="... or T seconds after the last one, if it took records since")
    w.add_argument("--snapshot-dir", help="where snapshots go (default DATA_DIR/snapshots; a "
                   "folder shared by the workers lets any of them resume any partition)")
    w.add_argument("--group", help="consumer group / Faust app id (default PREFIX-worker)")
    w.add_argument("--metrics-port", type=int, default=int(os.environ.get("YUJING_METRICS_PORT", 0)),
                   help="serve Prometheus metrics (consumer lag, records, rejects...) on this port "
                   "at /metrics (default $YUJING_METRICS_PORT; 0 = off)")
    w.add_argument("--metrics-host", default=os.environ.get("YUJING_METRICS_HOST", "127.0.0.1"),
                   help="address for --metrics-port (default $YUJING_METRICS_HOST or 127.0.0.1; "
                   "0.0.0.0 in a container)")
    w.add_argument("-l", "--log-level", default="warn",
                   choices=["crit", "error", "warn", "info", "debug"], help="Faust's log level")
    w.set_defaults(func=_cmd_worker)

    c = sub.add_parser("console", help="serve the console on Kafka: reads the store, pushes the "
                       "warnings topic, sends the centre's acts to the workers")
    _common(c)
    c.add_argument("--config", help="YAML settings file (see engine/config.py)")
    c.add_argument("--data-dir", help="data folder: routing.yaml, secret/users.yaml, DATA_DIR/spool")
    c.add_argument("--store", metavar="URL", help="clickhouse://user:pass@host:9000/db: the workers' "
                   "ClickHouse server (default $YUJING_STORE_URL; without it the embedded chDB store "
                   "under DATA_DIR, for a single-machine try only)")
    c.add_argument("--host", help="address to serve on (default $YUJING_HOST or 127.0.0.1)")
    c.add_argument("--port", type=int, help="port (default $YUJING_PORT or 8000)")
    c.add_argument("--act-timeout", type=float, default=10.0,
                   help="seconds an act (签收/分流/办结) waits for the worker's answer before 503")
    _key_level(c)
    c.set_defaults(func=_cmd_console)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m engine.cli_kafka ...``) until ``engine.cli`` registers us."""
    import engine.cli as cli
    base = cli.parser

    def extended() -> argparse.ArgumentParser:
        p = base()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        if "ingest" not in sub.choices:
            add_commands(sub)
        return p
    cli.parser = extended
    try:
        return cli.main(argv)
    finally:
        cli.parser = base


if __name__ == "__main__":
    sys.exit(main())
