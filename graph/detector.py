"""``GraphDetector``: the relationship graph as a detector (streams.detect protocol).

``detect(record, case)`` adds the record's people, phones, address or camera, organisation and
case to the graph, then runs the patterns of ``graph.patterns`` on the case.  Records themselves
are not nodes (they are many; the case and its entities are what link stories).  State is the
graph and three side tables (key persons seen, escalated cases, patterns already fired); all of
it round-trips through ``snapshot``/``restore``.  No I/O, event time only.

>>> from datetime import datetime
>>> from streams.privacy import Hasher
>>> d = GraphDetector(Hasher(b"k" * 16))
>>> d.features("C-unknown")
{}
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from streams.detect import CaseContext, make_signal
from streams.ident import subdistrict_of
from streams.privacy import Hasher, mask_name, mask_phone
from streams.records import Signal

from . import features as F
from .memory import give_back
from . import patterns as P
from .normalize import normalise_address
from .store import DAY, TypedGraph, check_version

_ORG = re.compile(r"[\u4e00-\u9fff\w]{2,20}?(?:公司|项目部|项目|村委会|物业服务中心|工地|厂)")
VERSION = 2
# addresses repeat (a building, a site): normalise each distinct one once, bounded
_normalise = lru_cache(maxsize=1 << 16)(normalise_address)


@lru_cache(maxsize=1 << 14)
def _org(addr: str) -> str | None:
    m = _ORG.search(addr)
    return m.group(0) if m else None


class GraphDetector:
    name = "graph"

    def __init__(self, hasher: Hasher, retention: timedelta = timedelta(days=60)):
        self._hash = hasher
        self.retention = retention
        self.graph = TypedGraph()
        self.key_persons: dict[int, str] = {}   # person node -> key-person category
        self.escalated: dict[int, int] = {}     # case node -> when (epoch s)
        self.fired: dict[int, set[str]] = {}    # case node -> "rule|key" already signalled
        self.now = 0                            # newest event time seen (epoch s)
        self._pruned_day: int | None = None

    # -- ingestion ------------------------------------------------------------------------------
    def _person(self, p: Any, ts: int, kps: Any) -> int | None:
        tg = self.graph
        label = mask_name(p.name) or "某人"
        phone = None
        if p.phone:
            ph = self._hash(p.phone)
            # a phone's masked label follows from the phone, as its key does: set once
            phone = tg.find("phone", ph)
            if phone is None:
                phone = tg.node("phone", ph, mask_phone(p.phone))
        if p.id_number:
            h = self._hash(p.id_number)
            n = tg.node("person", "id:" + h, label)
            info = kps.get(h)
            if info is not None:
                self.key_persons[n] = info.category
        elif phone is not None:
            # phone plus name: the one known person with this phone and surname, else a new one
            known = [m for m in tg.neighbours(phone, "person")
                     if tg.display(m)[:1] == label[:1] and tg.key[m].startswith("id:")]
            n = known[0] if len(known) == 1 else tg.node("person", "ph:" + tg.key[phone], label)
        else:
            return None
        if phone is not None:
            tg.link(n, phone, "phone", ts)
        return n

    def _ingest(self, rec: Any, case: CaseContext, ts: int) -> tuple[int, list[int]]:
        tg = self.graph
        c = tg.keyed("case", case.case_id)
        raw = list(getattr(rec, "parties", ()))
        if rec.kind == "call":
            raw.append(rec.caller)
        elif rec.kind == "video_alert" and rec.matched is not None:
            raw.append(rec.matched)
        people = list(dict.fromkeys(n for n in (self._person(p, ts, case.key_persons) for p in raw)
                                    if n is not None))
        for n in people:
            tg.link(n, c, "party", ts)
        if rec.kind == "video_alert":
            tg.link(c, tg.keyed("camera", rec.camera_id), "camera", ts)
            return c, people
        addr = _normalise(rec.place.address)
        if len(addr) >= 4:
            group = case.dispute_kind in P.GROUP_KINDS
            sub = subdistrict_of(rec.place.region_code)
            a = tg.keyed("address", f"{sub}:{addr}")
            tg.link(c, a, "scene", ts)
            anchor = a
            org = _org(addr) if group else None
            if org:
                anchor = tg.keyed("org", f"{sub}:{org}")
                tg.link(c, anchor, "org", ts)
            for n in people:
                tg.link(n, anchor, "claim" if group else "address", ts)
        return c, people

    # -- the protocol ---------------------------------------------------------------------------
    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        if not case.case_id:
            return []  # names no case: nothing to link
        ts = int(record.occurred_at.timestamp())
        self.now = max(self.now, ts)
        c, people = self._ingest(record, case, ts)
        tg = self.graph
        done = self.fired.get(c, ())
        kp, esc = P.nearby(tg, c, self.key_persons, self.escalated, done)
        hits = (P.repeat_pair(tg, c, people, case.dispute_kind, ts, done) + kp
                + P.grievance_group(tg, c, case.dispute_kind, ts, done) + esc)
        if not hits:
            return []
        done = self.fired.setdefault(c, set())
        out = []
        for h in hits:
            k = P.done_key(h.rule_id, h.key)
            if k in done:
                continue
            done.add(k)
            out.append(make_signal(self.name, h.rule_id, record, case, h.score, h.reason, h.evidence))
        return out

    def observe_outcome(self, case_id: str, outcome: str, at: datetime,
                        record_id: str | None = None) -> None:
        if outcome != "escalated_criminal":
            return
        c = self.graph.find("case", case_id)
        if c is not None:
            self.escalated.setdefault(c, int(at.timestamp()))

    def advance(self, watermark: datetime) -> list[Signal]:
        """Once per event-time day, forget edges not seen within ``retention``."""
        day = int(watermark.timestamp()) // DAY
        if self._pruned_day is not None and day <= self._pruned_day:
            return []
        self._pruned_day = day
        self.graph.prune(int(watermark.timestamp() - self.retention.total_seconds()))
        alive = self.graph.kind
        for table in (self.key_persons, self.escalated, self.fired):
            for n in [n for n in table if n not in alive]:
                del table[n]
        give_back()   # the day's pruned arrays and dict tables: back to the OS, not kept by malloc
        return []

    # -- queries --------------------------------------------------------------------------------
    def features(self, case_id: str) -> dict[str, Any]:
        c = self.graph.find("case", case_id)
        if c is None:
            return {}
        return F.features(self.graph, c, self.key_persons, self.escalated, self.now)

    def person_features(self, id_hash: str) -> dict[str, Any]:
        n = self.graph.find("person", "id:" + id_hash)
        return {} if n is None else F.person_features(self.graph, n, self.key_persons)

    # -- state ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able (``yujing graph explain`` reads it); ``to_bytes`` is the fast binary form."""
        return {**self._tables(), "graph": self.graph.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        if not state:
            return
        check_version(state, "graph detector snapshot", VERSION)
        self.graph.restore(state["graph"])
        self._restore_tables(state)

    def _tables(self) -> dict[str, Any]:
        return {"version": VERSION, "now": self.now, "pruned_day": self._pruned_day,
                "retention_s": int(self.retention.total_seconds()),
                "key_persons": sorted([n, c] for n, c in self.key_persons.items()),
                "escalated": sorted([n, t] for n, t in self.escalated.items()),
                "fired": sorted([n, sorted(s)] for n, s in self.fired.items() if s)}

    def _restore_tables(self, state: dict[str, Any]) -> None:
        self.now, self._pruned_day = state["now"], state["pruned_day"]
        self.key_persons = {n: c for n, c in state["key_persons"]}
        self.escalated = {n: t for n, t in state["escalated"]}
        self.fired = {n: set(s) for n, s in state["fired"]}

    def to_bytes(self) -> bytes:
        """The whole state in the binary snapshot format of ``graph.snapshot`` (fast at scale)."""
        from .snapshot import dump
        return dump(self.graph, self._tables())

    def from_bytes(self, data: bytes) -> None:
        """Restore from ``to_bytes``; an unknown version or a foreign file is refused."""
        from .snapshot import load
        tables = load(self.graph, data)
        check_version(tables, "graph detector snapshot", VERSION)
        self._restore_tables(tables)
