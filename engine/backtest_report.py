"""Scoring a backtest ``Run`` against the simulator's truth file, and the diff of two runs.

The definitions are in ``engine/backtest.py``'s docstring (and docs/rules.md); this module
holds the arithmetic so the runner stays short.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.codes import LEVEL_RANK, Level
from streams.records import TZ

if TYPE_CHECKING:
    from .backtest import Run

LEVELS = {lv.value: LEVEL_RANK[lv] for lv in (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED)}


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
