"""Fusion: a case's signals → one score in [0, 1], a level (红/橙/黄/蓝) and a Chinese explanation.

Evidence adds up in log-odds: starting from the prior odds that a dispute case escalates
(DOMAIN.md: a few percent), each rule adds ``gain × its score``, and the sum is read back as
a probability.  One weak signal stays low; independent signals together climb fast; a rule
firing again adds only a little (see ``warning_book.rule_score``).

>>> f = Fusion(prior=0.03, gain=3.0)  # (the default prior is 0.02)
>>> round(f.score([]), 3), round(f.score([0.5]), 2), round(f.score([0.5, 0.5]), 2)
(0.03, 0.12, 0.38)
>>> LevelCuts().level(0.85).label, LevelCuts().level(0.3)
('橙色', None)

The defaults (prior 0.02, gain 3; cuts 0.9 / 0.8 / 0.6 / 0.4) were set on the synthetic city
(30 days, seed 7): about 9 cases a day reach red and about half the escalations are warned in
red beforehand; see the README.
"""
from __future__ import annotations

import math
from typing import Iterable

from pydantic import BaseModel, Field, model_validator

from streams.codes import LABELS, Level
from streams.records import Signal

LEVEL_WORD = {Level.RED: "红色预警", Level.ORANGE: "橙色预警", Level.YELLOW: "黄色预警",
              Level.BLUE: "蓝色预警"}
STREAM_WORD = {"grid_event": "网格事件", "call": "来电", "video_alert": "视频告警"}


class LevelCuts(BaseModel):
    """Lowest fused score of each level; below ``blue`` there is no warning."""

    red: float = 0.9
    orange: float = 0.8
    yellow: float = 0.6
    blue: float = 0.4

    @model_validator(mode="after")
    def _ordered(self) -> "LevelCuts":
        if not (1 >= self.red > self.orange > self.yellow > self.blue > 0):
            raise ValueError("level cut points must satisfy 1 >= red > orange > yellow > blue > 0")
        return self

    def level(self, score: float) -> Level | None:
        for lvl, cut in ((Level.RED, self.red), (Level.ORANGE, self.orange),
                         (Level.YELLOW, self.yellow), (Level.BLUE, self.blue)):
            if score >= cut:
                return lvl
        return None


MODEL_SCALE = 0.25


class Fusion(BaseModel):
    """Log-odds fusion: ``prior`` is the base rate, ``gain`` the weight of a rule score of 1."""

    prior: float = Field(0.02, gt=0, lt=1)
    gain: float = Field(3.0, gt=0, le=20)
    model_max: float = Field(0.85, gt=0, lt=1, description="the most a calibrated model "
                             "probability brings on its own (default below the red cut: red needs "
                             "a rule or graph signal beside the model)")

    model_scale: float = Field(MODEL_SCALE, ge=0, le=1, description="the share of the model's "
                               "log-odds evidence that enters fusion: the model reads the same "
                               "words and repeats the rules read, so adding all of it counts that "
                               "evidence twice (docs/learning.md: volumes by scale)")

    def model_weight(self, p: float) -> float:
        """A calibrated probability ``p`` (a model signal) as a weight: ``gain·w = scale ×
        (logit p − logit prior)``, 0 below the prior, ``p`` clipped at ``model_max``.  With
        ``model_scale`` 1 it alone reads back as ``min(p, model_max)``; the default keeps a
        share of it (see ``model_scale``).

        >>> f = Fusion(model_scale=1.0)
        >>> round(f.score([f.model_weight(0.3)]), 3), round(f.score([f.model_weight(0.99)]), 3)
        (0.3, 0.85)
        >>> f.model_weight(0.01), f.score([f.model_weight(0.5)]) < f.score([f.model_weight(0.6)])
        (0.0, True)
        >>> g = Fusion(model_scale=0.5)
        >>> round(g.model_weight(0.3) / f.model_weight(0.3), 6)
        0.5
        """
        p = min(max(p, 1e-9), self.model_max)
        return self.model_scale * max(0.0, (math.log(p / (1 - p))
                                            - math.log(self.prior / (1 - self.prior))) / self.gain)

    def score(self, rule_scores: Iterable[float]) -> float:
        z = math.log(self.prior / (1 - self.prior)) + self.gain * sum(rule_scores)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def explain(case_id: str, dispute_kind: str | None, address: str, score: float, level: Level,
            by_rule: dict[str, list[Signal]], per_rule: dict[str, float],
            kinds: dict[str, str]) -> tuple[str, str]:
    """(title, explanation) in Chinese. ``kinds`` maps record id → stream kind."""
    kind_word = LABELS.get(dispute_kind, "矛盾纠纷") if dispute_kind else "矛盾纠纷"
    title = f"{LEVEL_WORD[level]} · {kind_word} · {address or '地址不详'}"
    lines = [f"案件{case_id}综合风险评分{score:.2f},达到{LEVEL_WORD[level]}。依据:"]
    ranked = sorted(by_rule.items(), key=lambda kv: -per_rule[kv[0]])
    for i, (rule, sigs) in enumerate(ranked, 1):
        # a model's latest estimate is what counts (its reason names its top features)
        top = sigs[-1] if "probability" in sigs[-1].evidence else max(sigs, key=lambda s: s.score)
        src = STREAM_WORD.get(kinds.get(top.record_id, ""), "记录")
        line = f"{i}. {top.reason}(来源:{src},{top.at:%m-%d %H:%M},分值{per_rule[rule]:.2f}"
        if len(sigs) > 1:
            line += f",近期共触发{len(sigs)}次"
        line += ")"
        others, seen = [], {top.reason}
        for s in sorted(sigs, key=lambda s: s.at):
            if s.reason not in seen:
                seen.add(s.reason)
                others.append(f"{s.reason}({s.at:%m-%d %H:%M})")
        if others:
            line += ";另有:" + ";".join(others[-3:])
        lines.append(line)
    return title, "\n".join(lines)
