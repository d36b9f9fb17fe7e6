"""The per-batch pipeline: items → (records, signals, warnings, rejects).

Pure and deterministic: no I/O, no wall clock.  The in-process runner, the Kafka
worker and a backtest all call ``Pipeline.process`` on batches of ``Item``s.  (A monotonic
performance counter measures each detector's time per batch, ``Outputs.detector_seconds``, for
the metrics; it never changes what comes out.)
"""
from __future__ import annotations

import gc
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any, Sequence

from graph.cases import CaseMerge
from graph.linker import CaseLinker
from graph.places import KEEP_S, PlaceFeatures, Places
from streams.codec import Reject
from streams.detect import CaseContext, CaseEntry, Detector, KeyPersonInfo
from streams.errors import RecordRejected
from streams.ident import region_prefixes
from streams.privacy import Hasher
from streams.records import EVENT_KINDS, REGISTRY_KINDS, Signal, Warning
from streams.sources import Item

from .warning_book import WarningBook


@dataclass(slots=True)
class Outputs:
    records: list[Any] = field(default_factory=list)        # accepted, first sight only
    case_of: dict[str, str] = field(default_factory=dict)   # record id -> case id
    signals: list[Signal] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)   # new versions, in order
    rejects: list[Reject] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)   # accepted records per kind
    merged: dict[str, str] = field(default_factory=dict)    # merged case id -> surviving case id
    merges: list[CaseMerge] = field(default_factory=list)   # the same, as stored (case_merges)
    detector_seconds: dict[str, float] = field(default_factory=dict)  # detector class -> time

    def add(self, out: "Outputs") -> None:
        """Append another batch's outputs (several batches stored in one write)."""
        self.records += out.records
        self.case_of.update(out.case_of)
        self.signals += out.signals
        self.warnings += out.warnings
        self.rejects += out.rejects
        self.duplicates += out.duplicates
        self.late += out.late
        self.merged.update(out.merged)
        self.merges += out.merges
        for k, n in out.by_kind.items():
            self.by_kind[k] = self.by_kind.get(k, 0) + n
        for k, t in out.detector_seconds.items():
            self.detector_seconds[k] = self.detector_seconds.get(k, 0.0) + t


# The cyclic garbage collector's gen-0 threshold (default 700) and what we use instead.  A
# stream allocates many short-lived objects (decoded records, signals) over a large long-lived
# state (cases, indexes, windows): at 700 the collector ran ~1,500 times over a 14-day city and
# its full passes walked the whole state; that was ~40 % of the CPU time of decode + pipeline
# (benchmarks/bench_pipeline.py, "gc_default" figures).  Reference counting still frees every
# acyclic object at once; only cyclic garbage waits a little longer.
GC_THRESHOLD = (50_000, 20, 10)
# ... and for a Kafka worker, where a pause is in some warning's latency: at (50_000, 20) a
# middle-generation pass walked up to a million young objects (~280 ms, measured in
# benchmarks/bench_kafka.py's latency run); smaller young generations keep each pause to tens of
# ms, and full passes wait for 100 middle ones (the worker also freezes its start-up state,
# engine/worker.py, so full passes skip the registries and rebuilt partitions).
LATENCY_GC_THRESHOLD = (10_000, 10, 100)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLD) -> tuple[int, int, int]:
    """Set the collector's thresholds for streaming (``GC_THRESHOLD``); returns the old ones
    (``gc.set_threshold(*old)`` puts them back).  Outputs never depend on it.

    >>> old = tune_gc(); gc.get_threshold() == GC_THRESHOLD; gc.set_threshold(*old)
    True
    """
    old = gc.get_threshold()
    gc.set_threshold(*thresholds)
    return old


_HAS_PLACE = frozenset({"grid_event", "call", "video_alert", "key_person", "camera", "site"})


def _shadow(s: Signal) -> bool:
    return bool(s.evidence.get("shadow"))


def _category(rec: Any) -> str:
    if rec.kind == "call":
        return rec.call_type.value
    if rec.kind == "video_alert":
        return rec.alert_type.value
    return rec.status.value


class Pipeline:
    def __init__(self, hasher: Hasher, detectors: Sequence[Detector], book: WarningBook | None = None,
                 lateness: timedelta = timedelta(hours=6), retention: timedelta | None = timedelta(days=60),
                 linker: Any = None):
        self.hasher = hasher
        self.detectors = list(detectors)
        self._timed = [d for d in self.detectors if callable(getattr(d, "advance", None))]
        self._learners = [d for d in self.detectors if callable(getattr(d, "observe_outcome", None))]
        self.book = book or WarningBook()
        # (a backtest may replay recorded linking instead: engine/backtest_tape.py)
        self.linker = linker if linker is not None else CaseLinker(hasher)
        self.lateness = lateness
        self.known_regions: set[str] = set()     # every level of every registered grid
        self.key_persons: dict[str, KeyPersonInfo] = {}
        self.places = Places()                   # sites (registry) and recent camera incidents
        self.watermark: datetime | None = None   # highest event time seen minus lateness
        self._seen: dict[str, str] = {}          # record id -> case id ("" if none)
        # memory stays flat on an endless stream: cases, record ids and evidence older than
        # ``retention`` (event time) are forgotten; the store keeps them, and its idempotent
        # writes absorb a duplicate that arrives after that
        self.retention = retention
        self._arrivals: deque[tuple[datetime, str]] = deque()  # (event time, record id)
        self._pruned_at: datetime | None = None
        self._parked: dict[str, list[str]] = {}  # case id -> old record ids kept for feedback

    # -- helpers ---------------------------------------------------------------------------
    def _check_region(self, rec: Any) -> None:
        if not self.known_regions:
            return  # no registry loaded: only the form of codes is checked
        place = rec.place if rec.kind in _HAS_PLACE else None
        code = place.region_code if place is not None else None
        if code and code not in self.known_regions:
            raise RecordRejected("unknown_region", f"region code {code} is not a region of this "
                                 "deployment (see the grid registry)", field="place.region_code",
                                 record_id=rec.id)

    def _registry(self, rec: Any) -> None:
        if rec.kind == "grid":
            self.known_regions.update(region_prefixes(rec.region_code))
        elif rec.kind == "key_person" and rec.person.id_number:
            self.key_persons[self.hasher(rec.person.id_number)] = KeyPersonInfo(
                rec.category.value, rec.risk_level)
        elif rec.kind == "site" and rec.place.lat is not None and rec.place.lon is not None:
            self.places.add_site(rec.site_id, rec.site_type.value, rec.name, rec.place.lat,
                                 rec.place.lon, rec.radius_m)

    def _feedback(self, rec: Any, out: Outputs) -> None:
        cid = None
        if rec.case_id:
            cid = rec.case_id
        elif rec.record_id and self._seen.get(rec.record_id):
            cid = self._seen[rec.record_id]
        if cid:
            cid = self.book.canonical(self.linker.canonical(cid))  # its case may have merged since
            out.case_of[rec.id] = cid
            for d in self._learners:  # delayed labels: the outcome reaches the models
                d.observe_outcome(cid, rec.outcome.value, rec.occurred_at, rec.record_id)
            w = self.book.close(cid, rec.outcome.value, rec.occurred_at)
            if w is not None:
                out.warnings.append(w)

    def _event(self, rec: Any, out: Outputs) -> None:
        at = rec.occurred_at
        if self.watermark is not None and at < self.watermark:
            out.late += 1  # still processed: a late record may update its case
        wm = at - self.lateness
        if self.watermark is None or wm > self.watermark:
            self.watermark = wm
            self._advance(out)  # per record, so outputs do not depend on the batch size
        kind = rec.kind
        # (kind tests, not getattr: a missing attribute on a pydantic model is a slow miss)
        entry = CaseEntry(rec.id, kind, at, _category(rec), rec.text if kind != "video_alert" else "")
        dk = rec.dispute_kind if kind == "grid_event" else None
        res = self.linker.link(rec, entry, dk.value if dk is not None else None)
        feats = self.place_features(rec, at)  # graph.* near-by names, lazily
        if res is None:
            # names no case (a video alert or hazard with nobody in it): the detectors still
            # see it (a drowning-season alert, a gathering), and it becomes a case of its own
            # only if they have something to say
            ctx = CaseContext("", [entry], frozenset(), frozenset(), frozenset(), self.key_persons,
                              rec.place.region_code, rec.place.address, features=feats)
            signals = self._detect(rec, ctx, out)
            self._incident(rec)
            if not any(not _shadow(s) for s in signals):
                return
            case = self.linker.open_alone(rec, entry)
            for s in signals:
                s.case_id = case.case_id
        else:
            case = res.case
            feats.linked = res   # graph.party_cases / graph.address_cases (graph/linker.py)
            for gone in res.merged:  # evidence joined two cases: the older id survives
                out.merged[gone] = case.case_id
                out.merges.append(CaseMerge(gone, case.case_id, at, res.via))
                w = self.book.merge(gone, case.case_id, at)
                if w is not None:
                    out.warnings.append(w)
            ctx = CaseContext(case.case_id, case.entries, case.party_keys, res.people,
                              res.new_people, self.key_persons, case.region_code, case.address,
                              case.dispute_kind, feats)
            signals = self._detect(rec, ctx, out)
            self._incident(rec)
        out.case_of[rec.id] = case.case_id
        self._seen[rec.id] = case.case_id
        self._warn(case, [s for s in signals if not _shadow(s)], kind, at, out)

    def place_features(self, rec: Any, at: Any) -> PlaceFeatures:
        """The record's ``graph.*`` place names as the map stands now (a backtest tape may
        hand over the ones it wrote down instead: engine/backtest_tape.py)."""
        return PlaceFeatures(self.places, rec.place, at)

    def _incident(self, rec: Any) -> None:
        """A camera incident joins the map after its own detection (it is not its own neighbour)."""
        if rec.kind == "video_alert" and rec.place.lat is not None and rec.place.lon is not None:
            self.places.add_incident(rec.alert_type.value, rec.place.lat, rec.place.lon,
                                     rec.occurred_at.timestamp())

    def _detect(self, rec: Any, ctx: CaseContext, out: Outputs) -> list[Signal]:
        signals: list[Signal] = []
        spent = out.detector_seconds
        for d in self.detectors:
            t = perf_counter()
            signals.extend(d.detect(rec, ctx))
            name = type(d).__name__
            spent[name] = spent.get(name, 0.0) + (perf_counter() - t)
        out.signals.extend(signals)  # shadow signals too: recorded, never pushed
        return signals

    def _warn(self, case, signals: list[Signal], kind: str, at: datetime, out: Outputs) -> None:
        if signals:
            w = self.book.update(case, signals, kind, at)
            if w is not None:
                out.warnings.append(w)

    def _advance(self, out: Outputs) -> None:
        """The watermark moved: detectors with timers (absence rules) may fire."""
        spent = out.detector_seconds
        for d in self._timed:
            t = perf_counter()
            fired = d.advance(self.watermark)
            name = type(d).__name__
            spent[name] = spent.get(name, 0.0) + (perf_counter() - t)
            out.signals.extend(fired)
            for s in fired:
                case = self.linker.cases.get(self.linker.canonical(s.case_id))
                if case is not None and not _shadow(s):  # (a case pruned since can take no warning)
                    self._warn(case, [s], "", s.at, out)

    # -- the batch ---------------------------------------------------------------------------
    def process(self, items: Sequence[Item]) -> Outputs:
        out = Outputs()
        for it in items:
            rec = it.record
            if rec is None:
                out.rejects.append(Reject.of(it.error, it.raw, source=it.source))
                continue
            if rec.id in self._seen:
                out.duplicates += 1
                continue
            try:
                self._check_region(rec)
            except RecordRejected as exc:
                exc.line = it.line
                out.rejects.append(Reject.of(exc, it.raw, source=it.source))
                continue
            self._seen.setdefault(rec.id, "")
            if rec.kind not in REGISTRY_KINDS:
                self._arrivals.append((rec.occurred_at, rec.id))
            out.records.append(rec)
            out.by_kind[rec.kind] = out.by_kind.get(rec.kind, 0) + 1
            if rec.kind in EVENT_KINDS:
                self._event(rec, out)
            elif rec.kind == "feedback":
                self._feedback(rec, out)
            else:
                self._registry(rec)
        self._prune()
        return out

    def _prune(self) -> None:
        wm = self.watermark
        if self.retention is None or wm is None:
            return
        if self._pruned_at is not None and wm - self._pruned_at < timedelta(days=1):
            return  # once per day of event time is enough
        self._pruned_at = wm
        self.places.prune(wm.timestamp() - KEEP_S)
        cutoff = wm - self.retention
        # an open warning stays in the book, and the ids of its case's records stay known,
        # until feedback closes it: the centre's outcome may come weeks later and must still
        # find its warning.  The case itself (entries, keys) leaves: it can take no new record.
        keep = self.book.open_cases()
        for cid in self.linker.prune(cutoff):
            if cid not in keep:
                self.book.forget(cid)
        live = self.linker.cases
        while self._arrivals and self._arrivals[0][0] < cutoff:
            rid = self._arrivals.popleft()[1]
            cid = self._seen.get(rid)
            cid = cid and self.book.canonical(self.linker.canonical(cid))
            if cid and (cid in keep or cid in live):  # its case may still get feedback
                self._parked.setdefault(cid, []).append(rid)
            else:
                self._seen.pop(rid, None)
        for cid in [c for c in self._parked if c not in keep and c not in live]:
            for rid in self._parked.pop(cid):
                self._seen.pop(rid, None)
