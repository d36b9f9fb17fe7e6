"""Link once, replay many: a backtest input's case linking recorded on a tape.

An analyst tuning rules runs the same month of records again and again; what changes between
runs is the rules, not which case each record belongs to.  ``record`` decodes the input and runs
the case linker over it once (the pipeline with no detectors), keeping for every event record
what the linker answered: its case as it stood at that moment (``CaseView``: id, place, dispute
kind, entries, parties), the people it names, the merges it caused; the linker's prunes; and
the record's place features (near a school or water, camera incidents nearby: ``graph.*``).
``ReplayLinker`` then stands in for ``graph.linker.CaseLinker`` inside an ordinary
``engine.pipeline.Pipeline``: the same pipeline code runs the detectors, the timers, fusion
and the warning book, and gives the same signals and warnings as a full run
(tests/test_backtest_tape.py checks this), at the cost of the detectors alone.

The tape holds the decoded records in memory: fine for a month of a city (127k records,
~0.3 GB), not for a year; ``yujing backtest`` records one only when it runs twice
(``--compare``) or when asked (``--tape``).
"""
from __future__ import annotations

import gc
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from graph.linker import CaseLinker, LinkResult
from graph.places import PlaceFeatures
from streams.detect import CaseEntry
from streams.privacy import Hasher

from .pipeline import Pipeline, tune_gc
from .warning_book import WarningBook


@dataclass(slots=True)
class CaseView:
    """What the pipeline, the detectors and the warning book read of a case, frozen at one
    record (a ``graph.cases.Case`` goes on changing)."""

    case_id: str
    region_code: str
    address: str
    dispute_kind: str | None
    entries: list[CaseEntry]
    party_keys: frozenset[str]
    last_at: datetime


def _view(c: Any) -> CaseView:
    return CaseView(c.case_id, c.region_code, c.address, c.dispute_kind, list(c.entries),
                    frozenset(c.party_keys), c.last_at)


@dataclass
class Tape:
    """Decoded items in arrival order and the linker's answers (see the module doc)."""

    items: list = field(default_factory=list)
    links: dict[str, LinkResult | None] = field(default_factory=dict)  # record id -> answer
    # record id -> its graph.* place names (near a school/water, camera incidents nearby) as
    # the map stood at that record: the map depends on the input only, not on the rules
    places: dict[str, dict] = field(default_factory=dict)
    prunes: list[list[str]] = field(default_factory=list)              # each prune's ids, in order
    batch: int = 500
    hash_key: bytes = b""
    seconds: float = 0.0          # decoding and linking, once

    @property
    def records(self) -> int:
        return len(self.items)


class _TapingLinker:
    """The real linker, writing down what it answers.  It wraps the linker rather than
    subclassing it: a compiled class (streams/native.py) takes no interpreted subclass."""

    def __init__(self, hasher: Hasher, tape: Tape):
        self.inner = CaseLinker(hasher)
        self.tape = tape

    def __getattr__(self, name: str) -> Any:   # cases, aliases, canonical, open_alone...
        return getattr(self.inner, name)

    def link(self, rec: Any, entry: CaseEntry, dispute_kind: str | None = None) -> LinkResult | None:
        res = self.inner.link(rec, entry, dispute_kind)
        self.tape.links[rec.id] = None if res is None else LinkResult(
            _view(res.case), res.created, res.reasons, frozenset(res.people),
            frozenset(res.new_people), list(res.merged), res.via, res.party_cases, res.address_cases)
        return res

    def prune(self, before: datetime) -> list[str]:
        gone = self.inner.prune(before)
        self.tape.prunes.append(gone)
        return gone


def record(items: Iterable, hash_key: bytes, batch: int = 500,
           progress: Callable[[int, float], None] | None = None, every: float = 2.0) -> Tape:
    """Decode (``items`` may be a generator over a file) and link once; see ``ReplayLinker``.
    ``hash_key`` and ``batch`` must be the replay pipeline's (keyed party hashes; prunes
    happen at batch ends)."""
    tape = Tape(batch=batch, hash_key=hash_key)
    pipe = Pipeline(Hasher(hash_key), [], WarningBook(), linker=_TapingLinker(Hasher(hash_key), tape))
    plain = pipe.place_features

    def taped_features(rec: Any, at: Any) -> PlaceFeatures:
        feats = plain(rec, at)
        values = feats.all()
        if values:
            tape.places[rec.id] = values
        return feats
    pipe.place_features = taped_features
    old_gc = tune_gc()
    start = last = time.perf_counter()
    chunk: list = []
    try:
        for it in items:
            chunk.append(it)
            if len(chunk) >= batch:
                pipe.process(chunk)
                tape.items += chunk
                chunk = []
                now = time.perf_counter()
                if progress is not None and now - last >= every:
                    last = now
                    progress(len(tape.items), now - start)
        pipe.process(chunk)
        tape.items += chunk
    finally:
        gc.set_threshold(*old_gc)
    tape.seconds = time.perf_counter() - start
    return tape


class ReplayLinker:
    """Answers as the tape says, in the order the pipeline asks (the same items, the same
    batches).  Raises ``KeyError`` for a record the tape never saw (the wrong tape)."""

    def __init__(self, tape: Tape):
        self.tape = tape
        self.cases: dict[str, Any] = {}        # the live cases' latest views
        self.aliases: dict[str, str] = {}
        self._alone: dict[str, CaseView] = {}  # cases opened for one caseless record
        self._prunes = iter(tape.prunes)

    def canonical(self, case_id: str) -> str:
        while case_id in self.aliases:
            case_id = self.aliases[case_id]
        return case_id

    def link(self, rec: Any, entry: CaseEntry, dispute_kind: str | None = None) -> LinkResult | None:
        res = self.tape.links[rec.id]
        if res is None:
            return None
        cid = res.case.case_id
        for gone in res.merged:
            self.cases.pop(gone, None)
            self.aliases[gone] = cid
        self.cases[cid] = res.case
        return res

    def open_alone(self, rec: Any, entry: CaseEntry) -> CaseView:
        """As ``CaseLinker.open_alone``: a case for one record that names nobody."""
        p = rec.place
        cid = "C-" + hashlib.blake2b(rec.id.encode(), digest_size=8).hexdigest()
        case = CaseView(cid, p.region_code, p.address, None, [entry], frozenset(), rec.occurred_at)
        self.cases[cid] = self._alone[cid] = case
        return case

    def prune(self, before: datetime) -> list[str]:
        gone = list(next(self._prunes))
        gone += [cid for cid, c in self._alone.items() if c.last_at < before]
        for cid in gone:
            self.cases.pop(cid, None)
            self.aliases.pop(cid, None)
            self._alone.pop(cid, None)
        return gone


def replay_pipeline(tape: Tape, detectors: list, book: WarningBook | None = None) -> Pipeline:
    """A pipeline over ``detectors`` whose linker replays ``tape``; feed it ``tape.items`` in
    batches of ``tape.batch``."""
    pipe = Pipeline(Hasher(tape.hash_key), detectors, book or WarningBook(), linker=ReplayLinker(tape))
    places = tape.places
    pipe.place_features = lambda rec, at: PlaceFeatures.preset(places.get(rec.id), rec.place)
    return pipe
