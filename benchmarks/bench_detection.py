"""Detection quality of the default detectors and fusion on the synthetic city, by level.

    python benchmarks/bench_detection.py [--days 30] [--seed 7] [--scale 1.0]

For each level (red, orange+, yellow+, blue+): cases warned per day at that level or above,
the share of escalating (民转刑) cases warned at that level before the escalation, the share of
calm cases (no escalation, not even after the window) warned, and the median lead time.
Writes benchmarks/results/detection.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402
from rules.builtin import default_detectors  # noqa: E402
from streams.codes import LEVEL_RANK, Level  # noqa: E402
from streams.privacy import Hasher  # noqa: E402
from streams.simulate import SimConfig, simulate  # noqa: E402
from streams.sources import decode_lines  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    lines, truth = [], []
    for line, entry in simulate(SimConfig(days=args.days, seed=args.seed, scale=args.scale)):
        (lines.append(line) if line is not None else truth.append(entry))
    pipeline = Pipeline(Hasher(b"bench-key-000000"), default_detectors())
    items = list(decode_lines(lines))
    case_of: dict[str, str] = {}
    first: dict[tuple[str, int], datetime] = {}   # (case, level rank) -> first warned at or above
    for i in range(0, len(items), 500):
        out = pipeline.process(items[i:i + 500])
        case_of.update(out.case_of)
        for w in out.warnings:
            for rank in range(1, LEVEL_RANK[w.level] + 1):
                first.setdefault((w.case_id, rank), w.updated_at)
    cases = [t for t in truth if t["kind"] == "case"]
    esc = [t for t in cases if t["escalates"]]
    calm = [t for t in cases if not t["escalates"] and not t["escalates_later"]]

    def warned(t: dict, rank: int, until: datetime | None) -> datetime | None:
        ours = {case_of.get(r) for r in t["record_ids"]} - {None}
        times = [first[(c, rank)] for c in ours if (c, rank) in first]
        times = [x for x in times if until is None or x < until]
        return min(times) if times else None

    figures: dict = {"input": {"days": args.days, "seed": args.seed, "scale": args.scale,
                               "cases": len(cases), "escalations": len(esc)}}
    for level in (Level.RED, Level.ORANGE, Level.YELLOW, Level.BLUE):
        rank = LEVEL_RANK[level]
        leads = []
        for t in esc:
            at = datetime.fromisoformat(t["escalated_at"])
            w = warned(t, rank, at)
            if w is not None:
                leads.append((at - w).total_seconds() / 3600)
        warned_cases = {c for (c, r) in first if r == rank}
        figures[f"{level.value}_or_above"] = {
            "cases_warned_per_day": round(len(warned_cases) / args.days, 1),
            "escalations_warned_before": round(len(leads) / len(esc), 3),
            "calm_cases_warned": round(sum(warned(t, rank, None) is not None for t in calm) / len(calm), 3),
            "median_lead_hours": round(statistics.median(leads), 1) if leads else None,
        }
    save("detection", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
