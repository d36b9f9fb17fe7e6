"""Rate anomalies: a sudden rise in one kind of record at one place, against its own baseline.

Keys: per grid and per subdistrict, disputes of one kind (欠薪 wages owed, 征地 ...); per
subdistrict, calls; per camera and per subdistrict, gatherings on camera.  Each key counts its
records per hour of event time.  The last ``window`` hours are the observation; an hour leaves it
into the baseline, which is seasonal by hour of week (168 slots, shrunk towards the key's own
overall hourly mean while few weeks are seen).  A surge is an observed count with a Poisson tail
probability below ``alpha`` given the expected count; it becomes one signal (at most one per key
per window), with the numbers behind it.

>>> from datetime import datetime, timedelta
>>> from streams.records import TZ
>>> slot_of(int(datetime(2026, 5, 4, 9, tzinfo=TZ).timestamp() // 3600))  # a Monday, 09:00
9
"""
from __future__ import annotations

import math
from typing import Any

from streams.codes import LABELS
from streams.detect import CaseContext, make_signal
from streams.records import Signal

VERSION = 1
KEY_WORD = {"grid": "网格", "subdistrict": "街道", "camera": "摄像头"}


def slot_of(hour: int) -> int:
    """Hour of the week (0 = Monday 00:00 Asia/Shanghai) of an epoch hour index."""
    local = hour + 8
    return ((local // 24 + 3) % 7) * 24 + local % 24   # 1970-01-01 was a Thursday


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    term = math.exp(-lam)
    cdf = term
    for i in range(1, k):
        term *= lam / i
        cdf += term
    return max(0.0, 1.0 - cdf)


class _Key:
    __slots__ = ("cur", "recent", "how", "seen", "hours", "total", "fired")

    def __init__(self, hour: int):
        self.cur = hour
        self.recent: dict[int, int] = {}
        self.how = [0] * 168
        self.seen = [0] * 168
        self.hours = 0
        self.total = 0
        self.fired = -10**9

    def to_list(self) -> list:
        return [self.cur, sorted(self.recent.items()), self.how, self.seen, self.hours,
                self.total, self.fired]

    @classmethod
    def from_list(cls, v: list) -> "_Key":
        k = cls(v[0])
        k.recent = {int(h): c for h, c in v[1]}
        k.how, k.seen, k.hours, k.total, k.fired = list(v[2]), list(v[3]), v[4], v[5], v[6]
        return k


class RateAnomalyDetector:
    name = "learning.rates"
    rule_id = "rate_anomaly"

    def __init__(self, window: int = 24, alpha: float = 1e-3, min_count: int = 3,
                 min_baseline_hours: int = 72, shrink_weeks: float = 2.0, max_fold: int = 24 * 60):
        self.window, self.alpha, self.min_count = window, alpha, min_count
        self.min_baseline_hours, self.shrink, self.max_fold = min_baseline_hours, shrink_weeks, max_fold
        self.keys: dict[str, _Key] = {}

    @staticmethod
    def keys_of(record: Any) -> list[tuple[str, str, str]]:
        """(key type, key, stream) the record counts towards."""
        code = record.place.region_code
        sub = code[:9]
        if record.kind == "grid_event":
            dk = getattr(record, "dispute_kind", None)
            if record.category.value != "dispute" or dk is None:
                return []
            return [("grid", record.grid_id, f"dispute:{dk.value}"),
                    ("subdistrict", sub, f"dispute:{dk.value}")]
        if record.kind == "call":
            return [("subdistrict", sub, "call"), ("subdistrict", sub, f"call:{record.call_type.value}")]
        if record.kind == "video_alert" and record.alert_type.value == "gathering":
            return [("camera", record.camera_id, "gathering"), ("subdistrict", sub, "gathering")]
        return []

    def _fold(self, k: _Key, upto: int) -> None:
        """Move hours older than the window ending at ``upto`` into the baseline."""
        first, last = k.cur - self.window + 1, upto - self.window
        if last - first >= self.max_fold:   # a long silence: the baseline ages in bulk
            first = last - self.max_fold + 1
        for h in range(first, last + 1):
            c = k.recent.pop(h, 0)
            s = slot_of(h)
            k.how[s] += c
            k.seen[s] += 1
            k.hours += 1
            k.total += c
        for h in [h for h in k.recent if h <= last]:
            k.recent.pop(h)
        k.cur = upto

    def expected(self, k: _Key) -> float:
        mean = (k.total + 0.5) / max(1, k.hours)
        lam = 0.0
        for h in range(k.cur - self.window + 1, k.cur + 1):
            s = slot_of(h)
            lam += (k.how[s] + self.shrink * mean) / (k.seen[s] + self.shrink)
        return lam

    def detect(self, record: Any, case: CaseContext) -> list[Signal]:
        if record.kind not in ("grid_event", "call", "video_alert"):
            return []
        hour = int(record.occurred_at.timestamp() // 3600)
        out = []
        for ktype, kval, stream in self.keys_of(record):
            name = f"{ktype}|{kval}|{stream}"
            k = self.keys.get(name)
            if k is None:
                k = self.keys[name] = _Key(hour)
            if hour > k.cur:
                self._fold(k, hour)
            if hour <= k.cur - self.window:
                continue   # too late for the window; it was not counted in its hour either
            k.recent[hour] = k.recent.get(hour, 0) + 1
            if k.hours < self.min_baseline_hours or k.cur - k.fired < self.window:
                continue
            obs = sum(k.recent.values())
            if obs < self.min_count:
                continue
            lam = self.expected(k)
            p = poisson_sf(obs, lam)
            if p >= self.alpha:
                continue
            k.fired = k.cur
            what = (LABELS.get(stream.split(":", 1)[1], stream) + "纠纷") if stream.startswith("dispute:") \
                else {"call": "来电", "gathering": "聚集告警"}.get(stream, "来电(" + LABELS.get(stream[5:], stream[5:]) + ")")
            reason = (f"{KEY_WORD[ktype]}{kval}近{self.window}小时{what}{obs}起,"
                      f"按其同时段基线应约{lam:.1f}起(P={p:.1e})")
            score = min(0.6, 0.25 + 0.05 * (-math.log10(max(p, 1e-300)) + math.log10(self.alpha)))
            s = make_signal(self.name, f"{self.rule_id}:{ktype}:{stream}", record, case, score, reason,
                            {"key_type": ktype, "key": kval, "stream": stream, "observed": obs,
                             "expected": round(lam, 3), "p_value": p, "window_hours": self.window,
                             "baseline_hours": k.hours}, version=VERSION)
            out.append(s)
        return out

    def advance(self, watermark: Any) -> list[Signal]:
        return []

    def observe_outcome(self, case_id: str, outcome: str, at: Any, record_id: str | None = None) -> None:
        return None   # rates need no labels

    def snapshot(self) -> dict[str, Any]:
        return {"version": VERSION, "keys": {n: k.to_list() for n, k in sorted(self.keys.items())}}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != VERSION:
            raise ValueError(f"rate state version {state.get('version')} != {VERSION}")
        self.keys = {n: _Key.from_list(v) for n, v in state["keys"].items()}
