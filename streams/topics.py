"""Kafka topics: names, partitioning by 街道/乡镇 (subdistrict) or 区县 (district) code, keys and
header names.

Event records (网格事件, 110/12345 calls, 雪亮 video alerts) and feedback share ONE input topic,
``<prefix>.events``, keyed by the subdistrict code of the record's place. One topic, not one per
stream, because the pipeline is deterministic only for a given order: Kafka orders records within
a partition of one topic, and a consumer interleaves several topics arbitrarily, so a case's 110
call and its grid registration could be processed in either order on a replay and give other case
and warning ids. With one topic a subdistrict's records have one order that every replay, every
worker and a backtest of the same log share. (Per-source landing topics can be added in front,
with one sequencer writing ``events``; see docs/kafka.md.)

>>> t = Topics("yujing")
>>> t.events, t.registries, t.warnings, t.dead_letters
('yujing.events', 'yujing.registries', 'yujing.warnings', 'yujing.dead-letters')
>>> partition_for("629901001000", 4) == partition_for(subdistrict_of("629901001002"), 4)
True
>>> partition_for("629901001000", 4)   # murmur2, as the Java client's default partitioner
0

The key level (``KEY_LEVELS``) is how coarse the events key is: a case whose records come from two
subdistricts of one district meets on one partition only when keyed by district (fewer
cross-partition misses, fewer keys to spread over the partitions; docs/kafka.md measures both).

>>> key_of("629901001002", "subdistrict"), key_of("629901001002", "district")
('629901001000', '629901000000')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ident import subdistrict_of
from .records import EVENT_KINDS, REGISTRY_KINDS

DEFAULT_PREFIX = "yujing"
DEFAULT_PARTITIONS = 4
# events keyed by 区县 (6-digit district) or 街道/乡镇 (9-digit subdistrict) code; the worker does
# not care (it follows partitions), ingest and the console's acts must agree (``--key-level``)
KEY_LEVELS = ("district", "subdistrict")
DEFAULT_KEY_LEVEL = "subdistrict"   # spreads load; "district" misses fewer links (docs/kafka.md)

# Header names (bytes values, UTF-8). Dead letters carry why in headers and the raw record whole
# as the value, so a reader can filter by reason without parsing the body.
H_KIND = "yujing-kind"
H_SUBDISTRICT = "yujing-subdistrict"
H_BROADCAST = "yujing-broadcast"      # "1": feedback sent to every partition (target unknown)
H_REASON = "yujing-reason"            # one of streams.errors.REJECT_REASONS
H_FIELD = "yujing-field"
H_DETAIL = "yujing-detail"
H_SOURCE = "yujing-source"            # file name, or topic[partition]@offset for the worker
H_LINE = "yujing-line"
H_RECORD_ID = "yujing-record-id"
H_STAGE = "yujing-stage"              # "ingest" | "worker": who rejected it
H_WARNING_ID = "yujing-warning-id"
H_VERSION = "yujing-version"
H_LEVEL = "yujing-level"
# "codec": the value is exactly ``streams.codec.encode``'s text of the record (``yujing ingest``
# sets it), so the worker hands it to the store as the record's body (``StoreBatch.bodies``)
# instead of serialising the record again. Other producers leave it out.
H_BODY = "yujing-body"
BODY_CODEC = b"codec"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one prefix (tests use a fresh prefix each, production ``yujing``)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def registries(self) -> str:
        return f"{self.prefix}.registries"

    @property
    def warnings(self) -> str:
        return f"{self.prefix}.warnings"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.dead-letters"

    def specs(self, partitions: int = DEFAULT_PARTITIONS) -> list[tuple[str, int, dict[str, str]]]:
        """(name, partitions, config) of every topic, for ``yujing topics create``."""
        keep = {"retention.ms": "-1"}   # inputs are the replayable history: kept, not aged out
        return [
            (self.events, partitions, keep),
            # one partition: the registry is global and small, and one order keeps a grid before
            # the key persons registered in it; compacted: the latest entry per key is the state
            (self.registries, 1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
            # warnings keyed by case id; compaction would drop a warning's older versions
            (self.warnings, partitions, {}),
            (self.dead_letters, 1, {}),
        ]


def _murmur2(data: bytes) -> int:
    """The Java client's murmur2 (so Java producers keyed the same land on the same partition)."""
    length, seed, m, r = len(data), 0x9747B28C, 0x5BD1E995, 24
    h = (seed ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4:i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[(length & ~3) + 2] << 16
    if rest >= 2:
        h ^= data[(length & ~3) + 1] << 8
    if rest >= 1:
        h ^= data[length & ~3]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    """The partition of a key: ``toPositive(murmur2(key)) % partitions`` as in Kafka's Java client."""
    return (_murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


def key_of(region_code: str, level: str = "subdistrict") -> str:
    """The events key of a region at ``level``: its 区县 (district) or 街道 (subdistrict) code."""
    if level == "district":
        return region_code[:6] + "000000"
    if level == "subdistrict":
        return subdistrict_of(region_code)
    raise ValueError(f"key level {level!r} is not one of {', '.join(KEY_LEVELS)}")


def event_key(rec: Any, level: str = "subdistrict") -> str | None:
    """The partition key of an event record at ``level``: the code of its place (None if it has
    none); an act's is its warning's region (engine/worker_acts.py: where the case is)."""
    if getattr(rec, "kind", None) == "act":
        return key_of(rec.region_code, level)
    place = getattr(rec, "place", None)
    return key_of(place.region_code, level) if place is not None else None


def subdistrict_key(rec: Any) -> str | None:
    """The partition key of an event record: the 街道/乡镇 code of its place (None if it has none)."""
    return event_key(rec, "subdistrict")


def registry_key(rec: Any) -> str:
    """Compaction key of a registry record: its kind and id (a newer entry replaces an older one)."""
    return f"{rec.kind}:{rec.id}"


def route(rec: Any) -> str:
    """Which topic role a record goes to: ``events`` or ``registries``."""
    if rec.kind in REGISTRY_KINDS:
        return "registries"
    if rec.kind in EVENT_KINDS or rec.kind in ("feedback", "act"):
        return "events"
    raise ValueError(f"no topic for record kind {rec.kind!r}")


def headers(**values: Any) -> list[tuple[str, bytes]]:
    """Kafka headers from keyword values (None dropped): ``headers(**{H_KIND: 'call'})``."""
    return [(k, str(v).encode("utf-8")) for k, v in values.items() if v is not None]


def header_map(hdrs: Any) -> dict[str, str]:
    """Headers as a dict of str (accepts kafka-python's list of tuples and Faust's mapping)."""
    items = hdrs.items() if hasattr(hdrs, "items") else (hdrs or ())
    return {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for k, v in items}
