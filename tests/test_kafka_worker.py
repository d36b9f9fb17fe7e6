"""End to end on a real broker: ``yujing ingest`` + ``yujing worker`` → the warnings topic.

The evidence is independent of the Kafka path: the warnings expected are what the in-process
``Pipeline`` gives for the same file when each partition's records (registries first, then the
partition's records in file order) go through their own pipeline, as the worker's contract says.
"""
from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter

import pytest
from kafka import KafkaProducer

from streams.simulate import SimConfig, generate
from streams.topics import H_REASON, H_STAGE, H_VERSION, H_WARNING_ID, partition_for

from .kafka_fixtures import headers_of, read_all, reference, wait_until, worker_process, yujing_kafka

pytestmark = pytest.mark.integration
CITY = SimConfig(days=2, scale=0.3)


def expected_warnings(lines: list[str], data_dir, partitions: int = 4) -> list[tuple]:
    """The in-process reference: one Pipeline per partition over the same records."""
    return reference(lines, data_dir, partitions)[0]


worker = worker_process  # (bootstrap, prefix, data_dir, log_path)


def wait_for_warnings(bootstrap, topics, n, proc, log_path, timeout=90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = read_all(bootstrap, topics.warnings, topics.dead_letters, idle_ms=800)
        # distinct versions: after a crash a replay may repeat some, which must not end the wait
        have = {(m.key, headers_of(m)[H_WARNING_ID], headers_of(m)[H_VERSION]) for m in got[topics.warnings]}
        if len(have) >= n:
            return got
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{len(have)} of {n} warnings; worker "
                                 f"{'exited ' + str(proc.returncode) if proc.poll() is not None else 'still running'}:\n"
                                 + log_path.read_text()[-4000:])
        time.sleep(0.5)


def test_ingest_and_worker_give_the_in_process_warnings(kafka_broker, kafka_topics, tmp_path):
    bootstrap = kafka_broker.bootstrap
    lines = list(generate(CITY))
    path = tmp_path / "city.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    want = expected_warnings(lines, data)
    assert len(want) >= 10, "the test city should raise warnings"

    # bad records written straight to the events topic, ahead of good ones on the same partition
    sub_p = partition_for("629901001000", 4)
    prod = KafkaProducer(bootstrap_servers=bootstrap)
    for raw in (b'{"kind": "call", "id": "broken"', b"\xff\xfe not utf-8", b'{"kind": "spaceship", "id": "x"}'):
        prod.send(kafka_topics.events, raw, key=b"629901001000", partition=sub_p)
    prod.flush()
    prod.close()

    summary = yujing_kafka("ingest", str(path), "--bootstrap", bootstrap, "--topic-prefix",
                           kafka_topics.prefix, "--quiet")
    t0 = time.monotonic()
    # at debug level: a batch once crashed only there, in the per-batch debug line
    with worker(bootstrap, kafka_topics.prefix, data, tmp_path / "worker.log", "-l", "debug") as proc:
        got = wait_for_warnings(bootstrap, kafka_topics, len(want), proc, tmp_path / "worker.log")
        time.sleep(2)  # nothing more should come
        got = read_all(bootstrap, kafka_topics.warnings, kafka_topics.dead_letters)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
    crashed = [ln for ln in (tmp_path / "worker.log").read_text().splitlines() if "Crashed reason" in ln]
    assert not crashed, f"the agent crashed (Faust restarts it, so outputs may still arrive): {crashed[:3]}"

    seen = []
    for m in got[kafka_topics.warnings]:
        w = json.loads(m.value)
        h = headers_of(m)
        assert m.key.decode() == w["case_id"]
        assert (h[H_WARNING_ID], int(h[H_VERSION])) == (w["id"], w["version"])
        seen.append((w["id"], w["version"], w["level"], round(w["score"], 9), w["case_id"]))
    assert Counter(seen) == Counter(want), "the worker's warnings differ from the in-process pipeline's"
    # a warning's versions arrive in order on one partition (keyed by case id)
    by_id: dict[str, list[int]] = {}
    for wid, ver, *_ in seen:
        by_id.setdefault(wid, []).append(ver)
    assert all(v == sorted(v) for v in by_id.values())

    dead = [headers_of(m) for m in got[kafka_topics.dead_letters]]
    worker_reasons = Counter(h[H_REASON] for h in dead if h[H_STAGE] == "worker")
    assert worker_reasons["malformed_json"] >= 2 and worker_reasons["unknown_kind"] >= 1
    assert worker_reasons["unknown_region"] >= 1, "the city plants records outside its grids"
    assert sum(1 for h in dead if h[H_STAGE] == "ingest") == sum(summary["rejects"].values())
    print(f"worker: {len(seen)} warnings in {seconds:.1f}s from start")


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of ``topic``."""
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offs = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: o.offset for tp, o in offs.items() if tp.topic == topic and o.offset >= 0}


def usable_snapshot(bootstrap, topics, snaps) -> bool:
    """Some partition has a snapshot at or below the offset its group committed."""
    done = committed(bootstrap, f"{topics.prefix}-worker", topics.events)
    for part, off in done.items():
        folder = snaps / topics.events / str(part)
        if any(int(f.stem) <= off for f in folder.glob("*.snap")):
            return True
    return False


REBUILT = re.compile(r"partition (\d+): state rebuilt from (\d+) records before offset (\d+) \(([^,]*),")


def test_worker_killed_with_sigkill_and_restarted_loses_and_changes_nothing(kafka_broker, kafka_topics, tmp_path):
    """kill -9 after the first half; the restart resumes each partition from its newest snapshot
    (or offset 0), replays the rest of the log before the committed offset, and goes on: the
    warnings are those of an uninterrupted run, and fewer records were replayed than the log
    holds before the resume offsets."""
    bootstrap = kafka_broker.bootstrap
    lines = list(generate(CITY))
    data = tmp_path / "data"
    want = expected_warnings(lines, data)
    cut = len(lines) // 2
    first_half = expected_warnings(lines[:cut], data)
    halves = []
    for n, part in enumerate((lines[:cut], lines[cut:])):
        path = tmp_path / f"half{n}.jsonl"
        path.write_text("\n".join(part) + "\n", encoding="utf-8")
        halves.append(path)
    args = ["--bootstrap", bootstrap, "--topic-prefix", kafka_topics.prefix, "--quiet"]
    yujing_kafka("ingest", str(halves[0]), *args)
    # small batches and frequent snapshots, so that snapshots exist at several offsets
    with worker(bootstrap, kafka_topics.prefix, data, tmp_path / "w1.log",
                "--batch-size", "40", "--snapshot-every", "100") as proc:
        wait_for_warnings(bootstrap, kafka_topics, len(first_half), proc, tmp_path / "w1.log")
        wait_until(lambda: usable_snapshot(bootstrap, kafka_topics, data / "snapshots"), 30,
                   "a snapshot at or below a committed offset", proc, logs=[tmp_path / "w1.log"])
        proc.send_signal(signal.SIGKILL)   # no clean stop: whatever was not committed is replayed
        proc.wait()
    # the second half's feedback may name first-half records: ingest routes it by the record's
    # region only when it published that record itself, else to every partition
    yujing_kafka("ingest", str(halves[1]), *args)
    with worker(bootstrap, kafka_topics.prefix, data, tmp_path / "w2.log") as proc:
        got = wait_for_warnings(bootstrap, kafka_topics, len(want), proc, tmp_path / "w2.log")
        time.sleep(2)
        got = read_all(bootstrap, kafka_topics.warnings)
    bodies: dict[tuple, str] = {}
    for m in got[kafka_topics.warnings]:
        w = json.loads(m.value)
        key = (w["id"], w["version"])
        # a replayed version is the same version, byte for byte (idempotent for the store)
        assert bodies.setdefault(key, m.value.decode()) == m.value.decode()
    seen = {(w["id"], w["version"], w["level"], round(w["score"], 9), w["case_id"])
            for w in map(json.loads, bodies.values())}
    assert seen == set(want), "restart after SIGKILL changed or lost warnings"
    rebuilt = REBUILT.findall((tmp_path / "w2.log").read_text())
    assert rebuilt, (tmp_path / "w2.log").read_text()[-3000:]
    replayed = sum(int(n) for _, n, _, _ in rebuilt)
    before = sum(int(off) for _, _, off, _ in rebuilt)   # what a replay from offset 0 reads
    from_snapshot = [r for r in rebuilt if r[3].startswith("snapshot at offset")]
    assert from_snapshot, f"no partition resumed from a snapshot: {rebuilt}"
    assert replayed < before, f"replayed {replayed} records, the log before the resume offsets holds {before}"
    print(f"after SIGKILL: {len(got[kafka_topics.warnings])} warning messages, {len(seen)} distinct; "
          f"rebuilt {len(rebuilt)} partitions ({len(from_snapshot)} from snapshots), "
          f"replayed {replayed} of {before} records")
