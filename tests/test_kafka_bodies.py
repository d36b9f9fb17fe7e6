"""Issue #6: the worker hands the store the message text of records that ``yujing ingest``
published (header ``yujing-body: codec``) as their bodies, and only those. The stored bodies
are byte for byte those the store makes when it serialises the records itself.

Unit level (no broker): ``Ingest.publish`` with a capturing producer, the worker's
``decode_batch`` on what it captured, and a real embedded chDB store."""
from __future__ import annotations

from dataclasses import dataclass

from engine.kafka_ingest import Ingest
from engine.worker_engine import decode_batch
from sinks.chdb_store import ChdbStore
from sinks.store import StoreBatch, record_columns
from streams.simulate import SimConfig, generate
from streams.sources import decode_lines
from streams.topics import Topics


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list


class Capture:
    """A producer stand-in keeping what ``Ingest`` sends (a fake: this is a unit test)."""

    def __init__(self, bootstrap):
        self.sent: list[Msg] = []

    def partitions_for(self, topic):
        return {0, 1, 2, 3}

    def send(self, topic, value, key, partition, headers):
        self.sent.append(Msg(topic, partition if partition is not None else 0, len(self.sent), value,
                             headers))

        class Done:
            def add_errback(self, fn):
                pass
        return Done()

    def flush(self):
        pass

    def close(self, timeout=None):
        pass


def _bodies(store) -> dict[str, str]:
    rows = store.query(f"SELECT id, body FROM {store.db}.records FINAL")
    return {r["id"]: r["body"] for r in rows}


def test_ingested_text_is_stored_as_is_and_equals_the_serialised_body(tmp_path):
    topics = Topics("b")
    ing = Ingest("unused", topics, progress=None, producer_factory=Capture)
    for it in decode_lines(generate(SimConfig(days=1, scale=0.3)), source="b"):
        ing.publish(it)
    events = [m for m in ing.prod.sent if m.topic == topics.events]
    # another producer's message (the console's act, a source system) has no such header
    foreign = Msg(topics.events, 0, 10**6, events[0].value.replace(b'"id":"', b'"id":"x-', 1),
                  [("yujing-kind", b"call")])
    by_part, bodies = decode_batch(events + [foreign])
    records = [it.record for items in by_part.values() for it in items if it.record is not None]
    assert len(records) == len(events) + 1 > 500
    foreign_id = by_part[0][-1].record.id
    assert foreign_id.startswith("x-") and foreign_id not in bodies
    assert set(bodies) == {r.id for r in records} - {foreign_id}
    sent = {}
    for m in events:
        sent.setdefault(m.value.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode(), m.value)
    assert all(bodies[rid] == sent[rid] for rid in bodies)

    # what the store writes when it serialises the records itself
    own = dict(zip((r.id for r in records), record_columns(records, {})["body"]))
    store = ChdbStore(tmp_path / "chdb")   # (chDB: one data folder per process)
    try:
        store.write(StoreBatch(records=records, bodies=bodies))
        stored = _bodies(store)
    finally:
        store.close()
    assert len(stored) == len({r.id for r in records})   # (the city plants duplicate ids)
    assert stored == {rid: b.decode() for rid, b in own.items()}
