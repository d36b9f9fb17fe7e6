"""Rule packs: backtest speed, and detection quality against two simple baselines.

    python benchmarks/bench_rules.py [--days 30] [--seed 7] [--scale 1.0] [--level blue]

Plays the simulator's city through ``engine.backtest`` (the same pipeline as ``yujing run``) with
the default packs, on one core, and scores it against the truth file at the case level (see
``engine/backtest.py`` for the definitions).  The baselines are single rules run the same way:
``keywords`` (any threat, weapon or self-harm word: a match rule) and ``repeat_count`` (3 calls
or grid events on a case within 7 days: a threshold rule).  One rule alone can never lift a
case to a warning under the default fusion, so a baseline "warns" wherever it fires (its own
hits, as the per-rule figures of the backtest); the packs are scored by their warnings at
``--level`` or above.

Speed, on one core: ``backtest_full_records_per_s`` is one run from the file (decode, link,
rules, fusion, warning book); ``backtest_records_per_s`` is a run with the case linking
precomputed (the issue's "graph features precomputed"): the input decoded and linked once onto
a tape (``engine/backtest_tape.py``, ``link_once_records_per_s``) and replayed through the same
pipeline for each rule set, as ``yujing backtest --compare`` does; the median of 3 replays
(wall clock; ``..._cpu`` by ``time.process_time``).  Writes benchmarks/results/rules.json.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from engine import backtest as bt  # noqa: E402
from rules.packs import DEFAULT_DIR  # noqa: E402
from streams.simulate import SimConfig, write  # noqa: E402
from streams.sources import open_source  # noqa: E402

BASELINES = {
    "keywords": """\
pack: baseline_keywords
title: 基线:关键词
rules:
  - id: any_keyword
    title: 威胁/凶器/自伤词
    description: 内容出现扬言威胁、凶器或自伤类词语。
    score: 1.0
    streams: [call, grid_event]
    when: text mentions @threats or text mentions @weapons or text mentions @self_harm
    tests:
      - records: [{text: 他扬言要拿刀}]
        fire: true
      - records: [{text: 邻居装修噪音}]
        fire: false
""",
    "repeat_count": """\
pack: baseline_repeat
title: 基线:反复来电
rules:
  - id: repeat_count
    title: 7天内3次
    description: 同一案件7天内来电或网格事件3次。
    score: 1.0
    streams: [call, grid_event]
    kind: threshold
    when: "true"
    count: 3
    window: 7d
    tests:
      - records: [{}, {at: 1h}, {at: 2h}]
        fire: true
      - records: [{}, {at: 1h}]
        fire: false
""",
}
KEYS = ("precision", "recall", "median_lead_hours")
MZX_PACKS = ("min_zhuan_xing", "zhao_shi_zhao_huo")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--level", default="blue", choices=list(bt.LEVELS))
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):   # one core, as the aim says
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        city = Path(tmp) / "city.jsonl"
        write(SimConfig(days=args.days, seed=args.seed, scale=args.scale), city)
        truth = bt.Truth.load(Path(tmp) / "city.truth.jsonl")
        specs, det = bt.load_rules(DEFAULT_DIR)
        run = bt.run([det], open_source(city), bt.rule_table(specs), bt.stderr_progress())
        rep = bt.report(run, truth, args.level)
        tape = bt.record_tape(open_source(city), bt.HASH_KEY, bt.BATCH)
        replays, cpus = [], []
        for _ in range(3):
            c = time.process_time()
            again = bt.run([bt.load_rules(DEFAULT_DIR)[1]], tape, bt.rule_table(specs))
            cpus.append(again.records / (time.process_time() - c))
            replays.append(again.records / again.seconds)
            assert again.signals == run.signals and again.first == run.first  # (same outputs)
        print(f"linked once: {tape.records / tape.seconds:,.0f} records/s; replays "
              f"{', '.join(f'{x:,.0f}' for x in replays)} records/s", file=sys.stderr)
        # the truth labels 民转刑 only: the packs for other risks (电诈, 群体性, 防溺水...) add
        # warnings it counts as false; the 民转刑 packs alone are the like-for-like comparison
        only = Path(tmp) / "mzx"
        only.mkdir()
        for pack in MZX_PACKS:
            shutil.copy(DEFAULT_DIR / f"{pack}.yaml", only)
        ospecs, odet = bt.load_rules(only)
        orep = bt.report(bt.run([odet], tape, bt.rule_table(ospecs)), truth, args.level)
        base = {}
        for name, text in BASELINES.items():
            d = Path(tmp) / name
            d.mkdir()
            (d / "pack.yaml").write_text(text, encoding="utf-8")
            bspecs, bdet = bt.load_rules(d)
            brun = bt.run([bdet], tape, bt.rule_table(bspecs))
            (rid, r), = bt.report(brun, truth, args.level)["rules"].items()
            base[name] = {**{k: r[k] for k in KEYS}, "cases_flagged_per_day":
                          round((r["tp"] + r["fp"] + r["late"] + r["later"]) / rep["input"]["days"], 1),
                          "tp": r["tp"], "fp": r["fp"]}
    o = rep["overall"][args.level]
    figures = {
        "input": {"days": args.days, "seed": args.seed, "scale": args.scale,
                  "records": rep["input"]["records"], "truth_cases": rep["input"]["truth_cases"],
                  "escalations": rep["input"]["escalations"]},
        "backtest_records_per_s": round(statistics.median(replays)),
        "backtest_records_per_s_cpu": round(statistics.median(cpus)),
        "backtest_replays_records_per_s": [round(x) for x in replays],
        "backtest_full_records_per_s": rep["input"]["records_per_s"],
        "link_once_records_per_s": round(tape.records / tape.seconds),
        "pipeline_records_per_s": rep["input"]["pipeline_records_per_s"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rule_count": len(specs),
        "level": args.level,
        **{k: o[k] for k in KEYS},
        "warnings_per_day": o["warnings_per_day"],
        "by_level": {lv: {k: x[k] for k in (*KEYS, "warnings_per_day", "tp", "fp")}
                     for lv, x in rep["overall"].items()},
        "min_zhuan_xing_packs_only": {
            "packs": list(MZX_PACKS), "rule_count": len(ospecs),
            "by_level": {lv: {k: x[k] for k in (*KEYS, "warnings_per_day", "tp", "fp")}
                         for lv, x in orep["overall"].items()}},
        "baseline_keywords": base["keywords"],
        "baseline_repeat_count": base["repeat_count"],
    }
    save("rules", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
