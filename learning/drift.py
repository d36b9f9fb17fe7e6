"""Drift watch: ADWIN (river.drift) on the model's error, one detector per region.

Only a rise in error counts (ADWIN also cuts its window when the error falls, as a young model
learns; that is no alarm).  Drift is for ops, not the centre: each detection is counted, logged on the ``yujing.learning``
logger and handed to ``on_drift`` (e.g. a Prometheus counter); it never becomes a warning.

>>> import random
>>> rng = random.Random(1)
>>> dw = DriftWatch()
>>> for i in range(4000): _ = dw.update("620102", float(rng.random() < (0.05 if i < 2000 else 0.5)))
>>> dw.count > 0
True
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import datetime
from typing import Any, Callable

from river import drift

log = logging.getLogger("yujing.learning")


class DriftWatch:
    def __init__(self, delta: float = 0.002, memory: int = 2000, keep_events: int = 100,
                 on_drift: Callable[[dict], None] | None = None):
        self.delta, self.memory, self.keep_events = delta, memory, keep_events
        self.on_drift = on_drift
        self._reset()

    def _reset(self) -> None:
        self._adwin: dict[str, drift.ADWIN] = {}
        self._recent: dict[str, deque] = {}   # region -> recent errors (to rebuild ADWIN)
        self._n: dict[str, int] = {}
        self._events: deque = deque(maxlen=self.keep_events)
        self.count = 0

    def update(self, region: str, error: float, at: datetime | None = None) -> bool:
        ad = self._adwin.get(region)
        if ad is None:
            ad = self._adwin[region] = drift.ADWIN(delta=self.delta)
            self._recent[region] = deque(maxlen=self.memory)
            self._n[region] = 0
        self._recent[region].append(error)
        self._n[region] += 1
        before = ad.estimation
        ad.update(error)
        if not ad.drift_detected or ad.estimation <= before:
            return False   # (a drop in error, as a model learns, is no alarm)
        self.count += 1
        ev = {"region": region, "at": at.isoformat() if at else None, "n": self._n[region],
              "mean_error_now": round(ad.estimation, 4)}
        self._events.append(ev)
        log.warning("drift in model error: region %s after %d labels, mean error now %.4f",
                    region, self._n[region], ad.estimation)
        if self.on_drift is not None:
            self.on_drift(ev)
        return True

    def events(self) -> list[dict]:
        return list(self._events)

    def snapshot(self) -> dict[str, Any]:
        return {"count": self.count, "events": list(self._events),
                "regions": {r: [self._n[r], list(q)] for r, q in sorted(self._recent.items())}}

    def restore(self, s: dict[str, Any]) -> None:
        """ADWIN is rebuilt from each region's recent errors (the last ``memory``), silently."""
        self._reset()
        for r, (n, errs) in s["regions"].items():
            ad = self._adwin[r] = drift.ADWIN(delta=self.delta)
            self._recent[r] = deque(errs, maxlen=self.memory)
            self._n[r] = n
            for e in errs:
                ad.update(e)
        self._events.extend(s["events"])
        self.count = s["count"]
