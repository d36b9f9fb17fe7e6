"""The warning book: at most one open warning per case, updated as new versions.

Everything here runs on event time, so replaying the same records gives the same
warning ids and versions.  A warning's id comes from its case id (and a counter
when a closed case opens again), never from the wall clock.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streams.codes import LEVEL_RANK
from streams.records import Signal, Warning

from .fusion import Fusion, LevelCuts, explain

MAX_RECORD_IDS = 50
KEEP_PER_RULE = 5     # signals kept per rule and case: the strongest and the latest matter
REPEAT_BONUS = 0.15   # each further firing of a rule adds this (risk builds with each incident)
REPEAT_CAP = 1.0


def rule_score(signals: list[Signal]) -> float:
    """One rule's weight in fusion: its strongest signal, a little more for each repeat."""
    top = max(s.score for s in signals)
    return max(top, min(REPEAT_CAP, top + REPEAT_BONUS * (len(signals) - 1)))


def is_model(s: Signal) -> bool:
    """A learning model's signal: its evidence carries a calibrated ``probability``."""
    return "probability" in s.evidence and "fusion_weight" in s.evidence


def signal_weight(signals: list[Signal], fusion: Fusion) -> float:
    """A rule's weight (``rule_score``), or for a model its *latest* calibrated probability as
    ``Fusion.model_weight`` (no repeat bonus: the model already sees the repeats)."""
    if is_model(signals[-1]):
        return fusion.model_weight(signals[-1].evidence["probability"])
    return rule_score(signals)


def _prune(hist: list[Signal]) -> None:
    while len(hist) > KEEP_PER_RULE:   # a model's oldest go, a rule's weakest
        if is_model(hist[-1]):
            del hist[0]
        else:
            hist.remove(min(hist, key=lambda x: (x.score, x.at)))


@dataclass(slots=True)
class _CaseSignals:
    by_rule: dict[str, list[Signal]] = field(default_factory=dict)  # live signals per rule
    kinds: dict[str, str] = field(default_factory=dict)        # record id -> stream kind
    opened: int = 0                                            # warnings this case has had
    warning: Warning | None = None


def warning_id(case_id: str, nth: int) -> str:
    h = hashlib.blake2b(f"{case_id}#{nth}".encode(), digest_size=8).hexdigest()
    return "W-" + h


class WarningBook:
    def __init__(self, cuts: LevelCuts | None = None, horizon: timedelta = timedelta(days=30),
                 fusion: Fusion | None = None):
        self.cuts = cuts or LevelCuts()
        # (mypy, for the compiler, does not see that pydantic fills Fusion's defaults)
        self.fusion = fusion or Fusion()  # type: ignore[call-arg]
        self.horizon = horizon   # signals older than this (event time) no longer count
        self._cases: dict[str, _CaseSignals] = {}
        self._alias: dict[str, str] = {}   # merged case id -> the case it merged into

    def snapshot(self) -> dict:
        """Open and closed cases' signals and warnings, and aliases, by reference (the caller
        copies them; engine/worker_state.py pickles them)."""
        return {"cases": self._cases, "alias": self._alias}

    def restore(self, state: dict) -> None:
        self._cases, self._alias = state["cases"], state["alias"]

    def canonical(self, case_id: str) -> str:
        """The case a merged case's warning now lives under (itself if never merged)."""
        while case_id in self._alias:
            case_id = self._alias[case_id]
        return case_id

    def open_warning(self, case_id: str) -> Warning | None:
        cs = self._cases.get(self.canonical(case_id))
        return cs.warning if cs and cs.warning and cs.warning.state != "closed" else None

    def update(self, case, signals: list[Signal], record_kind: str, at: datetime) -> Warning | None:
        """Take a record's signals for ``case``; return a new warning version or None."""
        cs = self._cases.setdefault(case.case_id, _CaseSignals())
        for s in signals:
            cs.kinds[s.record_id] = record_kind
            hist = cs.by_rule.setdefault(s.rule_id, [])
            hist.append(s)
            _prune(hist)
        self._age(cs, at)
        return self._revise(case, cs, at) if signals else None

    def _age(self, cs: _CaseSignals, at: datetime) -> None:
        cutoff = at - self.horizon
        for rule in list(cs.by_rule):
            live = [s for s in cs.by_rule[rule] if s.at >= cutoff]
            if live:
                cs.by_rule[rule] = live
            else:
                del cs.by_rule[rule]

    def _revise(self, case, cs: _CaseSignals, at: datetime) -> Warning | None:
        per_rule = {r: signal_weight(sig, self.fusion) for r, sig in cs.by_rule.items()}
        score = round(self.fusion.score(per_rule.values()), 4)
        level = self.cuts.level(score)
        cur = self.open_warning(case.case_id)
        if level is None and cur is None:
            return None
        if cur is not None and level is not None and abs(cur.score - score) < 1e-4:
            return None
        if level is None:
            assert cur is not None
            level = cur.level  # evidence aged out: keep the level; the centre closes warnings
        if cur is not None and LEVEL_RANK[level] < LEVEL_RANK[cur.level]:
            level = cur.level  # a warning is never silently downgraded while open
        title, text = explain(case.case_id, case.dispute_kind, case.address, score, level,
                              cs.by_rule, per_rule, cs.kinds)
        record_ids = sorted({s.record_id for sig in cs.by_rule.values() for s in sig})[:MAX_RECORD_IDS]
        reasons = [{"rule_id": r, "detector": sig[-1].detector, "score": round(per_rule[r], 4),
                    "fired": len(sig),
                    "reason": (sig[-1] if is_model(sig[-1]) else max(sig, key=lambda s: s.score)).reason,
                    "latest": sig[-1].reason, "record_ids": [s.record_id for s in sig],
                    "at": sig[-1].at.isoformat(), "evidence": sig[-1].evidence}
                   for r, sig in sorted(cs.by_rule.items(), key=lambda kv: -per_rule[kv[0]])]
        if cur is None:
            cs.opened += 1
            wid, version, first = warning_id(case.case_id, cs.opened), 1, at
        else:
            wid, version, first = cur.id, cur.version + 1, cur.first_at
        w = Warning(id=wid, version=version, case_id=case.case_id, level=level, score=score,
                    region_code=case.region_code, address=case.address,
                    dispute_kind=case.dispute_kind, title=title, explanation=text,
                    reasons=reasons, record_ids=record_ids, state="new" if cur is None else cur.state,
                    first_at=first, updated_at=max(at, first))
        cs.warning = w
        return w

    def adopt(self, w: Warning) -> None:
        """A person acted on the warning (签收, 分流...): ``w`` is now the version new evidence
        builds on (same id, next version, keeping its state). Ignored if the book holds another
        warning for the case (or none)."""
        cs = self._cases.get(self.canonical(w.case_id))
        if cs is not None and cs.warning is not None and cs.warning.id == w.id:
            cs.warning = w

    def open_cases(self) -> set[str]:
        return {cid for cid, cs in self._cases.items()
                if cs.warning is not None and cs.warning.state != "closed"}

    def forget(self, case_id: str) -> None:
        """The case left memory (see ``Pipeline.retention``); its warnings stay in the store."""
        self._cases.pop(case_id, None)
        if self.canonical(case_id) not in self._cases:  # (an alias lives as long as its case)
            self._alias.pop(case_id, None)
        if self._alias:
            for a in [a for a, c in self._alias.items() if c == case_id]:
                del self._alias[a]

    def merge(self, gone: str, into: str, at: datetime) -> Warning | None:
        """Case ``gone`` merged into ``into`` (``CaseLinker``): its signals join the survivor's
        and ``gone`` stays an alias (feedback and 签收 on it reach the survivor).  Its open
        warning carries on as the survivor's (same id, next version on new evidence), unless
        the survivor has its own: then the merged one is closed with a ``merged`` reason, and
        that version is returned."""
        into = self.canonical(into)
        if gone == into:
            return None
        self._alias[gone] = into
        cs = self._cases.pop(gone, None)
        if cs is None:
            return None
        dst = self._cases.setdefault(into, _CaseSignals())
        for rule, sigs in cs.by_rule.items():
            hist = dst.by_rule.setdefault(rule, [])
            hist.extend(sigs)
            hist.sort(key=lambda x: x.at)
            _prune(hist)
        dst.kinds.update(cs.kinds)
        w = cs.warning
        if w is None or w.state == "closed":
            return None
        if self.open_warning(into) is None:
            dst.warning = w
            return None
        return w.model_copy(update={"version": w.version + 1, "state": "closed",
                                    "updated_at": max(at, w.updated_at),
                                    "reasons": w.reasons + [{"rule_id": "merged", "case_id": into}]})

    def close(self, case_id: str, outcome: str, at: datetime) -> Warning | None:
        """Feedback closed the case's warning with an outcome."""
        case_id = self.canonical(case_id)
        cs = self._cases.get(case_id)
        cur = self.open_warning(case_id)
        if cs is None or cur is None:
            return None
        cs.by_rule.clear()  # a new warning on this case starts from fresh evidence
        w = cur.model_copy(update={"version": cur.version + 1, "state": "closed",
                                   "updated_at": max(at, cur.updated_at),
                                   "reasons": cur.reasons + [{"rule_id": "feedback",
                                                              "outcome": outcome}]})
        cs.warning = w
        return w
