"""Cross-partition misses: what the Kafka workers (a pipeline per partition) do not produce that
one whole-city pipeline does, per events key level (区县 district or 街道 subdistrict) and
partition count. In process, no broker: the records are split exactly as ``yujing ingest`` splits
them (``engine.kafka_ingest.Router``: events by key, feedback to its record's partition or to
every partition), every partition's pipeline gets the whole registry, as a worker's does.

Figures (per level and partition count): whole-city warnings (distinct ids) and warning versions;
the split run's; warnings of the whole city not produced by any partition (``missed``), warnings
the partitions produce that the whole city does not (``extra``: cases linked differently);
whole-city versions (id, version, level, score) not produced alike (``versions_differ``); and the
events on the busiest partition (skew: a coarser key spreads worse).

    .venv/bin/python benchmarks/kafka_cross.py [--days 30 --scale 1 --seed 7] [--partitions 4 8]
    # merges ``cross_partition.with_learning`` (or ``.rules_only`` with --rules-only) into
    # results/kafka.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.kafka_ingest import Router  # noqa: E402
from streams.topics import KEY_LEVELS, route  # noqa: E402


def load(days: int, scale: float, seed: int) -> tuple[list, list]:
    from streams.simulate import SimConfig, generate
    from streams.sources import decode_lines
    items = [i for i in decode_lines(generate(SimConfig(days=days, scale=scale, seed=seed)), source="sim")
             if i.record is not None]
    registry = [i for i in items if route(i.record) == "registries"]
    events = [i for i in items if route(i.record) != "registries"]
    return registry, events


def run(settings, registry: list, events: list) -> list[tuple]:
    """(id, version, level, score) of every warning version one pipeline makes of ``events``."""
    from engine.app import build_pipeline
    p = build_pipeline(settings)
    p.process(registry)
    out = []
    for k in range(0, len(events), 2000):   # batches, as the runner and the worker feed it
        out += [(w.id, w.version, w.level.value, round(w.score, 6))
                for w in p.process(events[k:k + 2000]).warnings]
    return out


def split(events: list, partitions: int, level: str) -> dict[int, list]:
    router, parts = Router(partitions, level), {}
    for it in events:
        for p in router.target(it.record)[1]:
            parts.setdefault(p, []).append(it)
    return parts


def compare(whole: list[tuple], parts: list[tuple]) -> dict:
    w_ids, p_ids = {v[0] for v in whole}, {v[0] for v in parts}
    return {"warnings": len(p_ids), "versions": len(parts),
            "missed": len(w_ids - p_ids), "extra": len(p_ids - w_ids),
            "versions_differ": len(set(whole) - set(parts))}


def measure(days: int = 30, scale: float = 1.0, seed: int = 7, partitions=(4, 8),
            levels=KEY_LEVELS, learning: bool = True) -> dict:
    from engine.config import load_settings
    tmp = tempfile.mkdtemp(prefix="yujing-cross-")
    # default detectors, the model cold (as a fresh worker); learning=False: the rules alone
    settings = load_settings(data_dir=tmp, learning=learning)
    registry, events = load(days, scale, seed)
    t0 = time.perf_counter()
    whole = run(settings, registry, events)
    res: dict = {"city": {"days": days, "scale": scale, "seed": seed, "events": len(events)},
                 "learning": learning,
                 "whole_city": {"warnings": len({v[0] for v in whole}), "versions": len(whole)}}
    for n in partitions:
        for level in levels:
            parts = split(events, n, level)
            got = [v for p in sorted(parts) for v in run(settings, registry, parts[p])]
            sizes = Counter({p: len(v) for p, v in parts.items()})
            res[f"{level}@{n}"] = {**compare(whole, got), "partitions_used": len(parts),
                                   "busiest_partition_events": max(sizes.values())}
            print(f"{level}@{n}: {res[f'{level}@{n}']}", file=sys.stderr, flush=True)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--partitions", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--levels", nargs="+", default=list(KEY_LEVELS), choices=KEY_LEVELS)
    ap.add_argument("--rules-only", action="store_true", help="without the escalation model "
                    "(separates linking misses from per-partition models learning fewer labels)")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args()
    res = measure(a.days, a.scale, a.seed, tuple(a.partitions), tuple(a.levels), not a.rules_only)
    print(json.dumps(res, ensure_ascii=False, indent=2))
    if not a.no_save:
        path = ROOT / "benchmarks" / "results" / "kafka.json"
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        doc.setdefault("cross_partition", {})["rules_only" if a.rules_only else "with_learning"] = res
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
