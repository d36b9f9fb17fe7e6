"""learning: online-learning detectors (river) that run in the same pipeline as the rules.

- ``EscalationDetector``: the 民转刑 classifier; scores every record of a case, learns from the
  centre's outcomes days later (delayed labels), calibrated, explains itself in Chinese.
- ``RateAnomalyDetector``: surges per grid, subdistrict and camera against seasonal baselines.
- ``DriftWatch``: ADWIN on the model's error per region (ops, not warnings).
- ``checkpoint``: versioned JSON save/load; ``protocol.fusion_weight``: p → fusion weight.

See docs/learning.md.
"""
from .drift import DriftWatch
from .escalation import EscalationDetector
from .protocol import LearningDetector, OnlineModel, fusion_weight
from .rates import RateAnomalyDetector

__all__ = ["DriftWatch", "EscalationDetector", "LearningDetector", "OnlineModel",
           "RateAnomalyDetector", "fusion_weight", "default_learning_detectors"]


def default_learning_detectors(**escalation: object) -> list:
    """A fresh escalation model and rate detector (the lead may add them to the engine)."""
    return [EscalationDetector(**escalation), RateAnomalyDetector()]  # type: ignore[arg-type]
