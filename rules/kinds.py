"""Rule kinds and their keyed, event-time state.  Times inside are epoch seconds (floats).

Every kind shares: a key (case, person, address, grid, camera, region:N), suppression per key
on event time (a firing at t silences the same key while ``|t' - t| < suppress``), and a
snapshot of its state.  Windows are half-open ``(t - W, t]``: an event exactly W older is out.
Records older than the watermark (late) never change windowed state; ``match`` still fires.
See docs/rules.md for the semantics, decided on purpose, and their edge tests.

>>> from rules.testing import demo
>>> demo("threshold", [0, 1, 2, 3, 4, 5])       # count 3 in 7d: fires at the 3rd and 6th
[2, 5]
>>> demo("sequence", [("a", 0), ("a", 1), ("b", 2), ("b", 3)])   # A then B: one match
[2]
>>> demo("absence", [("a", 0)], advance=[71, 72, 100])  # 3d = 72h: fires once, at 72h
[(72, 72.0)]
"""
from __future__ import annotations

from .kinds_base import (DAY, MAX_SEQ_EVENTS, SWEEP_EVERY, TZ_OFFSET, Fire, MatchRule, Rule,  # noqa: F401
                         RuleSpec, ThresholdRule)
from .kinds_timed import AbsenceRule, SequenceRule, SpikeRule  # noqa: F401

KINDS: dict[str, type[Rule]] = {"match": MatchRule, "threshold": ThresholdRule,
                                "sequence": SequenceRule, "absence": AbsenceRule, "spike": SpikeRule}
