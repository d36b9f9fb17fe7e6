"""``yujing graph explain CASE_ID --snapshot FILE``: a case's linked entities and its paths."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add_commands(subparsers) -> None:
    graph = subparsers.add_parser("graph", help="the relationship graph")
    sub = graph.add_subparsers(dest="graph_command", required=True)
    ex = sub.add_parser("explain", help="a case's linked entities and the paths behind its signals")
    ex.add_argument("case_id")
    ex.add_argument("--snapshot", required=True, type=Path,
                    help="JSON of GraphDetector.snapshot() (written by yujing run at stop)")
    ex.add_argument("--json", action="store_true", help="print JSON instead of text")
    ex.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from graph.explain import explain, render
    try:
        state = json.loads(args.snapshot.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read snapshot {args.snapshot}: {exc}", file=sys.stderr)
        return 2
    state = state.get("graph_detector", state)  # a bare snapshot or one wrapped by the runner
    info = explain(state, args.case_id)
    if info is None:
        print(f"case {args.case_id} is not in the graph snapshot", file=sys.stderr)
        return 1
    print(json.dumps(info, ensure_ascii=False, indent=2) if args.json else render(info))
    return 0
