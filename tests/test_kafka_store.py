"""The worker's store: written before outputs, and back-pressure when it is down.

A unit test with a store stub (``store_write`` waits, never drops), the per-partition offset
bookkeeping, and one test on a real ClickHouse server stopped mid-stream: the worker holds the
stream (no offsets committed, no warnings produced, memory flat) and catches up when it returns.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from engine.config import load_settings
from engine.worker import Engine, store_write, to_item
from sinks.clickhouse_server import ServerStore
from sinks.store import StoreBatch
from streams.errors import SinkUnavailable
from streams.simulate import SimConfig, generate

from .kafka_fixtures import (
    read_all, reference, wait_until, warning_versions, worker_process, yujing_kafka,
)

CITY = SimConfig(days=2, scale=0.3)


class DownStore:
    """Unavailable ``down`` times, then takes writes."""

    def __init__(self, down: int):
        self.down, self.calls, self.written = down, 0, []

    def write(self, batch):
        self.calls += 1
        if self.calls <= self.down:
            raise SinkUnavailable("server down (stub)")
        self.written.append(batch)


def test_store_write_waits_for_the_store_and_writes_once():
    store = DownStore(3)
    eng = Engine(load_settings())
    batch = StoreBatch(records=[object()])
    t0 = time.monotonic()
    asyncio.run(store_write(store, batch, eng, base_delay=0.05))
    assert store.written == [batch] and store.calls == 4
    assert eng.counts["store_waits"] == 3 and time.monotonic() - t0 >= 0.05 + 0.1 + 0.2


def test_store_write_holds_the_caller_while_down():
    store = DownStore(10**9)

    async def go():
        task = asyncio.create_task(store_write(store, StoreBatch(records=[object()]), base_delay=0.01,
                                               max_delay=0.02))
        await asyncio.sleep(0.5)
        assert not task.done(), "the write must wait, not give up or drop"
        task.cancel()
    asyncio.run(go())
    assert store.calls >= 5 and not store.written


def test_engine_skips_seen_offsets_and_rebuilds_on_a_gap():
    eng = Engine(load_settings())
    items = [to_item(b"{bad", "t", 0, n) for n in range(10, 15)]   # rejects: no state needed
    assert eng.fresh(0, items) == items            # no state yet: nothing to skip
    asyncio.run(eng.ensure("unused:1", "t", 0, 0))  # offset 0: a fresh pipeline, no replay
    eng.process(0, [to_item(b"{bad", "t", 0, n) for n in range(0, 12)])
    assert eng.next_offset[0] == 12
    assert [i.line for i in eng.fresh(0, items)] == [12, 13, 14] and eng.counts["skipped"] == 2
    eng.forget([0])
    assert 0 not in eng.pipelines and 0 not in eng.next_offset


@pytest.mark.integration
def test_worker_holds_the_stream_while_clickhouse_is_down(kafka_broker, kafka_topics, own_clickhouse_server,
                                                          tmp_path):
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    bootstrap, server = kafka_broker.bootstrap, own_clickhouse_server
    lines = list(generate(CITY))
    path = tmp_path / "city.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    want, want_records = reference(lines, tmp_path / "ref")
    want_versions = {(w[0], w[1]) for w in want}
    log = tmp_path / "w.log"
    # a tiny spool: once it is full the store pushes back (a real one holds 1 GiB first); rows
    # gather for the store up to twice --store-rows, then the agent is held (engine/worker_sink.py)
    with worker_process(bootstrap, kafka_topics.prefix, tmp_path / "data", log, "--store", server.url(),
                        "--spool-max-mb", "0.05", "--batch-size", "200", "--store-rows", "200") as proc:
        wait_until(lambda: "registries loaded" in log.read_text() or None, 60, "worker start", proc, logs=[log])
        server.stop()
        yujing_kafka("ingest", str(path), "--bootstrap", bootstrap, "--topic-prefix", kafka_topics.prefix,
                     "--quiet")
        wait_until(lambda: "holding the stream" in log.read_text(), 60, "back-pressure", proc, logs=[log])
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        cons = KafkaConsumer(bootstrap_servers=bootstrap)
        tps = [TopicPartition(kafka_topics.events, p) for p in range(4)]
        ends = cons.end_offsets(tps)
        cons.close()

        def held():
            group = f"{kafka_topics.prefix}-worker"
            committed = admin.list_group_offsets({group: None}).get(group, {})
            done = sum(committed[tp].offset for tp in tps if tp in committed)
            n = len(warning_versions(read_all(bootstrap, kafka_topics.warnings, idle_ms=300)[kafka_topics.warnings]))
            rss = int(next(x for x in open(f"/proc/{proc.pid}/status") if x.startswith("VmRSS")).split()[1])
            return done, n, rss
        time.sleep(1)
        d1, n1, rss1 = held()
        time.sleep(4)
        d2, n2, rss2 = held()
        admin.close()
        assert proc.poll() is None, log.read_text()[-3000:]
        assert d1 == d2 < sum(ends.values()), "offsets were committed while the store was down"
        assert n1 == n2 < len(want_versions), "warnings kept going out while the store was down"
        assert rss2 - rss1 < 30_000, f"memory grew by {rss2 - rss1} kB while held"
        server.start()   # same ports: the worker's retries find it
        wait_until(lambda: warning_versions(read_all(bootstrap, kafka_topics.warnings, idle_ms=500)
                                            [kafka_topics.warnings]) >= want_versions,
                   90, "catching up after the store returned", proc, logs=[log])
    with ServerStore(server.url()) as s:
        ids = {r["id"] for r in s.query("SELECT id FROM yujing.records FINAL")}
        stored = {(r["id"], int(r["version"])) for r in s.query("SELECT id, version FROM yujing.warnings FINAL")}
    assert ids == want_records and stored == want_versions
    print(f"held at {d1} of {sum(ends.values())} offsets, {n1} warnings; then caught up")
