"""Shared by the benchmarks: where results go and what machine made them."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu} ({os.cpu_count()} cores{mem}), Python {platform.python_version()}, {platform.system()}"


def save(name: str, figures: dict, keep: tuple[str, ...] = ()) -> Path:
    """Write results/NAME.json; ``keep``: entries of the old file that other scripts measure
    (carried over as they are)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text(encoding="utf-8")) if keep and path.exists() else {}
    figures = {**figures, **{k: old[k] for k in keep if k in old}}
    out = {**figures, "machine": machine(),
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return path


def feature_query_latency(detector: Any, cases: list[str]) -> tuple[float, float]:
    """(p50, p99) milliseconds of ``detector.features(case_id)`` over ``cases`` (graph benches)."""
    lat = []
    for cid in cases:
        t0 = time.perf_counter()
        detector.features(cid)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return round(statistics.median(lat), 4), round(lat[int(0.99 * (len(lat) - 1))], 4)
