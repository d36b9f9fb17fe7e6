"""Calibration of a raw classifier score into a probability: histogram binning made monotone.

The classifier is trained with class weights (positives are rare), so its raw probability is
inflated; this maps it back to observed frequencies.  Bins on the raw score hold (positives,
count) with a Beta prior centred on ``prior``; pool-adjacent-violators makes the map monotone.
Plain integers and floats: it snapshots as JSON.

>>> c = Calibrator(bins=4, prior=0.1, strength=2)
>>> c(0.9) == c(0.1) == 0.1
True
>>> for _ in range(20): c.learn(0.9, True); c.learn(0.1, False)
>>> c(0.9) > 0.8 > 0.1 > c(0.1)
True
"""
from __future__ import annotations

from typing import Any


class Calibrator:
    def __init__(self, bins: int = 20, prior: float = 0.02, strength: float = 5.0):
        self.bins, self.prior, self.strength = bins, prior, strength
        self.pos = [0.0] * bins
        self.n = [0.0] * bins
        self._table = [prior] * bins

    def _bin(self, raw: float) -> int:
        return min(self.bins - 1, max(0, int(raw * self.bins)))

    def __call__(self, raw: float) -> float:
        return self._table[self._bin(raw)]

    def learn(self, raw: float, y: bool, w: float = 1.0) -> None:
        b = self._bin(raw)
        self.n[b] += w
        self.pos[b] += w * bool(y)
        self._refit()

    def _refit(self) -> None:
        a = self.strength
        # pool adjacent violators over (smoothed rate, weight) blocks
        blocks: list[list[float]] = []   # [pos + a·prior, n + a, first bin, last bin]
        for i in range(self.bins):
            blocks.append([self.pos[i] + a * self.prior, self.n[i] + a, i, i])
            while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
                p2, n2, _, l2 = blocks.pop()
                blocks[-1][0] += p2
                blocks[-1][1] += n2
                blocks[-1][3] = l2
        for p, n, lo, hi in blocks:
            for i in range(int(lo), int(hi) + 1):
                self._table[i] = p / n

    def reliability(self) -> list[dict[str, float]]:
        return [{"bin": i, "n": self.n[i], "rate": self._table[i]} for i in range(self.bins)]

    def snapshot(self) -> dict[str, Any]:
        return {"bins": self.bins, "prior": self.prior, "strength": self.strength,
                "pos": list(self.pos), "n": list(self.n)}

    def restore(self, s: dict[str, Any]) -> None:
        self.bins, self.prior, self.strength = s["bins"], s["prior"], s["strength"]
        self.pos, self.n = list(s["pos"]), list(s["n"])
        self._table = [self.prior] * self.bins
        self._refit()
