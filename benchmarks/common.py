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


def speed_score(seconds: float = 1.0) -> dict[str, int]:
    """How fast this machine runs the engine's kind of Python, as two rates (higher is faster):
    ``interpreter``, rounds per second of small dict, string, tuple and sort work that stays in
    cache; ``memory``, thousands of random lookups per second in a 400 k-entry dict of interned
    keys (the linker's and the graph's index at scale miss the cache on most lookups).

    Throughput figures are only comparable between machines whose scores are close: two kinds
    of 2-core machine here differed by 40-50 % on the same code (benchmarks/results/graph.json,
    ``scale_link``).  Each results file records the score of the machine that made it.

    >>> s = speed_score(0.05); s["interpreter"] > 0 and s["memory"] > 0
    True
    """
    import random
    from sys import intern

    def round_once() -> int:
        counts: dict[str, int] = {}
        for i in range(2000):
            k = f"id:{i * 7919 % 1000:04d}"
            counts[k] = counts.get(k, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return len(tuple(k for k, _ in ranked[:50]))

    keys = [intern(f"ph:{i * 2654435761 % 2**32:08x}") for i in range(400_000)]
    table = dict.fromkeys(keys, 0)
    probes = random.Random(7).choices(keys, k=200_000)

    def rate(fn, per_call: int) -> float:
        n, t0 = 0, time.perf_counter()
        while (spent := time.perf_counter() - t0) < seconds:
            fn()
            n += per_call
        return n / spent

    def lookups() -> None:
        get = table.get
        for k in probes:
            get(k)

    return {"interpreter": round(statistics.median(rate(round_once, 1) for _ in range(3))),
            "memory": round(statistics.median(rate(lookups, 200) for _ in range(3)))}


def save(name: str, figures: dict, keep: tuple[str, ...] = ()) -> Path:
    """Write results/NAME.json; ``keep``: entries of the old file that other scripts measure
    (carried over as they are)."""
    from streams import native   # (here: the scripts put the project on sys.path first)

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text(encoding="utf-8")) if keep and path.exists() else {}
    figures = {**figures, **{k: old[k] for k in keep if k in old}}
    out = {**figures, "machine": machine(), "machine_speed": speed_score(),
           # the hot paths compiled by mypyc, or plain Python (streams/native.py)
           "compiled": native.compiled(),
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


if __name__ == "__main__":   # python -m benchmarks.common: this machine and its speed score
    print(machine(), speed_score())
