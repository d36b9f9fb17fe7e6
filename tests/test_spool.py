"""The spool (bounded on-disk FIFO) and the delivery around it: order, limits, crashes.

The server-side behaviour (SIGKILL mid-run, drain when it returns) is in
test_clickhouse_server.py; here the sink is a list, so every interleaving can be forced.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from sinks.spool import Spool, SpoolFull
from sinks.store import StoreBatch
from sinks.writer import BatchingStore, Delivery, decode_block, encode_block
from streams.errors import SinkError, SinkUnavailable


def payloads(n: int, size: int = 100) -> list[bytes]:
    return [f"{i:06d}".encode() + bytes([i % 251]) * (size - 6) for i in range(n)]


def drain_all(s: Spool) -> list[bytes]:
    out = []
    while (p := s.peek()) is not None:
        out.append(p)
        s.pop()
    return out


def segments(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("seg-*.spool"))


def test_fifo_across_segments_and_drained_segments_go(tmp_path):
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1000)
    items = payloads(50)
    for p in items:
        s.append(p)
    # a segment rolls once it holds segment_bytes or more: 10 entries of 108 bytes each
    assert len(s) == 50 and len(segments(tmp_path)) == 5
    got = [s.peek()]
    s.pop()
    for _ in range(20):
        got.append(s.peek())
        s.pop()
    assert got == items[:21]
    assert len(segments(tmp_path)) == 3  # the two fully drained ones are deleted
    got += drain_all(s)
    assert got == items
    assert segments(tmp_path) == [] and not (tmp_path / "cursor").exists()


def test_reopen_keeps_pending_entries_in_order(tmp_path):
    items = payloads(30)
    s = Spool(tmp_path, segment_bytes=500)
    for p in items[:20]:
        s.append(p)
    for _ in range(7):
        s.pop()
    s.close()
    s = Spool(tmp_path, segment_bytes=500)  # as after a restart
    assert len(s) == 13
    for p in items[20:]:
        s.append(p)
    assert drain_all(s) == items[7:]


def test_torn_tail_is_cut_on_open(tmp_path):
    s = Spool(tmp_path)
    for p in payloads(3):
        s.append(p)
    s.close()
    seg = tmp_path / segments(tmp_path)[-1]
    os.truncate(seg, seg.stat().st_size - 10)  # a crash in the middle of the third append
    s = Spool(tmp_path)
    assert len(s) == 2 and drain_all(s) == payloads(3)[:2]


def test_bad_crc_in_the_tail_is_cut(tmp_path):
    s = Spool(tmp_path)
    for p in payloads(2):
        s.append(p)
    s.close()
    seg = tmp_path / segments(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert drain_all(Spool(tmp_path)) == payloads(2)[:1]


def test_full_spool_pushes_back_and_frees_space_as_it_drains(tmp_path):
    s = Spool(tmp_path, max_bytes=1080, segment_bytes=216)  # room for exactly 10 entries
    items = payloads(12)
    for p in items[:10]:
        s.append(p)
    with pytest.raises(SpoolFull) as err:
        s.append(items[10])
    assert isinstance(err.value, SinkUnavailable)  # the runner's "wait and retry" signal
    assert len(s) == 10  # nothing dropped, nothing half-written
    s.pop()
    with pytest.raises(SpoolFull):
        s.append(items[10])  # the first segment still holds a pending entry
    s.pop()
    s.append(items[10])  # its segment drained and deleted: room again
    assert drain_all(s) == items[2:11]


def test_crash_between_cursor_and_delete_is_tidied(tmp_path):
    s = Spool(tmp_path, segment_bytes=200)
    for p in payloads(6):
        s.append(p)
    s.close()
    first = segments(tmp_path)[0]
    s = Spool(tmp_path, segment_bytes=200)
    s.pop(), s.pop()
    s.peek()  # moves the cursor into segment 2 and deletes segment 1
    s.close()
    (tmp_path / first).write_bytes(b"stale")  # as if the delete had not happened
    s = Spool(tmp_path, segment_bytes=200)
    assert first not in segments(tmp_path)
    assert drain_all(s) == payloads(6)[2:]


# ---- Delivery ---------------------------------------------------------------------------------

class FlakySink:
    """Records what it gets; ``down`` makes it unreachable."""

    def __init__(self):
        self.got: list[dict] = []
        self.down = False
        self.calls = 0

    def insert(self, block: dict) -> None:
        self.calls += 1
        if self.down:
            raise SinkUnavailable("down")
        self.got.append(block)


def block(i: int) -> dict:
    return {"records": {"id": [f"r{i}"], "occurred_at": [1_777_599_000_000 + i], "body": ["体"]}}


def test_block_codec_round_trips():
    b = {"warnings": {"id": ["w"], "record_ids": [["a", "b"]], "line": [None], "score": [0.1 + 0.2]}}
    assert decode_block(encode_block(b)) == b


def test_delivery_spools_while_down_and_drains_in_order(tmp_path):
    sink = FlakySink()
    d = Delivery(sink.insert, Spool(tmp_path), retries=2, base_delay=0.01, max_delay=0.05)
    d.put(block(0))
    sink.down = True
    for i in range(1, 6):
        d.put(block(i))  # returns: the block is safe on disk
    assert d.spooled == 5 and len(d.spool) == 5
    sink.down = False
    d.put(block(6))  # queues behind the spooled ones or drains them first: order kept
    d.flush()
    assert [b["records"]["id"][0] for b in sink.got] == [f"r{i}" for i in range(7)]
    assert len(d.spool) == 0
    d.close()


def test_background_drain_when_the_sink_returns(tmp_path):
    sink = FlakySink()
    sink.down = True
    d = Delivery(sink.insert, Spool(tmp_path), retries=1, base_delay=0.01, max_delay=0.02)
    d.put(block(1))
    sink.down = False
    deadline = time.monotonic() + 5
    while len(d.spool) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.got == [block(1)]  # no write, no flush: the drainer thread delivered it
    d.close()


def test_without_spool_a_down_sink_raises(tmp_path):
    sink = FlakySink()
    sink.down = True
    d = Delivery(sink.insert, None, retries=3, base_delay=0.001)
    with pytest.raises(SinkUnavailable):
        d.put(block(1))
    assert sink.calls == 3


def test_refused_data_is_not_retried(tmp_path):
    calls = []

    def insert(b):
        calls.append(b)
        raise SinkError("bad column")

    d = Delivery(insert, Spool(tmp_path), retries=5, base_delay=0.001)
    with pytest.raises(SinkError):
        d.put(block(1))
    assert len(calls) == 1 and len(d.spool) == 0
    d.close()


class Crash(BaseException):
    """The process dies here (not an error anything would catch)."""


def test_crash_mid_drain_replays_the_entry_not_loses_it(tmp_path):
    sink = FlakySink()
    sink.down = True
    d = Delivery(sink.insert, Spool(tmp_path), retries=1, base_delay=10)  # no drainer races
    for i in range(3):
        d.put(block(i))
    d.close()
    sink.down = False

    def insert_then_die(b):
        sink.insert(b)
        raise Crash  # delivered, but the cursor never moves

    d2 = Delivery(insert_then_die, Spool(tmp_path), retries=1, base_delay=10)
    with pytest.raises(Crash):
        d2.drain()
    d2.close()
    d3 = Delivery(sink.insert, Spool(tmp_path), retries=1, base_delay=10)
    assert d3.drain()
    assert [b["records"]["id"][0] for b in sink.got] == ["r0", "r0", "r1", "r2"]
    d3.close()


# ---- BatchingStore ----------------------------------------------------------------------------

class ListStore:
    def __init__(self):
        self.writes: list[StoreBatch] = []
        self.lock = threading.Lock()

    def write(self, batch):
        with self.lock:
            self.writes.append(batch)

    def flush(self):
        pass

    def close(self):
        pass


def rejects(n: int, tag: str = "") -> StoreBatch:
    from streams.codec import Reject
    return StoreBatch(rejects=[Reject("bad_phone", "f", "d", f"{tag}{i}") for i in range(n)])


def test_batching_by_size():
    inner = ListStore()
    b = BatchingStore(inner, max_rows=10, max_wait=60)
    for _ in range(7):
        b.write(rejects(3))
    assert [len(w) for w in inner.writes] == [12]  # one insert once 10 rows are held
    b.close()
    assert [len(w) for w in inner.writes] == [12, 9]  # the rest on close


def test_batching_by_time_keeps_order():
    inner = ListStore()
    b = BatchingStore(inner, max_rows=10_000, max_wait=0.1)
    b.write(rejects(2, "a"))
    b.write(rejects(1, "b"))
    time.sleep(0.4)
    assert [[r.raw for r in w.rejects] for w in inner.writes] == [["a0", "a1", "b0"]]
    b.close()


def test_batching_keeps_audit_and_given_bodies():
    """``merge`` carries every part of a batch: audit entries and ready bodies too."""
    from datetime import datetime

    from sinks.store import AuditEntry
    inner = ListStore()
    b = BatchingStore(inner, max_rows=10_000, max_wait=60)
    entry = AuditEntry(datetime(2026, 5, 1, 9, 30), "W-1", "C-1", 2, "ack", "new", "acknowledged", "u1")
    b.write(StoreBatch(audit=[entry]))
    b.write(StoreBatch(bodies={"g1": '{"id":"g1"}'}, rejects=rejects(1).rejects))
    b.close()
    assert [(w.audit, w.bodies, len(w.rejects)) for w in inner.writes] == \
        [([entry], {"g1": '{"id":"g1"}'}, 1)]
