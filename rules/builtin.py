"""The default detectors, and the first four rules written directly in Python.

``default_detectors()`` returns the rule packs of ``rules/packs`` (the rule language).  The
four hand-written classes below came first; they stay as the baselines the packs are
measured against (keywords only, repeat count only) and as a reference in tests.

>>> from datetime import datetime
>>> from streams.records import TZ
>>> from streams.detect import CaseContext, CaseEntry
>>> class R:  # a stand-in record: detectors only read these attributes
...     id, kind, text, occurred_at = "r1", "call", "对方扬言要拿刀砍人", datetime(2026, 5, 1, tzinfo=TZ)
>>> case = CaseContext("C-1", [CaseEntry("r1", "call", R.occurred_at, "dispute")])
>>> [(s.rule_id, s.evidence["words"]) for s in ThreatWords().detect(R(), case)]
[('threat_words', ['扬言', '刀', '砍'])]
"""
from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from streams.codes import LABELS
from streams.detect import CaseContext, make_signal
from streams.records import Signal

# 词库: words that precede violence in DOMAIN.md's evidence, grouped, with a weight per group.
THREAT_LEXICON: dict[str, tuple[float, tuple[str, ...]]] = {
    "扬言威胁": (0.55, ("扬言", "要杀", "杀了他", "杀了你", "弄死", "同归于尽", "不想活", "让他好看", "走着瞧")),
    "报复": (0.45, ("报复", "报仇", "算账")),
    "凶器": (0.55, ("刀", "砍", "汽油", "枪", "炸药", "硫酸", "锄头", "斧头")),
    "掐脖勒颈": (0.6, ("掐脖", "掐住脖子", "勒脖", "勒住")),
    "自伤自杀": (0.5, ("跳楼", "喝药", "农药", "自杀", "割腕", "轻生")),
}


def _now_text(record: Any) -> str:
    return getattr(record, "text", "") or ""


class ThreatWords:
    """Threat, weapon, strangulation, revenge or self-harm words in what was said or reported."""

    name = "rules.builtin"
    rule_id = "threat_words"

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        text = _now_text(record)
        if not text:
            return []
        groups: dict[str, list[str]] = {}
        for group, (_, words) in THREAT_LEXICON.items():
            hit = [w for w in words if w in text]
            if hit:
                groups[group] = hit
        if not groups:
            return []
        weights = sorted((THREAT_LEXICON[g][0] for g in groups), reverse=True)
        score = weights[0] + 0.1 * (len(weights) - 1)  # several kinds of threat weigh more
        words = [w for g in groups for w in groups[g]]
        reason = "内容出现" + "、".join(groups) + "类词语:" + "、".join(words)
        return [make_signal(self.name, self.rule_id, record, case, score, reason,
                            {"groups": list(groups), "words": words})]

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


class RepeatContact:
    """The case keeps coming back: ``threshold`` or more records within ``window`` (event time).

    The window is ``(t - window, t]``: a record exactly one window older is outside.
    It fires when the count reaches a step of the ladder 3, 5, 8, 13, 21, … (each step the
    sum of the two before), so a busy case raises a signal as it climbs, not on every record.
    Short gaps weigh more (DOMAIN.md: risk builds with each new incident).
    """

    name = "rules.builtin"
    rule_id = "repeat_contact"

    def __init__(self, threshold: int = 3, window: timedelta = timedelta(days=7)):
        self.threshold, self.window = threshold, window

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        t = record.occurred_at
        start = t - self.window
        recent = [e for e in case.entries if start < e.at <= t]
        n = len(recent)
        if n not in self._ladder(n):
            return []
        gaps = [(b.at - a.at).total_seconds() / 3600 for a, b in zip(recent, recent[1:])]
        short = sum(1 for g in gaps if g < 24)
        score = min(0.75, 0.12 * n + 0.05 * short)
        days = self.window.days
        reason = f"{days}天内同一案件相关来电/事件{n}次,其中{short}次间隔不足24小时"
        return [make_signal(self.name, self.rule_id, record, case, score, reason,
                            {"count": n, "window_days": days, "short_gaps": short})]

    def _ladder(self, n: int) -> set[int]:
        steps, a, b = set(), self.threshold, self.threshold + 2
        while a <= n:
            steps.add(a)
            a, b = b, a + b
        return steps

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


class MediationFailed:
    """A dispute whose mediation failed, or that needed many attempts."""

    name = "rules.builtin"
    rule_id = "mediation_failed"

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        if record.kind != "grid_event":
            return []
        status = getattr(record.status, "value", record.status)
        attempts = record.mediation_attempts
        if status == "mediation_failed":
            score = 0.45 + 0.05 * min(attempts, 4)
            reason = f"矛盾纠纷调解失败(已调解{attempts}次)"
        elif attempts >= 3:
            score = 0.3
            reason = f"矛盾纠纷多次调解未结(已调解{attempts}次)"
        else:
            return []
        return [make_signal(self.name, self.rule_id, record, case, score, reason,
                            {"status": status, "attempts": attempts})]

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


class KeyPersonParty:
    """A registered key person (重点人员) joins the case's parties.

    It fires once per key person and case (when a record first names them there): the same
    person named again is not new evidence.
    """

    name = "rules.builtin"
    rule_id = "key_person_party"

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        hits = sorted((case.key_persons[k].category, case.key_persons[k].risk_level)
                      for k in case.new_party_keys if k in case.key_persons)
        if not hits:
            return []
        top = max(level for _, level in hits)
        cats = sorted({LABELS.get(c, c) for c, _ in hits})
        reason = "当事人中有重点人员:" + "、".join(cats)
        return [make_signal(self.name, self.rule_id, record, case, 0.3 + 0.08 * top, reason,
                            {"categories": cats, "max_risk_level": top, "count": len(hits)})]

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


def legacy_detectors() -> list[Any]:
    """The four first rules, as they were before the rule packs."""
    return [ThreatWords(), RepeatContact(), MediationFailed(), KeyPersonParty()]


@lru_cache(maxsize=1)
def _default_packs() -> Any:
    from .packs import load_packs
    ps = load_packs()
    if ps.errors:  # the shipped packs are linted in the tests; never run half a pack set
        raise ValueError("default rule packs do not load:\n" + "\n".join(map(str, ps.errors)))
    return ps


def default_detectors() -> list[Any]:
    """A fresh detector (empty window state) over the enabled rules of the default packs (平时)."""
    from .detector import PackDetector
    ps = _default_packs()
    return [PackDetector(ps.specs, tuning=ps.tuning())]   # 平时 and the packs' region overrides
