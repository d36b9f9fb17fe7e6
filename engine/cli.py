"""The ``yujing`` command.

    yujing run                       play the synthetic city, console on 127.0.0.1:8000
    yujing run --input city.jsonl    play a file instead (--mapping MAP.yaml for other systems' exports)
    yujing simulate --days 30 --seed 7 --out city.jsonl
    yujing schema export --out schemas/
    yujing rules lint | yujing rules test | yujing backtest       (rule packs; see docs/rules.md)
    yujing evaluate --input city.jsonl --truth city.truth.jsonl  (the model; docs/learning.md)
    yujing graph explain CASE_ID --snapshot data/graph.json      (docs/graph.md)
    yujing users add LOGIN --name .. --role duty --centre CODE    (console accounts; docs/console.md)
    yujing topics create | yujing ingest FILE | yujing worker     (Kafka; see docs/kafka.md)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from streams.errors import YujingError


def _cmd_run(args: argparse.Namespace) -> int:
    from .app import items_for, serve_and_play
    from .config import load_settings
    settings = load_settings(args.config, data_dir=args.data_dir, store_url=args.store,
                             port=args.port, host=args.host, speed=args.speed,
                             sim_days=args.days, sim_seed=args.seed, sim_scale=args.scale,
                             batch_size=args.batch_size)
    items = items_for(settings, args.input, args.mapping)
    summary = asyncio.run(serve_and_play(settings, items, exit_when_done=args.exit_when_done))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from streams.simulate import SimConfig, write
    cfg = SimConfig(days=args.days, seed=args.seed, scale=args.scale,
                    noisy_names=args.noisy_names)
    started = time.monotonic()
    last = [0.0]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2:
            last[0] = now
            print(f"\r{n:,} records written ({n / max(now - started, 1e-9):,.0f}/s)",
                  end="", file=sys.stderr, flush=True)

    counts = write(cfg, args.out, args.truth, progress=progress)
    print(file=sys.stderr)
    print(json.dumps(counts, ensure_ascii=False, default=str))
    return 0


def _cmd_schema_export(args: argparse.Namespace) -> int:
    from streams.records import KIND_MODELS, Signal, Warning
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = dict(KIND_MODELS, signal=Signal, warning=Warning)
    for kind, model in sorted(models.items()):
        path = out / f"{kind}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
        print(path)
    return 0


def _cmd_native_status(args: argparse.Namespace) -> int:
    import importlib

    from streams import native
    for mod in native.NATIVE_MODULES:   # imported as the engine imports them
        importlib.import_module(mod)
    st = native.status()
    print(json.dumps({"mode": st["mode"], "why": st["why"], "build": str(native.build_dir()),
                      "modules": st["modules"]}, ensure_ascii=False, indent=1))
    return 0


def _cmd_native_build(args: argparse.Namespace) -> int:
    from streams import native
    from streams.native_build import build
    out = Path(args.out) if args.out else native.build_dir()
    if not args.verbose:   # (setuptools logs every gcc command line at INFO)
        logging.getLogger().setLevel(logging.WARNING)
    print(f"yujing: compiling {len(native.NATIVE_MODULES)} modules under {native.ROOT} with mypyc "
          f"into {out} (about a minute) ...", file=sys.stderr)
    try:
        m = build(out)
    except ModuleNotFoundError as exc:
        print(f"yujing: error: {exc.name} is missing: pip install 'yujing[native]' (mypy), and gcc "
              "with the Python headers", file=sys.stderr)
        return 1
    except (Exception, SystemExit) as exc:   # mypyc reports type errors by SystemExit
        print(f"yujing: error: compiling failed ({type(exc).__name__}: {exc}); the engine keeps "
              "running plain Python", file=sys.stderr)
        return 1
    hint = "" if out.resolve() == native.build_dir().resolve() else f" (set YUJING_NATIVE_DIR={out})"
    print(f"yujing: compiled by mypyc {m['mypy']} for {m['interpreter']}; used from the next "
          f"start{hint}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yujing", description="yujing (预警): real-time risk "
                                "early warning for 综治中心 (social-governance centres)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the engine on the embedded store (chDB) with the console")
    r.add_argument("--input", help="a JSONL/CSV/JSON file to play instead of the synthetic city")
    r.add_argument("--mapping", help="YAML mapping for another system's export columns and codes")
    r.add_argument("--config", help="YAML settings file (see engine/config.py)")
    r.add_argument("--data-dir", help="folder for the chDB store and dead letters (default ./data)")
    r.add_argument("--store", metavar="URL",
                   help="a ClickHouse server (clickhouse://user:pass@host:9000/db) instead of chDB")
    r.add_argument("--host", help="address to serve on (default 127.0.0.1)")
    r.add_argument("--port", type=int, help="port to serve on (default 8000)")
    r.add_argument("--speed", type=float,
                   help="event seconds per wall second (default 3600: an hour a second); 0 = as fast as possible")
    r.add_argument("--days", type=int, help="days of synthetic city to play (default 30)")
    r.add_argument("--seed", type=int, help="synthetic city seed (default 7)")
    r.add_argument("--scale", type=float, help="synthetic city size (default 1.0)")
    r.add_argument("--batch-size", type=int, help="records per pipeline batch (default 500)")
    r.add_argument("--exit-when-done", action="store_true",
                   help="stop when the input ends instead of keeping the console up")
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("simulate", help="write a synthetic city's records and its ground truth")
    s.add_argument("--days", type=int, default=30)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--scale", type=float, default=1.0, help="1.0 = a small city (~20,000 people)")
    s.add_argument("--out", required=True, help="records file (JSONL)")
    s.add_argument("--truth", help="ground-truth file (default: OUT with .truth.jsonl)")
    s.add_argument("--noisy-names", action="store_true", help="typos in names and addresses")
    s.set_defaults(func=_cmd_simulate)

    sc = sub.add_parser("schema", help="record schemas")
    scs = sc.add_subparsers(dest="schema_command", required=True)
    ex = scs.add_parser("export", help="write the JSON Schema of every record kind")
    ex.add_argument("--out", default="schemas", help="output folder (default ./schemas)")
    ex.set_defaults(func=_cmd_schema_export)

    na = sub.add_parser("native", help="the compiled hot paths: which code runs (status), or "
                        "compile them (build; needs the native extra and gcc)")
    nas = na.add_subparsers(dest="native_command")
    na.set_defaults(func=_cmd_native_status)
    nas.add_parser("status", help="compiled or plain Python, and why (JSON)").set_defaults(
        func=_cmd_native_status)
    nb = nas.add_parser("build", help="compile the installed sources with mypyc")
    nb.add_argument("--out", help="build folder (default: $YUJING_NATIVE_DIR, else build/native "
                    "beside the packages)")
    nb.set_defaults(func=_cmd_native_build)

    # topics create, ingest, worker; rules lint/test, backtest; evaluate
    from . import cli_graph, cli_kafka, cli_learning, cli_rules, cli_users
    cli_graph.add_commands(sub)
    cli_kafka.add_commands(sub)
    cli_rules.add_commands(sub)
    cli_learning.add_commands(sub)
    cli_users.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except YujingError as exc:
        print(f"yujing: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
