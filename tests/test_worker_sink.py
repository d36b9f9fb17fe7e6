"""``HeldWrites`` (engine/worker_sink.py): gathered store writes hold their batches' acks.

Unit tests of the gathering logic with a store and messages of our own; the real thing (a
Kafka broker, chDB and a ClickHouse server) is in test_kafka_worker.py and test_kafka_store.py.
"""
from __future__ import annotations

import asyncio

import pytest

from engine.worker_sink import HeldWrites
from sinks.store import StoreBatch


class Msg:
    def __init__(self, n):
        self.n, self.refcount = n, 1   # 1: the stream's own reference

    def incref(self):
        self.refcount += 1

    def ack(self, consumer):
        self.refcount -= 1
        if self.refcount == 0:
            consumer.append(self.n)


class Store:
    def __init__(self, gate=None, fail=None):
        self.rows, self.gate, self.fail = [], gate, fail

    def write(self, b):
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise self.fail
        self.rows.append(list(b.records))


def held(store, acked, **kw):
    flushes = []

    async def flush():
        flushes.append(len(store.rows))
    h = HeldWrites(store, flush, lambda: acked, **kw)
    return h, flushes


def stream_ack(msgs, acked):
    for m in msgs:   # what Faust's take_events does after the batch: the stream's own ack
        m.ack(acked)


def test_acks_wait_for_the_write_and_the_producer_flush():
    async def go():
        store, acked = Store(), []
        h, flushes = held(store, acked, max_rows=5, max_seconds=60)
        msgs = [Msg(i) for i in range(3)]
        await h.add(StoreBatch(records=["a", "b", "c"]), msgs)
        stream_ack(msgs, acked)
        assert acked == [] and store.rows == []          # 3 rows < 5, 60 s: nothing yet
        more = [Msg(3), Msg(4)]
        await h.add(StoreBatch(records=["d", "e"]), more)
        stream_ack(more, acked)
        await h.settle()
        return store.rows, acked, flushes
    rows, acked, flushes = asyncio.run(go())
    assert rows == [["a", "b", "c", "d", "e"]]           # one write, in order
    assert sorted(acked) == [0, 1, 2, 3, 4] and flushes == [1]


def test_age_makes_a_write_due_without_more_batches():
    async def go():
        store, acked = Store(), []
        h, _ = held(store, acked, max_rows=1000, max_seconds=0.05)
        m = Msg(0)
        await h.add(StoreBatch(records=["a"]), [m])
        stream_ack([m], acked)
        h.kick()
        early = list(store.rows)
        await asyncio.sleep(0.08)
        h.kick()                                          # the worker's timer does this
        await h.settle()
        return early, store.rows, acked
    early, rows, acked = asyncio.run(go())
    assert early == [] and rows == [["a"]] and acked == [0]


def test_a_slow_store_holds_the_agent_past_twice_max_rows():
    import threading
    gate = threading.Event()

    async def go():
        store, acked = Store(gate=gate), []
        h, _ = held(store, acked, max_rows=2, max_seconds=60)
        await h.add(StoreBatch(records=["a", "b"]), [Msg(0)])   # due: a write starts, blocked
        await asyncio.sleep(0.05)
        await h.add(StoreBatch(records=["c", "d"]), [Msg(1)])   # gathers beside it
        await h.add(StoreBatch(records=["e", "f"]), [Msg(2)])   # 4 rows pending = 2 x 2
        t = asyncio.ensure_future(h.add(StoreBatch(records=["g"]), [Msg(3)]))
        await asyncio.sleep(0.1)
        held_back = not t.done()
        gate.set()
        await t
        await h.flush()
        return held_back, store.rows
    held_back, rows = asyncio.run(go())
    assert held_back, "the agent went on while the store was behind"
    assert [r for w in rows for r in w] == list("abcdefg")


def test_a_failed_write_keeps_its_rows_and_acks_and_reaches_the_agent():
    async def go():
        store, acked = Store(fail=RuntimeError("disk full")), []
        h, _ = held(store, acked, max_rows=1, max_seconds=0.05)
        m, m2 = Msg(0), Msg(1)
        await h.add(StoreBatch(records=["a"]), [m])
        stream_ack([m], acked)
        await asyncio.sleep(0.01)                         # the write runs and fails
        # the agent's next batch is taken (its acks held) before the error reaches it
        with pytest.raises(RuntimeError, match="disk full"):
            await h.add(StoreBatch(records=["b"]), [m2])
        stream_ack([m2], acked)
        before = (list(acked), m.refcount, m2.refcount)
        store.fail = None                                 # the store recovers: a retry writes
        await asyncio.sleep(0.15)
        await h.settle()
        return before, store.rows, acked
    before, rows, acked = asyncio.run(go())
    assert before == ([], 1, 1)                           # nothing acked while failing
    assert [r for w in rows for r in w] == ["a", "b"] and sorted(acked) == [0, 1]


def test_flush_writes_everything_now():
    async def go():
        store, acked = Store(), []
        h, _ = held(store, acked, max_rows=1000, max_seconds=60)
        msgs = [Msg(0), Msg(1)]
        await h.add(StoreBatch(records=["a"]), msgs[:1])
        await h.add(StoreBatch(records=["b"]), msgs[1:])
        stream_ack(msgs, acked)
        await h.flush()
        return store.rows, acked, len(h)
    rows, acked, left = asyncio.run(go())
    assert rows == [["a", "b"]] and sorted(acked) == [0, 1] and left == 0
