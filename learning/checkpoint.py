"""Checkpoints: the learning detectors' state in one versioned JSON file.

A backtest (``yujing evaluate --save-checkpoint``) can warm-start a model that the live engine
then loads; a restarted worker continues instead of starting cold.  Plain JSON (no pickle):
loading a checkpoint runs no code, and floats round-trip exactly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

FORMAT = "yujing.learning.checkpoint"
VERSION = 1


def dump(detectors: Iterable[Any], meta: dict | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "meta": meta or {},
            "detectors": {d.name: d.snapshot() for d in detectors}}


def save(path: str | Path, detectors: Iterable[Any], meta: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(dump(detectors, meta), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)   # atomic: a crash mid-write leaves the previous checkpoint
    return path


def restore(doc: dict[str, Any], detectors: Iterable[Any]) -> list[str]:
    """Restore each detector found in ``doc`` by name; returns the names restored."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a yujing learning checkpoint (format {doc.get('format')!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"checkpoint version {doc.get('version')} is not {VERSION}")
    done = []
    for d in detectors:
        state = doc["detectors"].get(d.name)
        if state is not None:
            d.restore(state)
            done.append(d.name)
    return done


def load(path: str | Path, detectors: Iterable[Any]) -> list[str]:
    return restore(json.loads(Path(path).read_text(encoding="utf-8")), detectors)
