"""The escalation model (learning/) in the Kafka workers: where a partition's model starts, and
the shared checkpoint the workers write for ``yujing run`` and backtests.

Each partition's pipeline has its own model, learning from the feedback of that partition's
cases. Its learned state is part of the partition's snapshot (engine/worker_state.py: every
detector's ``snapshot()``, the model's weights, calibrator, pending cases), so a restarted or
rebalanced worker goes on with the learned weights, whether it restores a snapshot or replays
the partition from offset 0.

Replaying from offset 0 re-learns every label in the log, so a partition's model must start
from the SAME state every time, or a replay would learn the log's labels twice (and warnings
would differ from the uninterrupted run's). That start is pinned once per data folder
(``base_checkpoint``): ``DATA_DIR/models/worker-base.json`` if there; else a
``DATA_DIR/models/learning.json`` that a worker did not write (from ``yujing run`` or
``yujing evaluate --save-checkpoint``) is copied there and used; else the model starts cold.
A checkpoint written by a worker (``meta.saved_by == "yujing worker"``) is never a worker's
start: it already holds what the log teaches. Replacing worker-base.json on a running
deployment needs its snapshots cleared (state made from the old start would mix with the new).

The shared checkpoint: on revoke and on shutdown, the worker writes
``DATA_DIR/models/learning.json`` from the partition whose model learned the most labels (its
updates; ties: the lowest partition), ``meta`` naming the partition, the offset its state has
reached and ``saved_by: "yujing worker"``. One partition's model, not a merge: the models of
other partitions saw other cases, and averaging online logistic models with different
calibrators is not something this code has measured.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger("yujing.worker")
SAVED_BY = "yujing worker"
BASE = "worker-base.json"


def _meta(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc.get("meta") or {} if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def base_checkpoint(data_dir: str | Path) -> Path | None:
    """The checkpoint every partition's model starts from (pinned; see the module doc), or None
    (cold)."""
    models = Path(data_dir) / "models"
    base = models / BASE
    if base.exists():
        return base
    shared = models / "learning.json"
    if not shared.exists() or _meta(shared).get("saved_by") == SAVED_BY:
        return None
    tmp = base.with_suffix(".tmp")
    shutil.copyfile(shared, tmp)
    tmp.replace(base)
    log.info("learning: %s pinned as the workers' start (%s)", shared, base)
    return base


def model_updates(pipeline: Any) -> int:
    """Labels the pipeline's learning detectors have learned (0: cold, or learning off)."""
    from .app import learning_models
    return sum(int(getattr(d, "updates", 0)) for d in learning_models(pipeline))


def save_shared(data_dir: str | Path, pipelines: Mapping[int, Any], offsets: Mapping[int, int],
                topic: str) -> Path | None:
    """Write DATA_DIR/models/learning.json from the partition that learned the most (nothing
    when no partition learned anything: a cold model is no checkpoint worth sharing)."""
    from .app import save_models
    if not pipelines:
        return None
    part = max(sorted(pipelines), key=lambda p: model_updates(pipelines[p]))
    n = model_updates(pipelines[part])
    if n == 0:
        return None
    path = Path(data_dir) / "models" / "learning.json"
    meta = {"saved_by": SAVED_BY, "topic": topic, "partition": part,
            "offset": offsets.get(part), "updates": n}
    return path if save_models(pipelines[part], path, meta) else None
