"""Simulation settings and the fast clock the generator uses.

Time inside the simulator is an ``int``: seconds since local midnight of ``cfg.start``
(Asia/Shanghai). ``Clock.iso`` turns it into an ISO-8601 string with ``+08:00``
without building ``datetime`` objects on the hot path.

>>> c = Clock(date(2026, 5, 1))
>>> c.iso(86400 + 3600 * 9 + 61)
'2026-05-02T09:01:01+08:00'
"""
from __future__ import annotations

from bisect import bisect
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

DAY = 86400
HOUR = 3600
WARMUP_DAYS = 21   # cases start this many days before the window, so it opens on ongoing disputes


@dataclass
class SimConfig:
    """What city to simulate and how dirty its streams are.

    ``scale`` 1.0 is a small city (3 districts × 4 subdistricts × 5 communities × 4 grids,
    about 20,000 people, 3,000–6,000 records a day); districts, people and traffic grow
    linearly with it.
    """

    days: int = 30
    seed: int = 7
    start: date = field(default_factory=lambda: date(2026, 5, 1))
    scale: float = 1.0
    duplicate_rate: float = 0.01
    late_rate: float = 0.02
    malformed_rate: float = 0.002
    noisy_names: bool = False

    def as_dict(self) -> dict:
        d = asdict(self)
        d["start"] = self.start.isoformat()
        return d


class Clock:
    """Seconds since the start day's midnight → ISO strings (cached per day and per second).

    Times up to ``before`` days ahead of the start (negative seconds) are supported.
    """

    def __init__(self, start: date, days: int = 400, before: int = 64):
        self.start = start
        self.before = before
        self._days = [(start + timedelta(days=i - before)).isoformat() for i in range(before + days)]
        self._hms: list[str] = [""] * DAY
        self._hms_ready = False

    def _fill(self) -> None:
        hms = self._hms
        i = 0
        for h in range(24):
            for m in range(60):
                for s in range(60):
                    hms[i] = f"T{h:02d}:{m:02d}:{s:02d}+08:00"
                    i += 1
        self._hms_ready = True

    def day(self, ts: int) -> str:
        return self._days[ts // DAY + self.before]

    def iso(self, ts: int) -> str:
        if not self._hms_ready:
            self._fill()
        d, s = divmod(ts, DAY)
        return self._days[d + self.before] + self._hms[s]

    def month(self, ts: int) -> int:
        return int(self.day(ts)[5:7])


def hour_sampler(rng, weights: list[float]):
    """A function returning a second-of-day drawn from 24 hourly weights."""
    pick = weighted(rng, range(24), weights)
    rand = rng.random

    def sample() -> int:
        return pick() * HOUR + int(rand() * HOUR)

    return sample


def weighted(rng, items, weights):
    """A fast sampler of ``items`` by ``weights`` (bisect on cumulative weights)."""
    items = list(items)
    cum = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    rand = rng.random
    last = len(items) - 1

    def sample():
        return items[min(last, bisect(cum, rand() * total))]

    return sample


# Hourly activity profiles (relative weights, 00h..23h).
PROFILE_OFFICE = [0, 0, 0, 0, 0, 0, 0, 1, 6, 10, 10, 9, 4, 3, 8, 10, 10, 8, 3, 1, 0, 0, 0, 0]
PROFILE_CALLS = [3, 2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 5, 5, 6, 6, 6, 7, 8, 9, 10, 10, 8, 5]
PROFILE_DISPUTE = [3, 2, 1, 1, 0.5, 0.5, 1, 2, 4, 5, 6, 6, 5, 5, 5, 5, 6, 7, 9, 11, 12, 11, 8, 5]
PROFILE_NOISE = [8, 5, 2, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 2, 2, 2, 2, 3, 4, 6, 9, 11, 11]
PROFILE_VIDEO = [3, 2, 2, 1, 1, 1, 2, 4, 6, 6, 6, 6, 6, 6, 6, 6, 7, 8, 8, 8, 7, 6, 5, 4]
PROFILE_NIGHT = [8, 8, 7, 6, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8]
PROFILE_WATER = [0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 4, 6, 8, 10, 10, 10, 9, 8, 6, 3, 1, 0, 0]
