"""``yujing graph explain CASE_ID --snapshot FILE [--data-dir DIR | --store-url URL]``: a case's
linked entities and its paths, and (with a store) its merges: which cases merged into it or it
into which, when, and the linker's reason (``case_merges``, no personal data)."""
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
    ex.add_argument("--data-dir", type=Path, default=None,
                    help="read the case's merges from the chDB store under DIR/chdb (not while "
                         "an engine holds it: use --store-url with a server)")
    ex.add_argument("--store-url", default=None,
                    help="read the case's merges from this ClickHouse server (clickhouse://...)")
    ex.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from graph.explain import explain, render
    try:
        state = json.loads(args.snapshot.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read snapshot {args.snapshot}: {exc}", file=sys.stderr)
        return 2
    state = state.get("graph_detector", state)  # a bare snapshot or one wrapped by the runner
    merges = None
    if args.data_dir is not None or args.store_url:
        try:
            merges = _merges(args)
        except Exception as exc:  # noqa: BLE001 - any store failure is reported, not raised
            print(f"cannot read case merges from the store: {exc}", file=sys.stderr)
            return 2
    info = explain(state, args.case_id)
    if info is None and merges:
        info = {"case": args.case_id, "features": {}, "entities": [], "paths": [],
                "note": "案件不在图谱快照中(已并入其他案件或已过保留期)"}
    if info is None:
        print(f"case {args.case_id} is not in the graph snapshot", file=sys.stderr)
        return 1
    if merges is not None:
        info["merges"] = merges
    print(json.dumps(info, ensure_ascii=False, indent=2) if args.json else render(info))
    return 0


def _merges(args) -> list[dict]:
    if args.store_url:
        from sinks.clickhouse_server import ServerStore
        store = ServerStore(args.store_url)
    else:
        from sinks.chdb_store import ChdbStore
        store = ChdbStore(args.data_dir / "chdb")
    try:
        return [{"gone": r["gone"], "into": r["into"], "at": r["at"].isoformat(), "why": r["why"]}
                for r in store.case_merges(args.case_id)]
    finally:
        store.close()
