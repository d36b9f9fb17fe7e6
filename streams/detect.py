"""The detector protocol: one small contract every detector honours (rules, graph, models).

A detector is pure: given a record and the case it belongs to, it returns signals.
It does no I/O and never reads the wall clock, so the same code gives the same
signals in the in-process runner, a Kafka worker and a backtest.  Its state
(windows, weights) round-trips through ``snapshot``/``restore``.

This module sits in ``streams`` so that ``graph``, ``rules`` and ``learning`` can
implement it without importing ``engine`` (data flows one way).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import AbstractSet, Any, Mapping, NamedTuple, Protocol, runtime_checkable

from .records import Signal


class CaseEntry(NamedTuple):
    """What a case remembers of one of its records: no personal data.

    (A named tuple, not a dataclass: cases hold one per record, ~2 M at 1 M people, and the
    collector stops tracking a tuple of strings and times; slotted objects it walks on every
    full collection.)
    """

    record_id: str
    kind: str           # grid_event | call | video_alert
    at: datetime
    category: str       # call_type, alert_type or grid event status
    text: str = ""


@dataclass(slots=True)
class KeyPersonInfo:
    category: str
    risk_level: int


@dataclass(slots=True)
class CaseContext:
    """The case a record was linked to, as detectors see it."""

    case_id: str
    entries: list[CaseEntry]                      # event-time order, the current record included
    party_keys: AbstractSet[str] = frozenset()    # keyed hashes of the people in the case
    record_party_keys: AbstractSet[str] = frozenset()  # ... of the people this record names
    new_party_keys: AbstractSet[str] = frozenset()     # ... of those new to the case
    key_persons: Mapping[str, KeyPersonInfo] = field(default_factory=dict)  # id-hash -> info
    region_code: str = ""
    address: str = ""                             # masked/normalised, safe to show
    dispute_kind: str | None = None
    features: Mapping[str, Any] = field(default_factory=dict)  # graph features (graph issue)


@runtime_checkable
class Detector(Protocol):
    """``detect`` may return [] (nothing to say) or several signals."""

    name: str

    def detect(self, record: Any, case: CaseContext) -> list[Signal]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


class TimedDetector(Detector, Protocol):
    """A detector with timers (absence rules): ``advance`` is called each time the watermark
    (newest event time minus the allowed lateness) moves, and returns what became due."""

    def advance(self, watermark: datetime) -> list[Signal]: ...


class LearningDetector(Detector, Protocol):
    """A detector that learns from the centre's outcomes (delayed labels): the pipeline calls
    ``observe_outcome`` when feedback names one of its cases, days or weeks after scoring;
    ``record_id`` is the record the feedback names (for an escalation, the escalation itself,
    which must not be learned as its own precursor)."""

    def observe_outcome(self, case_id: str, outcome: str, at: datetime,
                        record_id: str | None = None) -> None: ...


def signal_id(detector: str, rule_id: str, record_id: str) -> str:
    """Deterministic: the same record through the same rule always gives the same id."""
    h = hashlib.blake2b(f"{detector}|{rule_id}|{record_id}".encode(), digest_size=10)
    return "S-" + h.hexdigest()


def make_signal(detector: str, rule_id: str, record: Any, case: CaseContext, score: float,
                reason: str, evidence: dict[str, Any] | None = None, version: int = 1) -> Signal:
    return Signal(
        id=signal_id(detector, rule_id, record.id), detector=detector, rule_id=rule_id,
        rule_version=version, case_id=case.case_id, record_id=record.id,
        score=max(0.0, min(1.0, score)), reason=reason, evidence=evidence or {},
        at=record.occurred_at,
    )
