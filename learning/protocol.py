"""The learning side's two small contracts, and how a calibrated probability enters fusion.

``OnlineModel`` is river's shape (``learn_one``/``predict_proba_one``).  A *learning detector* is
a ``streams.detect.Detector`` (``detect``/``snapshot``/``restore``) that also hears about
outcomes and about event time passing:

- ``observe_outcome(case_id, outcome, at, record_id=None)``: the centre's ``Feedback`` for a
  case arrived (called by ``Pipeline._feedback``).  Idempotent: a second call for the same case
  finds nothing pending and does nothing.
- ``advance(watermark) -> list[Signal]``: the pipeline already calls this on every detector that
  has it; learning detectors use it to turn cases quiet past a horizon into negatives.

>>> round(fusion_weight(0.02), 3), round(fusion_weight(0.5), 3), fusion_weight(0.01)
(0.0, 1.297, 0.0)
>>> from engine.fusion import Fusion
>>> f = Fusion()
>>> round(f.score([fusion_weight(0.3)]), 3)   # alone, the weight reads back as the probability
0.3
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping, Protocol, runtime_checkable

from streams.detect import Detector
from streams.records import Signal

PRIOR = 0.02   # engine.fusion.Fusion's default prior
GAIN = 3.0     # ... and gain
POSITIVE = "escalated_criminal"


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    if z < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def fusion_weight(p: float, prior: float = PRIOR, gain: float = GAIN) -> float:
    """The weight ``w`` with ``gain·w = logit(p) − logit(prior)``, clipped at 0 below the prior.

    Fed to ``Fusion.score`` alone it gives back ``p``; beside rule weights it adds exactly the
    model's evidence in log-odds.  Unbounded above (p = 0.9 gives 1.93 at the defaults): a
    ``Signal.score`` is capped at 1, so the signal carries this in ``evidence['fusion_weight']``.
    """
    return max(0.0, (logit(p) - logit(prior)) / gain)


@runtime_checkable
class OnlineModel(Protocol):
    def learn_one(self, x: Mapping[str, float], y: bool, w: float = 1.0) -> None: ...

    def predict_proba_one(self, x: Mapping[str, float]) -> dict[bool, float]: ...


@runtime_checkable
class LearningDetector(Detector, Protocol):
    def observe_outcome(self, case_id: str, outcome: str, at: datetime,
                        record_id: str | None = None) -> None: ...

    def advance(self, watermark: datetime) -> list[Signal]: ...

    def snapshot(self) -> dict[str, Any]: ...
