"""Fusion: a case's signals → one score in [0, 1], a level (红/橙/黄/蓝) and a Chinese explanation.

The score is a noisy-OR over the strongest signal of each rule, so independent
evidence adds up while one rule firing many times does not:

>>> round(fuse([0.5, 0.5]), 2), round(fuse([0.5]), 2)
(0.75, 0.5)
>>> LevelCuts().level(0.72).label, LevelCuts().level(0.1)
('橙色', None)
"""
from __future__ import annotations

from typing import Iterable

from pydantic import BaseModel, model_validator

from streams.codes import LABELS, Level
from streams.records import Signal

LEVEL_WORD = {Level.RED: "红色预警", Level.ORANGE: "橙色预警", Level.YELLOW: "黄色预警",
              Level.BLUE: "蓝色预警"}
STREAM_WORD = {"grid_event": "网格事件", "call": "来电", "video_alert": "视频告警"}


class LevelCuts(BaseModel):
    """Lowest fused score of each level; below ``blue`` there is no warning."""

    red: float = 0.85
    orange: float = 0.7
    yellow: float = 0.5
    blue: float = 0.3

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


def fuse(scores: Iterable[float]) -> float:
    miss = 1.0
    for s in scores:
        miss *= 1.0 - s
    return 1.0 - miss


def explain(case_id: str, dispute_kind: str | None, address: str, score: float, level: Level,
            by_rule: dict[str, list[Signal]], per_rule: dict[str, float],
            kinds: dict[str, str]) -> tuple[str, str]:
    """(title, explanation) in Chinese. ``kinds`` maps record id → stream kind."""
    kind_word = LABELS.get(dispute_kind, "矛盾纠纷") if dispute_kind else "矛盾纠纷"
    title = f"{LEVEL_WORD[level]} · {kind_word} · {address or '地址不详'}"
    lines = [f"案件{case_id}综合风险评分{score:.2f},达到{LEVEL_WORD[level]}。依据:"]
    ranked = sorted(by_rule.items(), key=lambda kv: -per_rule[kv[0]])
    for i, (rule, sigs) in enumerate(ranked, 1):
        top = max(sigs, key=lambda s: s.score)
        src = STREAM_WORD.get(kinds.get(top.record_id, ""), "记录")
        line = f"{i}. {top.reason}(来源:{src},{top.at:%m-%d %H:%M},分值{per_rule[rule]:.2f}"
        if len(sigs) > 1:
            line += f",近期共触发{len(sigs)}次"
        line += ")"
        latest = sigs[-1]
        if latest is not top and latest.reason != top.reason:
            line += f";最近一次:{latest.reason}({latest.at:%m-%d %H:%M})"
        lines.append(line)
    return title, "\n".join(lines)
