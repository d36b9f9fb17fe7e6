"""The relationship graph: linking quality of the pipeline's case linker against the simulator's
truth, and the cost of ``GraphDetector`` (build time, nodes/edges, RSS, records/s on one core,
feature query latency).

    .venv/bin/python -m benchmarks.bench_graph [--big-scale 4]

This runs the simulated city at scale 1 (about 20,000 people) and one bigger scale; the
1-million-people build and the 90-day retention stream are ``benchmarks/bench_graph_scale.py``
(synthetic inputs), whose figures this keeps when it rewrites ``graph.json``.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from collections import defaultdict

from benchmarks.common import RESULTS, feature_query_latency, save
from engine.pipeline import Pipeline
from graph.detector import GraphDetector
from streams.detect import CaseContext
from streams.privacy import Hasher
from streams.simulate import SimConfig, simulate
from streams.sources import decode_lines

H = Hasher(b"bench-graph-key-0123")


def _city(cfg):
    lines, truth = [], []
    for line, entry in simulate(cfg):
        (lines.append(line) if line is not None else truth.append(entry))
    return lines, truth


def pairwise(case_of: dict[str, str], truth: list[dict]) -> tuple[float, float]:
    """Pairwise same-case precision and recall over the records of true cases."""
    true_of = {rid: t["case_id"] for t in truth if t["kind"] == "case" for rid in t["record_ids"]}
    def pairs(groups):
        return sum(n * (n - 1) // 2 for n in groups.values())
    by_pred, by_true, both = defaultdict(int), defaultdict(int), defaultdict(int)
    for rid, tc in true_of.items():
        pc = case_of.get(rid)
        by_true[tc] += 1
        if pc:
            by_pred[pc] += 1
            both[(pc, tc)] += 1
    tp = pairs(both)
    return tp / max(1, pairs(by_pred)), tp / max(1, pairs(by_true))


def link_quality(scale: float, noisy: bool) -> dict:
    lines, truth = _city(SimConfig(days=30, seed=7, scale=scale, noisy_names=noisy))
    p = Pipeline(H, [])
    items = list(decode_lines(lines))
    t = time.perf_counter()
    case_of: dict[str, str] = {}
    merged: dict[str, str] = {}
    for i in range(0, len(items), 1000):
        out = p.process(items[i:i + 1000])
        case_of.update(out.case_of)
        merged.update(out.merged)
    dt = time.perf_counter() - t
    for rid, cid in case_of.items():  # a merged case's records count in the survivor
        while cid in merged:
            cid = merged[cid]
        case_of[rid] = cid
    prec, rec = pairwise(case_of, truth)
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "records_per_s": round(len(items) / dt), "merges": len(merged)}


def graph_cost(scale: float) -> dict:
    """Link with the pipeline, then time GraphDetector.detect alone over the same contexts."""
    lines, _ = _city(SimConfig(days=30, seed=7, scale=scale))
    p = Pipeline(H, [])
    calls = []
    for i, it in enumerate(decode_lines(lines)):
        out = p.process([it])
        rec = it.record
        if rec is not None and rec.kind in ("grid_event", "call", "video_alert") and out.records:
            cid = out.case_of.get(rec.id, "")
            c = p.linker.cases.get(cid)
            calls.append((rec, CaseContext(cid, [], key_persons=p.key_persons,
                                           dispute_kind=c.dispute_kind if c else None)))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    d = GraphDetector(H)
    t = time.perf_counter()
    n_sig = 0
    last = None
    for rec, ctx in calls:
        n_sig += len(d.detect(rec, ctx))
        if last is None or rec.occurred_at > last:
            last = rec.occurred_at
            d.advance(last)
    build = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cases = sorted({c.case_id for _, c in calls if c.case_id})[:5000]
    p50, p99 = feature_query_latency(d, cases)
    stats = d.graph.stats()
    return {"scale": scale, "records": len(calls), "signals": n_sig,
            "people": sum(1 for k in d.graph.kind.values() if k == "person"),
            "nodes": stats["nodes"], "edges": stats["edges"], "build_s": round(build, 2),
            "records_per_s": round(len(calls) / build),
            "rss_bytes": rss1, "rss_before_graph_bytes": rss0,
            "snapshot_bytes": len(json.dumps(d.snapshot())),
            "snapshot_binary_bytes": len(d.to_bytes()),
            "feature_query_p50_ms": p50, "feature_query_p99_ms": p99}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-scale", type=float, default=4.0)
    a = ap.parse_args()
    clean = link_quality(1.0, False)
    noisy = link_quality(1.0, True)
    small = graph_cost(1.0)
    big = graph_cost(a.big_scale)
    path = RESULTS / "graph.json"
    prev = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    scale = prev.get("scale_build") or {}
    save("graph", {
        "link_precision": noisy["precision"], "link_recall": noisy["recall"],
        "link_precision_clean_names": clean["precision"], "link_recall_clean_names": clean["recall"],
        "link_records_per_s": noisy["records_per_s"], "link_merges": noisy["merges"],
        "graph_records_per_s": big["records_per_s"], "rss_bytes": big["rss_bytes"],
        "feature_query_p50_ms": scale.get("feature_query_p50_ms", big["feature_query_p50_ms"]),
        "feature_query_p99_ms": scale.get("feature_query_p99_ms", big["feature_query_p99_ms"]),
        "graph_records_per_s_at_scale": scale.get("records_per_s"),
        "scale_reached": f"synthetic build: {scale.get('people_in_graph')} people, "
                         f"{scale.get('nodes')} nodes, {scale.get('edges')} edges in one process "
                         f"(bench_graph_scale); simulated city up to scale {a.big_scale}",
        "rss_bytes_at_1m_people": scale.get("rss_bytes_at_1m_people"),
        "scale_1": small, "scale_big": big,
        # figures other runs measured (bench_graph_scale's, the store's before/after): kept
        **{k: v for k, v in prev.items()
           if (k.startswith("scale_") and k not in ("scale_1", "scale_big", "scale_reached"))
           or k == "store_before_after"},
        "notes": "link_* is the pipeline's case linker (graph/linker.py) with noisy names and "
                 "addresses, 30 days, seed 7, scale 1, records of merged cases counted in the "
                 "survivor (benchmarks/link_errors.py breaks errors down); graph_* is GraphDetector.detect alone on one core "
                 "(retention 60 days, pruning daily); rss_bytes is peak process RSS including "
                 "the decoded records held for the run. feature_query_* and rss_bytes_at_1m_people "
                 "come from the synthetic 1M build (scale_build), scale_stream is 90 days with "
                 "30-day retention."})


if __name__ == "__main__":
    main()
