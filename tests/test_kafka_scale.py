"""Scale-out on a real broker: a second worker joins mid-stream on 8 partitions, then the first
leaves (SIGTERM) mid-stream; compared with an uninterrupted run (the in-process reference, which
the end-to-end test shows equal to one worker's run), nothing is missing or duplicated, on the
warnings topic and in the shared ClickHouse store."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

import pytest

from sinks.clickhouse_server import ServerStore
from streams.simulate import SimConfig, generate

from .kafka_fixtures import (
    ROOT, fresh_topics, read_all, reference, wait_until, warning_versions, worker_process,
)

pytestmark = pytest.mark.integration
CITY = SimConfig(days=2, scale=0.3)


def test_second_worker_joins_then_first_leaves_mid_stream(kafka_broker, clickhouse_server, tmp_path):
    bootstrap = kafka_broker.bootstrap
    topics = fresh_topics(bootstrap, 8)
    lines = list(generate(CITY))
    path = tmp_path / "city.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # keyed by subdistrict: this city's 2 district codes hash to one partition of 8, and the
    # test is about partitions moving between workers
    want, want_records = reference(lines, tmp_path / "ref", partitions=8, key_level="subdistrict")
    want_versions = {(w[0], w[1]) for w in want}
    assert len(want_versions) == len(want) >= 10
    db = f"scale_{uuid.uuid4().hex[:8]}"
    store = ["--store", clickhouse_server.url(db)]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]

    def warnings_now():
        return read_all(bootstrap, topics.warnings, idle_ms=500)[topics.warnings]

    # input keeps coming at 70 records/s (~41 s) while workers join and leave (at 150/s the
    # stream sometimes ended before the second worker had its first batch on a loaded machine)
    ingest = subprocess.Popen([sys.executable, "-m", "engine.cli_kafka", "ingest", str(path), "--bootstrap",
                               bootstrap, "--topic-prefix", topics.prefix, "--rate", "70", "--quiet",
                               "--key-level", "subdistrict"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with worker_process(bootstrap, topics.prefix, tmp_path / "a", logs[0], *store) as a:
            wait_until(lambda: len(warning_versions(warnings_now())) >= 3, 60, "first worker's warnings",
                       a, logs=logs[:1])
            with worker_process(bootstrap, topics.prefix, tmp_path / "b", logs[1], *store) as b:
                # B has partitions once it rebuilt some state from the log
                wait_until(lambda: "state rebuilt" in logs[1].read_text(), 60, "second worker's partitions",
                           a, b, logs=logs)
                assert ingest.poll() is None, "the stream ended before the second worker joined"
                a.send_signal(signal.SIGTERM)   # A leaves mid-stream: its partitions go to B
                assert a.wait(30) == 0, logs[0].read_text()[-3000:]
                assert ingest.poll() is None, "the stream ended before the first worker left"
                assert ingest.wait(120) == 0, ingest.stderr.read()
                wait_until(lambda: warning_versions(warnings_now()) >= want_versions, 90,
                           "all warnings after the hand-over", b, logs=logs)
                got = warnings_now()
    finally:
        if ingest.poll() is None:
            ingest.kill()
    a_log, b_log = (p.read_text() for p in logs)
    assert "state rebuilt" in b_log and "partition" in a_log

    bodies: dict[tuple, str] = {}
    for m in got:
        w = json.loads(m.value)
        # a version produced twice (by A before the hand-over, by B after) is the same bytes
        assert bodies.setdefault((w["id"], w["version"]), m.value.decode()) == m.value.decode()
    seen = {(w["id"], w["version"], w["level"], round(w["score"], 9), w["case_id"])
            for w in map(json.loads, bodies.values())}
    assert seen == set(want), "warnings lost, added or changed by the hand-over"
    final = {}
    for wid, ver, *_ in want:
        final[wid] = max(ver, final.get(wid, 0))
    got_final = {}
    for wid, ver in bodies:
        got_final[wid] = max(ver, got_final.get(wid, 0))
    assert got_final == final

    with ServerStore(clickhouse_server.url(db)) as s:
        ids = {r["id"] for r in s.query(f"SELECT id FROM {db}.records FINAL")}
        stored = {(r["id"], int(r["version"])) for r in s.query(f"SELECT id, version FROM {db}.warnings FINAL")}
    assert ids == want_records, f"{len(want_records - ids)} records missing from the store"
    assert stored == want_versions
    print(f"scale-out: {len(got)} warning messages, {len(bodies)} distinct, {len(ids)} records stored")
