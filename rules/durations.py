"""Durations in rule packs and profiles: a number and a unit.

>>> parse_duration("6h"), parse_duration("1w")
(21600.0, 604800.0)
"""
from __future__ import annotations

import re
from typing import Any

DAY = 86400.0
_DUR = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(v: Any) -> float:
    """``"30m"``, ``"6h"``, ``"3d"``, ``"1w"`` → seconds (at most 366 days)."""
    m = _DUR.match(str(v).strip()) if isinstance(v, (str, int)) else None
    if m is None:
        raise ValueError(f"bad duration {v!r}: use a number and s/m/h/d/w, e.g. 6h or 3d")
    sec = float(m.group(1)) * _UNIT[m.group(2)]
    if not 0 < sec <= 366 * DAY:
        raise ValueError(f"duration {v!r} must be over 0 and at most 366d")
    return sec
