"""The first case linker: records that share an address, a phone, a person or a dispute number
join one case.

It is a union-find over link keys.  Every key is a keyed hash (people, phones) or a
normalised address scoped to its 街道, so the linker holds no clear ID numbers or phones.
When one record touches two cases they merge: the older case survives (its id is stable)
and the younger id stays as an alias, so nothing that points at it gets lost.

>>> from streams.privacy import Hasher
>>> ln = CaseLinker(Hasher(b"0" * 16))
>>> ln.normalise_address("  城关区 张掖路１２号 ")
'城关区张掖路12号'
"""
from __future__ import annotations

import bisect
import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from streams.detect import CaseEntry
from streams.ident import subdistrict_of
from streams.privacy import Hasher

MAX_ENTRIES = 200  # a case remembers its latest records; older ones live in the store


@dataclass(slots=True)
class Case:
    case_id: str
    seq: int                       # creation order: the lower survives a merge
    region_code: str
    address: str
    first_at: datetime
    dispute_kind: str | None = None
    entries: list[CaseEntry] = field(default_factory=list)
    party_keys: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    aliases: list[str] = field(default_factory=list)
    size: int = 0                  # records ever linked

    def add(self, entry: CaseEntry) -> None:
        # keep event-time order even when records arrive late
        if not self.entries or self.entries[-1].at <= entry.at:
            self.entries.append(entry)
        else:
            bisect.insort(self.entries, entry, key=lambda e: e.at)
        if len(self.entries) > MAX_ENTRIES:
            del self.entries[0]
        self.size += 1


@dataclass(slots=True)
class LinkResult:
    case: Case
    created: bool
    merged: list[str]              # ids of cases absorbed by this record
    reasons: list[str]             # which keys linked it ("电话", "住址", ...)


_KEY_LABEL = {"id": "身份证号", "ph": "电话", "ad": "住址", "dn": "纠纷编号", "cam": "摄像头"}


class CaseLinker:
    """Assigns each event record to a case; deterministic for a given arrival order."""

    def __init__(self, hasher: Hasher):
        self._hash = hasher
        self._key_case: dict[str, str] = {}      # link key -> case id (possibly an alias)
        self._alias: dict[str, str] = {}         # absorbed case id -> survivor
        self.cases: dict[str, Case] = {}
        self._seq = 0

    # --- keys ---------------------------------------------------------------------------
    @staticmethod
    def normalise_address(address: str) -> str:
        a = unicodedata.normalize("NFKC", address)
        return "".join(a.split()).lower()

    def person_keys(self, parties: Iterable[Any]) -> tuple[list[str], set[str]]:
        """Link keys and party keys (keyed hashes) of a record's people."""
        keys: list[str] = []
        people: set[str] = set()
        for p in parties:
            if p is None:
                continue
            if p.id_number:
                h = self._hash(p.id_number)
                keys.append("id:" + h)
                people.add(h)
            if p.phone:
                h = self._hash(p.phone)
                keys.append("ph:" + h)
                if not p.id_number:
                    people.add("ph:" + h)
        return keys, people

    def record_keys(self, rec: Any) -> tuple[list[str], set[str]]:
        parties = list(getattr(rec, "parties", ()))
        if rec.kind == "call":
            parties.append(rec.caller)
        elif rec.kind == "video_alert" and rec.matched is not None:
            parties.append(rec.matched)
        keys, people = self.person_keys(parties)
        addr = self.normalise_address(rec.place.address)
        if len(addr) >= 4:  # too short to tell households apart
            keys.append(f"ad:{subdistrict_of(rec.place.region_code)}:{addr}")
        if getattr(rec, "dispute_no", None):
            keys.append("dn:" + rec.dispute_no)
        return keys, people

    # --- linking ------------------------------------------------------------------------
    def resolve(self, case_id: str) -> str:
        while case_id in self._alias:
            case_id = self._alias[case_id]
        return case_id

    def case_of_key(self, key: str) -> str | None:
        cid = self._key_case.get(key)
        return self.resolve(cid) if cid else None

    def link(self, rec: Any, entry: CaseEntry, dispute_kind: str | None = None) -> LinkResult:
        keys, people = self.record_keys(rec)
        found: dict[str, list[str]] = {}
        for k in keys:
            cid = self.case_of_key(k)
            if cid:
                found.setdefault(cid, []).append(k)
        created = not found
        merged: list[str] = []
        if created:
            case = self._new_case(rec)
        else:
            ordered = sorted(found, key=lambda c: self.cases[c].seq)
            case = self.cases[ordered[0]]
            for other in ordered[1:]:
                self._merge(case, self.cases[other])
                merged.append(other)
        for k in keys:
            self._key_case[k] = case.case_id
        case.keys.update(keys)
        case.party_keys.update(people)
        if dispute_kind and not case.dispute_kind:
            case.dispute_kind = dispute_kind
        case.add(entry)
        reasons = sorted({_KEY_LABEL[k.split(":", 1)[0]] for ks in found.values() for k in ks})
        return LinkResult(case, created, merged, reasons)

    def _new_case(self, rec: Any) -> Case:
        self._seq += 1
        cid = "C-" + hashlib.blake2b(rec.id.encode(), digest_size=8).hexdigest()
        case = Case(cid, self._seq, rec.place.region_code, rec.place.address, rec.occurred_at)
        self.cases[cid] = case
        return case

    def _merge(self, into: Case, other: Case) -> None:
        for e in other.entries:
            into.add(e)
        into.size += other.size - len(other.entries)
        into.party_keys |= other.party_keys
        into.keys |= other.keys
        into.first_at = min(into.first_at, other.first_at)
        into.dispute_kind = into.dispute_kind or other.dispute_kind
        into.aliases.extend([other.case_id, *other.aliases])
        self._alias[other.case_id] = into.case_id
        del self.cases[other.case_id]
