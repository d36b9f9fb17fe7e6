"""Progressive validation of rules, the escalation model and their fusion on one input.

The input is played in event-time order through the same ``engine.pipeline.Pipeline`` the engine
runs (rule packs + learning detectors).  Each record is scored first; the model learns only from
the ``Feedback`` records of the input as they arrive (``escalated_criminal`` positive) and from
cases gone quiet.  The truth file (``yujing simulate``'s) is used only to score the report.

Per truth case (those that escalate later than the input ends are left out), three scores: the
highest reached strictly before the escalation (or over the whole input for a calm case):
``rules`` (the book's fusion of rule signals), ``model`` (calibrated p) and ``fused``
(rules ⊕ the model's latest p in log-odds, ``Fusion.model_weight``, as the warning book does).
Reported: ROC AUC; precision, recall and median lead time when the top ``budget`` share of cases
is flagged (ties shared out fractionally); reliability bins of the per-record probabilities.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, Sequence

from learning import EscalationDetector, RateAnomalyDetector
from streams.privacy import Hasher

from .fusion import Fusion
from .pipeline import Pipeline
from .warning_book import KEEP_PER_RULE, rule_score


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Mann-Whitney AUC with tied ranks averaged."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def at_budget(scores: Sequence[float], labels: Sequence[bool], budget: float) -> dict[str, float]:
    """Flag the top ``budget`` share; cases tied at the cut are flagged fractionally."""
    n = len(scores)
    k = max(1, math.ceil(budget * n))
    cut = sorted(scores, reverse=True)[k - 1]
    above = [i for i in range(n) if scores[i] > cut]
    tied = [i for i in range(n) if scores[i] == cut]
    share = (k - len(above)) / len(tied)
    tp = sum(labels[i] for i in above) + share * sum(labels[i] for i in tied)
    pos = sum(labels)
    return {"threshold": cut, "flagged": k, "precision": round(tp / k, 4),
            "recall": round(tp / pos, 4) if pos else 0.0}


def reliability(preds: list[tuple[float, bool]], bins: int = 10) -> dict[str, Any]:
    rows, ece = [], 0.0
    for b in range(bins):
        inb = [(p, y) for p, y in preds if min(bins - 1, int(p * bins)) == b]
        if not inb:
            continue
        mp = sum(p for p, _ in inb) / len(inb)
        obs = sum(y for _, y in inb) / len(inb)
        ece += len(inb) / len(preds) * abs(mp - obs)
        rows.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": len(inb),
                     "mean_predicted": round(mp, 4), "observed": round(obs, 4)})
    return {"bins": rows, "ece": round(ece, 4)}


class _CaseTrack:
    __slots__ = ("by_rule", "p", "series")

    def __init__(self) -> None:
        self.by_rule: dict[str, list] = {}
        self.p = 0.0
        self.series: list[tuple[datetime, float, float, float]] = []   # (at, rules, model, fused)


def evaluate(items: Iterable[Any], truth: Iterable[dict], *, budget: float = 0.05,
             escalation: EscalationDetector | None = None, rules: list | None = None,
             extra: list | None = None, batch: int = 500, fusion: Fusion | None = None) -> dict[str, Any]:
    from rules.builtin import default_detectors
    model = escalation or EscalationDetector()
    model.emit_min_p = 0.0   # every score is needed here
    fusion = fusion or Fusion()
    dets = (default_detectors() if rules is None else rules) + [model] + \
        ([RateAnomalyDetector()] if extra is None else extra)
    pipe = Pipeline(Hasher(b"evaluate-key-0000"), dets)
    case_of: dict[str, str] = {}
    tracks: dict[str, _CaseTrack] = defaultdict(_CaseTrack)
    rec_p: dict[str, tuple[float, float]] = {}   # record id -> (model p, fused) at its arrival
    n_rate = 0
    buf: list = []

    def run(chunk: list) -> None:
        nonlocal n_rate
        out = pipe.process(chunk)
        case_of.update(out.case_of)
        for s in out.signals:
            if s.evidence.get("shadow") or not s.case_id:
                continue
            t = tracks[s.case_id]
            if s.detector == model.name:
                t.p = s.evidence["probability"]
            elif s.detector.startswith("learning."):
                n_rate += 1
                continue
            else:
                hist = t.by_rule.setdefault(s.rule_id, [])
                hist.append(s)
                if len(hist) > KEEP_PER_RULE:
                    hist.remove(min(hist, key=lambda x: (x.score, x.at)))
            z = sum(rule_score(v) for v in t.by_rule.values())
            r = fusion.score([z])
            f = fusion.score([z, fusion.model_weight(t.p)]) if t.p else r   # as the book does
            t.series.append((s.at, r, t.p, f))
            if s.detector == model.name:
                rec_p[s.record_id] = (t.p, f)

    for it in items:
        buf.append(it)
        if len(buf) >= batch:
            run(buf)
            buf = []
    if buf:
        run(buf)
    return report(truth, case_of, tracks, rec_p, budget, model, n_rate)


def report(truth: Iterable[dict], case_of: dict, tracks: dict, rec_p: dict, budget: float,
           model: EscalationDetector, n_rate: int) -> dict[str, Any]:
    cases = [t for t in truth if t.get("kind") == "case" and not t.get("escalates_later")]
    labels, scores, leads = [], {"rules": [], "model": [], "fused": []}, []
    series_of = []
    preds: dict[str, list] = {"model": [], "fused": []}
    for t in cases:
        until = datetime.fromisoformat(t["escalated_at"]) if t["escalates"] else None
        ser = [x for c in {case_of.get(r) for r in t["record_ids"]} - {None} if c in tracks
               for x in tracks[c].series if until is None or x[0] < until]
        series_of.append((ser, until))
        labels.append(bool(t["escalates"]))
        for i, k in enumerate(("rules", "model", "fused"), 1):
            scores[k].append(max((x[i] for x in ser), default=0.0))
        for r in t["record_ids"]:
            if r in rec_p:
                preds["model"].append((rec_p[r][0], bool(t["escalates"])))
                preds["fused"].append((rec_p[r][1], bool(t["escalates"])))
    out: dict[str, Any] = {"cases": len(cases), "escalations": sum(labels), "warning_budget": budget}
    for i, k in enumerate(("rules", "model", "fused"), 1):
        auc = roc_auc(scores[k], labels)
        b = at_budget(scores[k], labels, budget)
        leads = []
        for (ser, until), y in zip(series_of, labels):
            if y:
                first = min((x[0] for x in ser if x[i] >= b["threshold"]), default=None)
                if first is not None:
                    leads.append((until - first).total_seconds() / 3600)
        out[k] = {"auc": round(auc, 4) if auc is not None else None, **b,
                  "median_lead_hours": round(statistics.median(leads), 1) if leads else None}
    # per-record calibration: records after the escalation are excluded (their p saw it)
    for k in preds:
        out[k]["calibration"] = reliability(preds[k])
    out["model_state"] = {"updates": model.updates, "positives_learned": model.n_pos,
                          "negatives_learned": model.n_neg, "drift_events": model.drift.count}
    out["rate_anomaly_signals"] = n_rate
    return out
