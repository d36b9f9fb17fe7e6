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
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from streams.codes import LEVEL_RANK, Level
from streams.privacy import Hasher
from streams.records import EVENT_KINDS, TZ

from .backtest_tape import Tape, replay_pipeline
from .backtest_tape import record as record_tape  # noqa: F401  (engine.backtest.record_tape)
from .pipeline import Pipeline, tune_gc
from .warning_book import WarningBook

LEVELS = {lv.value: LEVEL_RANK[lv] for lv in (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED)}
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
        progress: Callable[[int, float], None] | None = None, every: float = 2.0) -> Run:
    """Play ``items`` (``streams.sources.Item``) through a fresh pipeline with default fusion;
    or replay a ``Tape`` (``record``): the same outputs without decoding or linking again."""
    if isinstance(items, Tape):
        pipe = replay_pipeline(items, detectors)
        items = items.items
    else:
        pipe = Pipeline(Hasher(HASH_KEY), detectors, WarningBook())
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


# -- truth ----------------------------------------------------------------------------------
@dataclass
class Truth:
    cases: dict[str, dict]                     # truth case id -> the truth entry
    of_record: dict[str, str]                  # record id -> truth case id
    days: float | None = None

    @classmethod
    def load(cls, path: str | Path) -> "Truth":
        cases, of, days = {}, {}, None
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if '"kind":"case"' not in line.replace(" ", "") and '"header"' not in line:
                    continue
                e = json.loads(line)
                if e.get("kind") == "header":
                    days = (e.get("config") or {}).get("days")
                elif e.get("kind") == "case":
                    cases[e["case_id"]] = e
                    for rid in e.get("record_ids", ()):
                        of[rid] = e["case_id"]
        return cls(cases, of, days)

    def esc_at(self, tc: str | None) -> float | None:
        e = self.cases.get(tc) if tc else None
        if not e or not e.get("escalates") or not e.get("escalated_at"):
            return None
        return datetime.fromisoformat(e["escalated_at"]).timestamp()

    def later(self, tc: str | None) -> bool:
        e = self.cases.get(tc) if tc else None
        return bool(e and not e.get("escalates") and e.get("escalates_later"))

    @property
    def escalating(self) -> list[str]:
        return [c for c, e in self.cases.items() if e.get("escalates")]


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 1) if xs else None


def _score(first: dict[str, float], truth: Truth) -> dict[str, Any]:
    """``first``: truth case (or ``"?"+key`` for unmatched) -> first warning/hit time."""
    tp, fp, late, later, leads = 0, 0, 0, 0, []
    for tc, t in first.items():
        esc = truth.esc_at(tc)
        if esc is not None:
            if t < esc:
                tp += 1
                leads.append((esc - t) / 3600)
            else:
                late += 1
        elif truth.later(tc):
            later += 1
        else:
            fp += 1
    n_esc = len(truth.escalating)
    return {"tp": tp, "fp": fp, "late": late, "later": later,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / n_esc, 3) if n_esc else None,
            "median_lead_hours": _median(leads)}


def _precision(warned: dict[str, float], ct: dict[str, list[str]], truth: Truth) -> dict:
    """Precision over the warnings themselves (engine cases, what the centre receives): a
    warning is right if a truth case among its records escalates after it."""
    tp = fp = 0
    for c, t in warned.items():
        tcs = ct.get(c, [])
        escs = [e for e in map(truth.esc_at, tcs) if e is not None]
        if any(t < e for e in escs):
            tp += 1
        elif not escs and not any(map(truth.later, tcs)):
            fp += 1
    return {"tp_warnings": tp, "fp_warnings": fp,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None}


def case_truth(run: Run, truth: Truth) -> dict[str, list[str]]:
    """Engine case id -> the truth cases among its records (most records first)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for rid, cid in run.case_of.items():
        tc = truth.of_record.get(rid)
        if cid and tc:
            votes[cid][tc] += 1
    return {cid: [tc for tc, _ in c.most_common()] for cid, c in votes.items()}


def report(run: Run, truth: Truth | None, level: str = "blue") -> dict[str, Any]:
    """The backtest report as a JSON-able dict: overall per level, and per rule at ``level``."""
    span = ((run.t_max - run.t_min) / 86400) if run.t_min is not None else 0.0
    days = float(truth.days) if truth and truth.days else max(1.0, round(span, 1))
    rank = LEVELS[level]
    ct = case_truth(run, truth) if truth else {}
    out: dict[str, Any] = {
        "input": {"records": run.records, "rejects": run.rejects, "days": days,
                  "seconds": round(run.seconds, 2),
                  "records_per_s": round(run.records / run.seconds) if run.seconds else None,
                  "pipeline_records_per_s": round(run.records / run.pipeline_seconds)
                  if run.pipeline_seconds else None},
        "level": level, "overall": {}, "rules": {}}
    if truth:
        out["input"]["truth_cases"] = len(truth.cases)
        out["input"]["escalations"] = len(truth.escalating)
    for name, rk in LEVELS.items():
        warned = {c: t for (c, r), t in run.first.items() if r == rk}
        o: dict[str, Any] = {"warned_cases": len(warned),
                             "warnings_per_day": round(len(warned) / days, 1)}
        if truth:
            firsts: dict[str, float] = {}
            for c, t in warned.items():   # a warned case credits every truth case it holds
                for k in ct.get(c) or ["?" + c]:
                    firsts[k] = min(t, firsts.get(k, t))
            o.update(_score(firsts, truth))
            o.update(_precision(warned, ct, truth))
        out["overall"][name] = o
    hits: dict[str, list] = defaultdict(list)
    for s in run.signals:
        hits[s[0]].append(s)
    contrib: Counter = Counter()
    for (c, r), rules in run.reasons.items():
        if r == rank:
            contrib.update(set(rules))
    for rid, meta in sorted(run.rules.items(), key=lambda kv: (kv[1]["pack"], kv[0])):
        sig = hits.get(rid, [])
        o = {**{k: meta[k] for k in ("pack", "version", "kind", "shadow")},
             "hits": len(sig), "hits_per_day": round(len(sig) / days, 1),
             "cases_hit": len({s[2] or "r:" + s[1] for s in sig}),
             "warned_cases": contrib.get(rid, 0),
             "warnings_per_day": round(contrib.get(rid, 0) / days, 2)}
        if truth:
            firsts = {}
            for s in sig:
                k = truth.of_record.get(s[1]) or (ct.get(s[2]) or ["?" + (s[2] or s[1])])[0]
                firsts[k] = min(s[3], firsts.get(k, s[3]))
            o.update(_score(firsts, truth))
        out["rules"][rid] = o
    return out


def compare(new: Run, old: Run, truth: Truth | None, level: str = "blue",
            limit: int = 200) -> dict[str, Any]:
    """What the new rules add and remove: warned cases at ``level`` and hits, per rule."""
    rank = LEVELS[level]
    ct = case_truth(new, truth) if truth else {}
    ct_old = case_truth(old, truth) if truth else {}
    wn = {c for (c, r) in new.first if r == rank}
    wo = {c for (c, r) in old.first if r == rank}

    def case_row(c: str, r: Run, tmap: dict) -> dict:
        row = {"case_id": c, "warned_at": datetime.fromtimestamp(r.first[(c, rank)], TZ).isoformat(),
               "rules": r.reasons.get((c, rank), [])}
        if truth:
            tcs = tmap.get(c, [])
            escs = [e for e in map(truth.esc_at, tcs) if e is not None]
            row.update(truth_cases=tcs[:5], escalates=bool(escs),
                       before_escalation=bool(escs) and r.first[(c, rank)] < min(escs))
        return row

    appear = sorted(wn - wo)
    gone = sorted(wo - wn)
    sn = {(s[0], s[1]) for s in new.signals}
    so = {(s[0], s[1]) for s in old.signals}
    per_rule: dict[str, dict] = {}
    for rid in sorted(set(new.rules) | set(old.rules)):
        a = {x for x in sn - so if x[0] == rid}
        g = {x for x in so - sn if x[0] == rid}
        vn, vo = new.rules.get(rid, {}).get("version"), old.rules.get(rid, {}).get("version")
        status = "added" if vo is None else "removed" if vn is None else \
            "changed" if vn != vo or new.rules[rid] != old.rules[rid] else "same"
        wa = sum(1 for c in appear if rid in new.reasons.get((c, rank), []))
        wg = sum(1 for c in gone if rid in old.reasons.get((c, rank), []))
        if status != "same" or a or g or wa or wg:
            per_rule[rid] = {"status": status, "version": [vo, vn], "hits_added": len(a),
                             "hits_removed": len(g), "warnings_added": wa, "warnings_removed": wg}
    out = {"level": level, "warned_cases": [len(wo), len(wn)],
           "appear": len(appear), "disappear": len(gone), "rules": per_rule,
           "appear_cases": [case_row(c, new, ct) for c in appear[:limit]],
           "disappear_cases": [case_row(c, old, ct_old) for c in gone[:limit]]}
    return out


def stderr_progress(total: int | None = None) -> Callable[[int, float], None]:
    def show(n: int, sec: float) -> None:
        of = f"/{total:,}" if total else ""
        print(f"backtest: {n:,}{of} records, {n / sec:,.0f} records/s", file=sys.stderr, flush=True)
    return show
