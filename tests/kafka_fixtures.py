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
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from streams.topics import Topics, header_map

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


@pytest.fixture
def kafka_topics(kafka_broker) -> Topics:
    """A fresh set of topics (own prefix, created) so tests never see each other's messages."""
    from engine.cli_kafka import create_topics
    topics = Topics(f"t{uuid.uuid4().hex[:10]}")
    create_topics(kafka_broker.bootstrap, topics, 4)
    return topics


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


__all__ = ["kafka_broker", "kafka_topics", "read_all", "headers_of", "shared_broker", "yujing_kafka"]
