"""Arrival scheduling: event time → arrival time, late records, duplicates, per-day buckets.

Every generated record is serialised once and put in the bucket of the day it *arrives*.
A normal record arrives seconds to a few minutes after its event time; a late one
(``late_rate``) 1–12 hours after; a duplicate (``duplicate_rate``) re-sends the exact same
line minutes to hours after the first copy. Generators only ever schedule arrivals on or
after the day being generated, so once day ``d`` is generated its bucket is complete and can
be sorted and flushed; memory holds only the future buckets of cases still running.
Records arriving after the simulated window are dropped (and so are absent from the truth).
"""
from __future__ import annotations

import json

from .config import DAY, HOUR, Clock

NORMAL, LATE, DUP = 0, 1, 2
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(obj: dict) -> str:
    return _dumps(obj)


class Scheduler:
    def __init__(self, cfg, clock: Clock, rng):
        self.end = cfg.days * DAY
        self.clock = clock
        self.rng = rng
        self.late_rate = cfg.late_rate
        self.dup_rate = cfg.duplicate_rate
        self.buckets: dict[int, list] = {}
        self._seq = 0
        self._n = 0
        self._compact = [d.replace("-", "") for d in clock._days]

    def new_id(self, prefix: str, ts: int) -> str:
        self._n += 1
        return f"{prefix}{self._compact[ts // DAY + self.clock.before]}{self._n:08d}"

    def _put(self, arrival: int, line: str, rid: str, flag: int, noise: bool) -> None:
        self._seq += 1
        day = arrival // DAY
        b = self.buckets.get(day)
        if b is None:
            b = self.buckets[day] = []
        b.append((arrival, self._seq, line, rid, flag, noise))

    def add(self, rec: dict, ts: int, noise: bool = False) -> bool:
        """Schedule one record whose event time is ``ts``; False if it falls outside the window."""
        end = self.end
        if ts >= end or ts < 0:
            return False
        rand = self.rng.random
        if rand() < self.late_rate:
            arrival, flag = ts + HOUR + int(rand() * 11 * HOUR), LATE
        else:
            arrival, flag = ts + int(rand() * rand() * 300), NORMAL
        if arrival >= end:
            return False
        rec["occurred_at"] = self.clock.iso(ts)
        line = _dumps(rec)
        rid = rec["id"]
        self._put(arrival, line, rid, flag, noise)
        if rand() < self.dup_rate:
            again = arrival + 60 + int(rand() * rand() * 6 * HOUR)
            if again < end:
                self._put(again, line, rid, DUP, noise)
        return True

    def flush(self, day: int) -> list:
        """The arrivals of ``day`` in arrival order (and forget them)."""
        b = self.buckets.pop(day, [])
        b.sort()
        return b
