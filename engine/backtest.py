"""Backtest: the same ``engine.pipeline.Pipeline`` over a file, as fast as the CPU allows, scored
against the simulator's truth file; ``compare`` shows what a rule change adds and removes.

Definitions (the report states them too):

- A **warned case** is one of the engine's cases that reached the chosen level or above
  (``blue`` by default: any warning).  It is matched to every truth case among its records (a case of noise records matches
  none); a truth case is warned when any engine case holding its records is.
- **True positive**: the truth case escalates (``escalates``) and the engine warned it *before*
  ``escalated_at``.  **False positive**: a warned case that never escalates (not even after the
  input's window, ``escalates_later``), or one that matches no truth case.  Cases warned only
  after their escalation (``late``) and cases that escalate after the window (``later``) are
  counted apart and left out of precision.  Overall precision is over warnings (engine cases:
  right if a truth case among its records escalates after it; wrong if none escalates, not
  even later); per rule over truth cases (TP / (TP + FP)).  recall = TP / escalating cases; lead time = ``escalated_at`` − the first warning at that level.
- Per rule (shadow rules too: they never warn, the same figures say what they would do): a
  rule **hits** a truth case when it signals on one of its records; TP, FP and lead time as
  above with the rule's first signal in place of the warning ("would-be" precision/recall).
  ``warned_cases`` counts the warned cases whose warning, when it first reached the level,
  listed the rule among its reasons.
"""
from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from streams.codes import LEVEL_RANK
from streams.privacy import Hasher
from streams.records import EVENT_KINDS

from .backtest_report import LEVELS, Truth, _score, case_truth, compare, report  # noqa: F401
from .backtest_tape import Tape, replay_pipeline
from .backtest_tape import record as record_tape  # noqa: F401  (engine.backtest.record_tape)
from .pipeline import Pipeline, tune_gc
from .warning_book import WarningBook

BATCH = 500
HASH_KEY = b"backtest-key-000"


@dataclass
class Run:
    """What one pass of the pipeline produced (no truth needed)."""

    rules: dict[str, dict] = field(default_factory=dict)      # id -> pack, version, kind, shadow, title
    signals: list[tuple] = field(default_factory=list)        # (rule, record id, case id, t, shadow)
    case_of: dict[str, str] = field(default_factory=dict)     # record id -> engine case id
    first: dict[tuple[str, int], float] = field(default_factory=dict)    # (case, rank) -> t
    reasons: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    records: int = 0
    rejects: int = 0
    seconds: float = 0.0
    pipeline_seconds: float = 0.0
    t_min: float | None = None
    t_max: float | None = None


def load_rules(directory: str | Path, profile: str | None = None):
    """The rules of a pack folder as one detector, under ``profile`` (default 平时) and the
    packs' region overrides; returns (the running rules' specs as tuned, detector).  Lint
    errors and an unknown profile raise ``ValueError``."""
    from dataclasses import replace

    from rules.detector import PackDetector
    from rules.packs import load_packs
    ps = load_packs(directory)
    if ps.errors or not ps.files:
        raise ValueError(f"rule packs in {directory} do not load:\n"
                         + "\n".join(map(str, ps.errors or [f"no *.yaml packs in {directory}"])))
    det = PackDetector(ps.specs, tuning=ps.tuning(profile))
    return [replace(r.spec, enabled=True) for r in det.rules], det


def run(detectors: list, items: "Iterable | Tape", rules: dict[str, dict] | None = None,
        progress: Callable[[int, float], None] | None = None, every: float = 2.0,
        book: WarningBook | None = None) -> Run:
    """Play ``items`` (``streams.sources.Item``) through a fresh pipeline with ``book`` (default:
    default fusion and level cuts); or replay a ``Tape`` (``record``): the same outputs without
    decoding or linking again."""
    book = book or WarningBook()
    if isinstance(items, Tape):
        pipe = replay_pipeline(items, detectors, book)
        items = items.items
    else:
        pipe = Pipeline(Hasher(HASH_KEY), detectors, book)
    r = Run(rules=dict(rules or {}))
    old_gc = tune_gc()   # (a backtest is a stream too; put back when done)
    start = last = time.perf_counter()
    batch: list = []

    def flush() -> None:
        t0 = time.perf_counter()
        out = pipe.process(batch)
        r.pipeline_seconds += time.perf_counter() - t0
        batch.clear()
        r.records += len(out.records)
        r.rejects += len(out.rejects)
        r.case_of.update(out.case_of)
        # (the kind first: a getattr miss on a pydantic registry record is slow)
        ts = [rec.occurred_at.timestamp() for rec in out.records if rec.kind in EVENT_KINDS]
        if ts:
            r.t_min = min(ts) if r.t_min is None else min(r.t_min, *ts)
            r.t_max = max(ts) if r.t_max is None else max(r.t_max, *ts)
        for s in out.signals:
            r.signals.append((s.rule_id, s.record_id, s.case_id, s.at.timestamp(),
                              bool(s.evidence.get("shadow"))))
        for w in out.warnings:
            if w.state == "closed":
                continue
            for rank in range(1, LEVEL_RANK[w.level] + 1):
                if (w.case_id, rank) not in r.first:
                    r.first[(w.case_id, rank)] = w.updated_at.timestamp()
                    r.reasons[(w.case_id, rank)] = [x["rule_id"] for x in w.reasons]

    try:
        for it in items:
            batch.append(it)
            if len(batch) >= BATCH:
                flush()
                now = time.perf_counter()
                if progress is not None and now - last >= every:
                    last = now
                    progress(r.records, now - start)
        if batch:
            flush()
    finally:
        gc.set_threshold(*old_gc)
    r.seconds = time.perf_counter() - start
    return r


def rule_table(specs) -> dict[str, dict]:
    return {s.id: {"pack": s.pack, "version": s.version, "kind": s.kind, "shadow": s.shadow,
                   "title": s.title, "score": s.score} for s in specs if s.enabled}


def stderr_progress(total: int | None = None) -> Callable[[int, float], None]:
    def show(n: int, sec: float) -> None:
        of = f"/{total:,}" if total else ""
        print(f"backtest: {n:,}{of} records, {n / sec:,.0f} records/s", file=sys.stderr, flush=True)
    return show
