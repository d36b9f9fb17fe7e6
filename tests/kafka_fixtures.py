"""Pytest fixtures for the real Kafka broker (a plugin module).

Register once in tests/conftest.py::

    pytest_plugins = ["tests.kafka_fixtures"]

(Until then the Kafka test modules import the fixtures themselves; both ways share one broker,
because the broker is a process-wide singleton, stopped at exit.) If the broker cannot be
fetched or started the tests FAIL with its log; they never skip.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import pytest

from streams.topics import Topics, header_map

from .engine_proc import terminate
from .kafka_broker import KafkaBroker

ROOT = Path(__file__).resolve().parents[1]
_lock = threading.Lock()
_broker: KafkaBroker | None = None


def shared_broker() -> KafkaBroker:
    """The one broker of this test process, started on first use."""
    global _broker
    with _lock:
        if _broker is None:
            b = KafkaBroker()
            b.start()            # raises BrokerError with the broker's log: the test fails
            atexit.register(b.stop)
            _broker = b
        return _broker


@pytest.fixture(scope="session")
def kafka_broker() -> KafkaBroker:
    """A running broker (session-wide); ``.bootstrap`` is its HOST:PORT."""
    return shared_broker()


def fresh_topics(bootstrap: str, partitions: int = 4) -> Topics:
    """Topics under a new prefix, created with ``partitions`` events/warnings partitions."""
    from engine.cli_kafka import create_topics
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    create_topics(bootstrap, topics, partitions)
    return topics


@pytest.fixture
def kafka_topics(kafka_broker) -> Topics:
    """A fresh set of topics (own prefix, created) so tests never see each other's messages."""
    return fresh_topics(kafka_broker.bootstrap, 4)


@contextmanager
def worker_process(bootstrap: str, prefix: str, data_dir, log_path, *extra: str):
    """``yujing worker`` as a subprocess; SIGTERM (then SIGKILL) when the block ends."""
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli_kafka", "worker", "--bootstrap", bootstrap,
                             "--topic-prefix", prefix, "--data-dir", str(data_dir), "-l", "info", *extra],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        terminate(proc, signal.SIGTERM)
        log.close()


def reference(lines: list[str], data_dir, partitions: int = 4,
              key_level: str | None = None) -> tuple[list[tuple], set[str]]:
    """The in-process reference of an uninterrupted run: one ``Pipeline`` per partition over the
    same records (registries first), split as ``yujing ingest`` splits them at ``key_level``
    (default: ingest's). (warnings as (id, version, level, score, case), record ids)."""
    from engine.app import build_pipeline
    from engine.config import load_settings
    from engine.kafka_ingest import Router
    from streams.sources import decode_lines
    from streams.topics import DEFAULT_KEY_LEVEL, route
    items = list(decode_lines(lines, source="ref"))
    settings = load_settings(data_dir=data_dir)
    registry = [i for i in items if i.record is not None and route(i.record) == "registries"]
    by_part: dict[int, list] = {}
    router = Router(partitions, key_level or DEFAULT_KEY_LEVEL)
    for it in items:
        rec = it.record
        if rec is None or route(rec) == "registries":
            continue
        for p in router.target(rec)[1]:
            by_part.setdefault(p, []).append(it)
    warnings, records = [], {i.record.id for i in registry}
    for items_p in by_part.values():
        p = build_pipeline(settings)
        p.process(registry)
        out = p.process(items_p)
        warnings += [(w.id, w.version, w.level.value, round(w.score, 9), w.case_id) for w in out.warnings]
        records |= {r.id for r in out.records}
    return warnings, records


def warning_versions(msgs) -> set[tuple[str, int]]:
    """Distinct (warning id, version) of warnings-topic messages (from headers)."""
    return {(headers_of(m)["yujing-warning-id"], int(headers_of(m)["yujing-version"])) for m in msgs}


def wait_until(check, timeout: float, what: str, *procs, logs=(), every: float = 0.5):
    """Poll ``check()`` until truthy; fail with the workers' logs on timeout or a worker exit."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        dead = [p for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            tails = "\n".join(Path(p).read_text(errors="replace")[-3000:] for p in logs)
            raise AssertionError(f"{what}: {'a worker exited' if dead else 'timed out'}\n{tails}")
        time.sleep(every)


def read_all(bootstrap: str, *topics: str, idle_ms: int = 1500) -> dict[str, list]:
    """Every message now on ``topics`` (read from the start until idle), by topic."""
    from kafka import KafkaConsumer
    cons = KafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                         auto_offset_reset="earliest", consumer_timeout_ms=idle_ms,
                         enable_auto_commit=False)
    out: dict[str, list] = defaultdict(list)
    try:
        for m in cons:
            out[m.topic].append(m)
    finally:
        cons.close()
    for msgs in out.values():
        msgs.sort(key=lambda m: (m.partition, m.offset))
    return out


def headers_of(msg) -> dict[str, str]:
    return header_map(msg.headers)


def yujing_kafka(*args: str, timeout: float = 120) -> dict:
    """Run a Kafka subcommand as a user does; its JSON summary (stdout's last line)."""
    res = subprocess.run([sys.executable, "-m", "engine.cli_kafka", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"yujing {' '.join(args)} exited {res.returncode}:\n{res.stderr[-3000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])


__all__ = ["kafka_broker", "kafka_topics", "fresh_topics", "read_all", "headers_of", "shared_broker",
           "yujing_kafka", "worker_process", "reference", "warning_versions", "wait_until"]
