"""A linked case as the linker keeps it in memory (no clear personal data), and a link result."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import AbstractSet, Any, Iterable

from streams.detect import CaseEntry

from .entities import NameSig

MAX_ENTRIES = 200    # a case remembers its latest records; older ones live in the store
MAX_NAMES = 64       # name signatures kept per case (for name + address matches)
MAX_EVIDENCE = 2000  # per-record join evidence kept per case (``CaseLinker.why``)


@dataclass(slots=True)
class Case:
    case_id: str
    seq: int                       # creation order: breaks ties deterministically
    region_code: str
    address: str
    first_at: datetime
    last_at: datetime
    dispute_kind: str | None = None
    entries: list[CaseEntry] = field(default_factory=list)
    party_keys: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)           # every link key of its records
    phone_names: dict[str, NameSig] = field(default_factory=dict)  # phone key -> first name seen
    names: set[NameSig] = field(default_factory=set)
    evidence: dict[str, str] = field(default_factory=dict)  # record id -> what joined it
    size: int = 0                  # records ever linked
    has_dispute_no: bool = False   # a registration (登记编号) belongs to it

    def __reduce__(self) -> tuple:
        # by its fields: one pickle whether this class runs compiled or as Python (a compiled
        # class has no ``__dict__``: streams/native.py), so a snapshot loads in either
        return (Case, (self.case_id, self.seq, self.region_code, self.address, self.first_at,
                       self.last_at, self.dispute_kind, self.entries, self.party_keys, self.keys,
                       self.phone_names, self.names, self.evidence, self.size, self.has_dispute_no))

    def add(self, entry: CaseEntry) -> None:
        # keep event-time order even when records arrive late
        if not self.entries or self.entries[-1].at <= entry.at:
            self.entries.append(entry)
        else:
            bisect.insort(self.entries, entry, key=lambda e: e.at)
        if len(self.entries) > MAX_ENTRIES:
            del self.entries[0]
        self.size += 1

    def absorb(self, other: "Case") -> None:
        """Take in everything ``other`` knows (a merge; ``other`` is then dropped)."""
        for e in other.entries:
            self.add(e)
        self.size += other.size - len(other.entries)
        self.party_keys |= other.party_keys
        self.keys |= other.keys
        for k, v in other.phone_names.items():
            self.phone_names.setdefault(k, v)
        for n in other.names:
            if len(self.names) < MAX_NAMES:
                self.names.add(n)
        for rid, why in other.evidence.items():
            if len(self.evidence) < MAX_EVIDENCE:
                self.evidence.setdefault(rid, why)
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.dispute_kind = self.dispute_kind or other.dispute_kind
        self.has_dispute_no = self.has_dispute_no or other.has_dispute_no


@dataclass(slots=True)
class LinkResult:
    # (loose types where a backtest tape hands over its own: compiled code checks them,
    # streams/native.py) a ``Case``, or a tape's ``CaseView`` (engine/backtest_tape.py)
    case: Any
    created: bool
    reasons: list[str]             # which evidence linked it ("电话", "住址", ...)
    people: AbstractSet[str]       # keyed hashes of the people this record names
    new_people: AbstractSet[str]   # ... of those the case had not seen before
    merged: list[str] = field(default_factory=list)  # case ids merged into ``case`` just now
    via: str = ""                  # why they merged (Chinese, no personal data: ``merge_reason``)
    party_cases: int = 0           # other live cases the record's people are known in
    address_cases: int = 0         # other live cases at the record's address

    def __reduce__(self) -> tuple:   # (as ``Case.__reduce__``: a saved tape loads in either)
        return (LinkResult, (self.case, self.created, self.reasons, self.people, self.new_people,
                             self.merged, self.via, self.party_cases, self.address_cases))


@dataclass(slots=True)
class CaseMerge:
    """One merge as stored (``case_merges``): case ``gone`` merged into ``into`` at event time
    ``at``; ``why`` is the linker's reason in Chinese, evidence kinds only (no names, phones or
    ID numbers)."""

    gone: str
    into: str
    at: datetime
    why: str

    def __reduce__(self) -> tuple:   # (as ``Case.__reduce__``)
        return (CaseMerge, (self.gone, self.into, self.at, self.why))


def merge_reason(record_id: str, labels: Iterable[str]) -> str:
    """The linker's reason for a merge: which record matched both cases, and by what.

    >>> merge_reason("r-9", {"电话", "地址"})
    '记录 r-9 同时关联两案(依据:地址+电话),两案合并'
    """
    got = "+".join(sorted(labels)) or "共同当事人"
    return f"记录 {record_id} 同时关联两案(依据:{got}),两案合并"


def why(cases: Iterable[Case], record_a: str, record_b: str) -> str | None:
    """What joined two records of one case, from the per-record evidence (Chinese)."""
    ca = cb = None
    for c in cases:
        if record_a in c.evidence:
            ca = c
        if record_b in c.evidence:
            cb = c
    if ca is None or ca is not cb:
        return None
    ea, eb = ca.evidence[record_a], ca.evidence[record_b]
    return f"同属案件 {ca.case_id}:记录 {record_a} 依据「{ea}」,记录 {record_b} 依据「{eb}」并入"
