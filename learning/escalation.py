"""The escalation (民转刑) classifier as a detector: score on every record, learn on outcomes.

On each record of a case it computes the case's features (``features.Featurizer``), scores them
with a river logistic regression and maps the raw score through a calibrator to a probability
``p``.  The features *as they were* at that moment are kept, per case, bounded (the last
``keep``).  When the centre's outcome arrives (``observe_outcome``, days or weeks later) those
kept snapshots are joined with the label and learned; for an escalation, the snapshot taken at
the record the feedback names, and any after it, are dropped (the escalation call itself is not
a precursor).
A case quiet for ``horizon`` of event time (``advance``) is learned as a negative.

Signals: one per scored record with ``p >= emit_min_p``; below that the model is silent, except
once when a case it last spoke about falls below (a 回落 signal), so the warning book, which
counts the model's *latest* estimate, never keeps a stale high one.

Imbalance: each case counts once (its snapshots share weight 1), positives weigh
negatives-seen / positives-seen (clipped to ``max_pos_weight``).  Deterministic: no randomness,
no clock, no salted hashes.  State is plain JSON (``snapshot``/``restore``).
"""
from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from itertools import repeat
from operator import mul
from typing import Any, Callable

from river import linear_model, optim
from river.utils import VectorDict

from streams.detect import CaseContext, make_signal
from streams.records import Signal

from .calibrate import Calibrator
from .drift import DriftWatch
from .features import Featurizer
from .protocol import GAIN, POSITIVE, PRIOR, fusion_weight

VERSION = 1


def _iso(at: datetime | str) -> str:
    return at if isinstance(at, str) else at.isoformat()


class _Pending:
    __slots__ = ("last", "snaps")

    def __init__(self, last: datetime, keep: int):
        self.last = last
        # (record id, at: a datetime, ISO text once restored, x, raw, p, region)
        self.snaps: deque = deque(maxlen=keep)


class EscalationDetector:
    name = "learning.escalation"
    rule_id = "escalation_model"
    SPOKEN_MAX = 200_000   # cases remembered as "last signal above the floor" (oldest forgotten)

    def __init__(self, *, horizon: timedelta = timedelta(days=30), keep: int = 6,
                 lr: float = 0.1, l2: float = 1e-5, max_pos_weight: float = 30.0,
                 emit_min_p: float = 0.05, prior: float = PRIOR, gain: float = GAIN,
                 bits: int = 16, drift_level: int = 6,
                 on_drift: Callable[[dict], None] | None = None):
        self.horizon, self.keep, self.lr, self.l2 = horizon, keep, lr, l2
        self.max_pos_weight, self.emit_min_p = max_pos_weight, emit_min_p
        self.prior, self.gain = prior, gain
        self.feat = Featurizer(bits=bits)
        self.drift_level = drift_level
        self.drift = DriftWatch(on_drift=on_drift)
        self._reset()

    def _reset(self) -> None:
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(self.lr), l2=self.l2)
        self.calibrator = Calibrator(prior=self.prior)
        self.pending: OrderedDict[str, _Pending] = OrderedDict()
        self.done: OrderedDict[str, datetime] = OrderedDict()  # labelled cases: learn no more
        self.spoken: OrderedDict[str, None] = OrderedDict()   # cases whose last signal was >= emit_min_p
        self.n_pos = self.n_neg = self.updates = 0

    # -- scoring -------------------------------------------------------------------------
    def score(self, record: Any, case: CaseContext) -> tuple[float, float, dict, dict]:
        x, names = self.feat.features(record, case)
        raw = self.model.predict_proba_one(x)[True]
        return raw, self.calibrator(raw), x, names

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        if not case.case_id:
            return []   # a record in no case: nothing to learn about, nothing to say
        raw, p, x, names = self.score(record, case)
        at = record.occurred_at
        cid = case.case_id
        if cid not in self.done:
            pend = self.pending.get(cid)
            if pend is None:
                pend = self.pending[cid] = _Pending(at, self.keep)
            else:
                self.pending.move_to_end(cid)
                pend.last = max(pend.last, at)
            pend.snaps.append((record.id, at, x, raw, p, case.region_code[:self.drift_level]))
        w = fusion_weight(p, self.prior, self.gain)
        if p < self.emit_min_p:
            if cid not in self.spoken:
                return []
            del self.spoken[cid]
            top, reason = [], f"模型估计民转刑概率回落至{p:.0%}"   # (the book's latest estimate)
        else:
            self.spoken[cid] = None
            self.spoken.move_to_end(cid)
            if len(self.spoken) > self.SPOKEN_MAX:
                self.spoken.popitem(last=False)
            top = self.explain(x, names)
            reason = f"模型估计民转刑概率{p:.0%}" + (",主要因素:" + "、".join(t["feature"] for t in top) if top else "")
        return [make_signal(self.name, self.rule_id, record, case, min(1.0, w), reason,
                            {"probability": round(p, 4), "fusion_weight": round(w, 4),
                             "raw": round(raw, 4), "top_features": top,
                             "model_updates": self.updates}, version=VERSION)]

    def explain(self, x: dict, names: dict, k: int = 3) -> list[dict]:
        """The top ``k`` positive contributions (weight × value), named in Chinese."""
        # (weight × value for every feature, looped in C: ``map`` over the weights' ``get``)
        contribs = map(mul, map(self.model._weights.get, x, repeat(0.0)), x.values())
        best = heapq.nlargest(2 * k, zip(contribs, x))
        contrib: dict[str, float] = {}
        for c, key in best:
            if c > 0:
                label = self.feat.name(key, names)
                contrib[label] = contrib.get(label, 0.0) + c
        top = sorted(contrib.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [{"feature": f, "contribution": round(c, 3)} for f, c in top]

    # -- learning ------------------------------------------------------------------------
    def observe_outcome(self, case_id: str, outcome: str, at: datetime,
                        record_id: str | None = None) -> None:
        pend = self.pending.pop(case_id, None)
        if pend is None:
            return
        snaps = list(pend.snaps)
        y = outcome == POSITIVE
        if y and record_id is not None:
            ids = [s[0] for s in snaps]
            if record_id in ids:
                snaps = snaps[:ids.index(record_id)]
        self.done[case_id] = at
        self._learn(snaps, y, at)

    def advance(self, watermark: datetime) -> list[Signal]:
        cutoff = watermark - self.horizon
        while self.pending:
            cid, pend = next(iter(self.pending.items()))
            if pend.last >= cutoff:
                break
            del self.pending[cid]
            self._learn(list(pend.snaps), False, watermark)
        while self.done and next(iter(self.done.values())) < cutoff:
            self.done.popitem(last=False)
        return []

    def _learn(self, snaps: list, y: bool, at: datetime) -> None:
        if not snaps:
            return
        if y:
            self.n_pos += 1
        else:
            self.n_neg += 1
        cw = min(self.max_pos_weight, max(1.0, self.n_neg / max(1, self.n_pos))) if y else 1.0
        share = 1.0 / len(snaps)
        for _, _, x, raw, p, region in snaps:
            self.calibrator.learn(raw, y, share)
            self.drift.update(region, (float(y) - p) ** 2, at)
        for _, _, x, _, _, _ in snaps:
            self.model.learn_one(x, y, w=cw * share)
        self.updates += 1

    def drift_events(self) -> list[dict]:
        return self.drift.events()

    # -- state ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "version": VERSION, "updates": self.updates, "n_pos": self.n_pos, "n_neg": self.n_neg,
            "weights": {k: float(v) for k, v in sorted(self.model._weights.to_dict().items())},
            "intercept": float(self.model.intercept),
            "optimizer_iterations": self.model.optimizer.n_iterations,
            "calibrator": self.calibrator.snapshot(),
            "pending": [[cid, p.last.isoformat(), [[s[0], _iso(s[1]), *s[2:]] for s in p.snaps]]
                        for cid, p in self.pending.items()],
            "done": [[cid, at.isoformat()] for cid, at in self.done.items()],
            "spoken": list(self.spoken),
            "drift": self.drift.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != VERSION:
            raise ValueError(f"escalation model state version {state.get('version')} != {VERSION}")
        self._reset()
        self.updates, self.n_pos, self.n_neg = state["updates"], state["n_pos"], state["n_neg"]
        self.model._weights = VectorDict(dict(state["weights"]))
        self.model.intercept = state["intercept"]
        self.model.optimizer.n_iterations = state["optimizer_iterations"]
        self.calibrator.restore(state["calibrator"])
        for cid, last, snaps in state["pending"]:
            pend = self.pending[cid] = _Pending(datetime.fromisoformat(last), self.keep)
            pend.snaps.extend(tuple(s) for s in snaps)
        for cid, at in state["done"]:
            self.done[cid] = datetime.fromisoformat(at)
        self.spoken.update(dict.fromkeys(state.get("spoken", ())))   # (absent before 2026-11)
        self.drift.restore(state["drift"])
