"""Throughput of the synthetic city and of the in-process pipeline (one core each).

    python benchmarks/bench_pipeline.py [--days 30] [--scale 1.0]

Figures (records per second, wall clock):
- simulate_records_per_s: ``yujing simulate`` writing JSONL (registries, events, noise, truth);
- decode_records_per_s: JSON → validated pydantic records alone (the floor under the pipeline);
- pipeline_records_per_s: decode + link + every detector + fusion + warning book, no I/O;
- run_records_per_s_with_chdb: the whole ``yujing run --speed 0`` (store writes, dead letters,
  console push) in its own process.
Decode and pipeline run with the garbage collector tuned for streaming as ``yujing run`` and
``yujing backtest`` do (``engine.pipeline.tune_gc``), and once more with Python's default
thresholds (``*_gc_default``).  ``us_per_record`` is CPU time (``time.process_time``), less
sensitive than the wall clock to other processes on the machine.
Writes benchmarks/results/pipeline.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from engine.pipeline import Pipeline, tune_gc  # noqa: E402
from rules.builtin import default_detectors  # noqa: E402
from streams.privacy import Hasher  # noqa: E402
from streams.simulate import SimConfig, write  # noqa: E402
from streams.sources import decode_lines  # noqa: E402


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    _pin_one_core()
    tmp = Path(tempfile.mkdtemp(prefix="yujing-bench-"))
    city = tmp / "city.jsonl"

    t = time.perf_counter()
    counts = write(SimConfig(days=args.days, seed=7, scale=args.scale), city)
    sim_s = time.perf_counter() - t
    lines = city.read_text(encoding="utf-8").splitlines()
    n = len(lines)
    print(f"simulated {n:,} lines in {sim_s:.1f}s", file=sys.stderr)

    def decode_and_process() -> dict:
        cpu, t = time.process_time(), time.perf_counter()
        items = list(decode_lines(lines))
        decode_s, decode_cpu = time.perf_counter() - t, time.process_time() - cpu
        pipeline = Pipeline(Hasher(b"bench-key-000000"), default_detectors())
        cpu, t = time.process_time(), time.perf_counter()
        signals = warnings = 0
        for i in range(0, len(items), args.batch):
            out = pipeline.process(items[i:i + args.batch])
            signals += len(out.signals)
            warnings += len(out.warnings)
        pipe_s, pipe_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"pipeline: {signals:,} signals, {warnings:,} warning versions, "
              f"{len(pipeline.linker.cases):,} cases; gc thresholds {gc.get_threshold()}", file=sys.stderr)
        return {"decode_s": decode_s, "pipe_s": pipe_s, "decode_cpu": decode_cpu, "pipe_cpu": pipe_cpu,
                "signals": signals, "warnings": warnings}

    default = decode_and_process()    # Python's default thresholds
    gc.collect()
    tune_gc()
    tuned = decode_and_process()
    assert (tuned["signals"], tuned["warnings"]) == (default["signals"], default["warnings"])
    signals, warnings = tuned["signals"], tuned["warnings"]
    decode_s, pipe_s = tuned["decode_s"], tuned["pipe_s"]

    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--input", str(city),
                          "--speed", "0", "--exit-when-done", "--data-dir", str(tmp / "data"),
                          "--port", "0"], cwd=ROOT, capture_output=True, text=True)
    run_s = time.perf_counter() - t
    if res.returncode != 0:
        print(res.stderr[-2000:], file=sys.stderr)
        return 1
    summary = json.loads(res.stdout.strip().splitlines()[-1])

    save("pipeline", {
        "input": {"days": args.days, "scale": args.scale, "lines": n,
                  "records": counts.get("records", n) if isinstance(counts, dict) else n},
        "simulate_records_per_s": round(n / sim_s),
        "decode_records_per_s": round(n / decode_s),
        "pipeline_records_per_s": round(n / (decode_s + pipe_s)),
        "decode_records_per_s_gc_default": round(n / default["decode_s"]),
        "pipeline_records_per_s_gc_default": round(n / (default["decode_s"] + default["pipe_s"])),
        "us_per_record": {name: {"decode": round(r["decode_cpu"] / n * 1e6, 1),
                                 "link_detect_warn": round(r["pipe_cpu"] / n * 1e6, 1)}
                          for name, r in (("gc_tuned", tuned), ("gc_default", default))},
        "run_records_per_s_with_chdb": round(summary["items"] / summary["seconds"]),
        "run_wall_seconds_including_start": round(run_s, 1),
        "signals": signals, "warning_versions": warnings,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
