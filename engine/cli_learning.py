"""``yujing evaluate --input FILE --truth FILE [--budget 0.05]``: progressive validation.

The lead wires ``add_commands`` into ``engine.cli``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_evaluate(args: argparse.Namespace) -> int:
    from learning import EscalationDetector, checkpoint
    from streams.sources import decode_lines

    from .evaluate import evaluate
    model = EscalationDetector()
    if args.checkpoint:
        checkpoint.load(args.checkpoint, [model])
    truth = [json.loads(x) for x in Path(args.truth).read_text(encoding="utf-8").splitlines() if x.strip()]
    with open(args.input, encoding="utf-8") as f:
        res = evaluate(decode_lines(f, source=args.input), truth, budget=args.budget, escalation=model)
    if args.save_checkpoint:
        checkpoint.save(args.save_checkpoint, [model], {"trained_on": str(args.input)})
    if not args.full:
        for k in ("model", "fused"):
            res[k]["calibration"] = {"ece": res[k]["calibration"]["ece"]}
    print(json.dumps(res, ensure_ascii=False, indent=2, default=str))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    e = subparsers.add_parser("evaluate", help="progressive validation of rules, model and fusion")
    e.add_argument("--input", required=True, help="JSONL of yujing records (with feedback)")
    e.add_argument("--truth", required=True, help="the ground truth (yujing simulate's .truth.jsonl)")
    e.add_argument("--budget", type=float, default=0.05, help="share of cases flagged (default 0.05)")
    e.add_argument("--checkpoint", help="warm-start the model from this checkpoint")
    e.add_argument("--save-checkpoint", help="write the model's checkpoint here at the end")
    e.add_argument("--full", action="store_true", help="print the reliability bins too")
    e.set_defaults(func=cmd_evaluate)
