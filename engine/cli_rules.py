"""``yujing rules lint|test [DIR]``, ``yujing rules profile [NAME]`` and ``yujing backtest``:
the analysts' commands.

Lint and test exit 0 when all is well and 1 otherwise (for CI); errors print as
``file:line:col: message``.  ``backtest`` plays a file through the pipeline with a rule folder
(and ``--compare OLD_DIR``), prints a table and saves JSON (see ``engine.backtest``).
``rules profile NAME`` switches the profile (平时/战时/...) of a running engine: it writes
``DATA_DIR/rules-profile``, which the engine's reloader watches.
The lead wires ``add_commands`` into ``engine.cli``.
"""
from __future__ import annotations

import argparse
import sys


def _load(directory: str | None):
    from rules.packs import DEFAULT_DIR, load_packs
    return load_packs(directory or DEFAULT_DIR)


def cmd_lint(args: argparse.Namespace) -> int:
    ps = _load(args.dir)
    for e in ps.errors:
        print(e, file=sys.stderr)
    if not ps.files:
        print(f"no rule packs (*.yaml) in {args.dir}", file=sys.stderr)
        return 1
    shadow = sum(s.shadow for s in ps.specs)
    off = sum(not s.enabled for s in ps.specs)
    print(f"{len(ps.files)} pack(s), {len(ps.specs)} rule(s) ({shadow} shadow, {off} disabled), "
          f"{len(ps.lexicons)} 词库, {len(ps.profiles)} profile(s) ({', '.join(sorted(ps.profiles))}), "
          f"{len(ps.standing)} region override(s), {len(ps.errors)} error(s)")
    return 1 if ps.errors else 0


def cmd_test(args: argparse.Namespace) -> int:
    from rules.testing import run_tests
    ps = _load(args.dir)
    for e in ps.errors:
        print(e, file=sys.stderr)
    passed = failed = 0
    for spec in ps.specs:
        if args.rule and spec.id not in args.rule:
            continue
        for r in run_tests(spec):
            if r.ok:
                passed += 1
                if args.verbose_tests:
                    print(f"ok    {spec.id}: {r.name}")
            else:
                failed += 1
                print(f"FAIL  {spec.pack}/{spec.id} (line {spec.line}): {r.name}: {r.message}")
    from rules.testing import run_profile_tests
    for name, prof in sorted(ps.profiles.items()):
        for r in run_profile_tests(ps, name):
            if args.rule and r.rule_id not in args.rule:
                continue
            passed += r.ok
            failed += not r.ok
            if not r.ok:
                print(f"FAIL  profile {name} ({prof.file}) {r.rule_id}: {r.name}: {r.message}")
            elif args.verbose_tests:
                print(f"ok    profile {name} {r.rule_id}: {r.name}")
    print(f"{passed} passed, {failed} failed, {len(ps.errors)} load error(s)")
    return 1 if failed or ps.errors or not ps.files else 0


PROFILE_FILE = "rules-profile"


def cmd_profile(args: argparse.Namespace) -> int:
    """Show the profiles, or switch the running engine's profile (writes DATA_DIR/rules-profile)."""
    from pathlib import Path

    from engine.config import load_settings
    from rules.packs import load_packs
    from rules.tuning import DEFAULT_PROFILE
    settings = load_settings(args.config, data_dir=args.data_dir)
    rules_dir = Path(args.rules) if args.rules else settings.rules_dir
    path = settings.data_dir / PROFILE_FILE
    ps = load_packs(rules_dir)
    if ps.errors:
        for e in ps.errors:
            print(e, file=sys.stderr)
        print(f"the rules in {rules_dir} do not lint; fix them first (yujing rules lint)", file=sys.stderr)
        return 1
    try:
        current = path.read_text(encoding="utf-8").strip().splitlines()[0].strip() or DEFAULT_PROFILE
    except (OSError, IndexError, UnicodeDecodeError):
        current = DEFAULT_PROFILE
    if not args.name:
        for name, p in sorted(ps.profiles.items()):
            print(f"{'*' if name == current else ' '} {name}  {p.title}  {p.description[:60]}".rstrip())
        print(f"active: {current} ({path})")
        return 0
    if args.name not in ps.profiles:
        print(f"unknown rules profile {args.name!r}; known: {', '.join(sorted(ps.profiles))} "
              f"(profiles are {rules_dir}/profiles/NAME.yaml)", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(args.name + "\n", encoding="utf-8")
    tmp.replace(path)   # atomic: the engine never reads half a name
    print(f"rules profile {current} -> {args.name} written to {path}; a running engine on this "
          "data folder applies it within seconds (see its log and yujing_rule_profile_active)")
    return 0


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "shadow" if v else ""
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def table(rows: list[list], head: list[str]) -> str:
    cells = [head] + [[_fmt(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    num = [all(c[:1].isdigit() or c[:1] in "-+" for c in col[1:]) for col in zip(*cells)]
    line = lambda r: "  ".join(c.rjust(w[i]) if num[i] else c.ljust(w[i]) for i, c in enumerate(r))
    return "\n".join([line(cells[0]), "  ".join("-" * x for x in w), *map(line, cells[1:])])


def print_report(rep: dict, truth: bool) -> None:
    i = rep["input"]
    print(f"{i['records']:,} records over {i['days']:g} days in {i['seconds']}s "
          f"({i['records_per_s']:,} records/s; pipeline alone {i['pipeline_records_per_s']:,}/s)"
          + (f"; truth: {i['truth_cases']:,} cases, {i['escalations']} escalations" if truth else ""))
    q = ["precision", "recall", "median_lead_hours", "tp", "fp", "late", "later"] if truth else []
    print("\noverall (a case counts once, at its first warning at that level or above)")
    print(table([[lv, o["warned_cases"], o["warnings_per_day"], *[o.get(k) for k in q]]
                 for lv, o in rep["overall"].items()], ["level", "warned", "per_day", *q]))
    print(f"\nper rule (warned = warnings at {rep['level']}+ listing the rule; precision/recall "
          "from the rule's own hits, shadow rules included)")
    print(table([[rid, o["pack"], o["kind"], o["shadow"], o["hits"], o["hits_per_day"], o["cases_hit"],
                  o["warned_cases"], *[o.get(k) for k in q[:3]]] for rid, o in rep["rules"].items()],
                ["rule", "pack", "kind", "", "hits", "per_day", "cases", "warned", *q[:3]]))


def print_compare(cmp: dict, truth: bool) -> None:
    old, new = cmp["warned_cases"]
    print(f"\ncompare at {cmp['level']}+: {old} warned cases before, {new} after; "
          f"{cmp['appear']} appear, {cmp['disappear']} disappear")
    if cmp["rules"]:
        print(table([[rid, o["status"], f"{o['version'][0] or '-'}→{o['version'][1] or '-'}",
                      f"+{o['hits_added']}", f"-{o['hits_removed']}",
                      f"+{o['warnings_added']}", f"-{o['warnings_removed']}"]
                     for rid, o in cmp["rules"].items()],
                    ["rule", "status", "version", "hits+", "hits-", "warned+", "warned-"]))
    for name, key in (("appear", "appear_cases"), ("disappear", "disappear_cases")):
        rows = cmp[key][:20]
        if rows:
            print(f"\n{name} (first {len(rows)} of {cmp[name]}):")
            for r in rows:
                t = (f" truth {','.join(r['truth_cases']) or '-'}"
                     + (" ESCALATES" + ("" if r["before_escalation"] else " (warned after)")
                        if r["escalates"] else "")) if truth else ""
                print(f"  {r['case_id']} {r['warned_at'][:16]} {','.join(r['rules'])}{t}")


def cmd_backtest(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from engine import backtest as bt
    from streams.sources import open_source
    try:
        specs, det = bt.load_rules(args.rules, args.profile)
        old = bt.load_rules(args.compare) if args.compare else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    truth = bt.Truth.load(args.truth) if args.truth else None
    settings = None
    if args.config:   # the centre's own level cuts and fusion (yujing run's settings)
        from engine.config import load_settings
        from streams.errors import ConfigError
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            print(f"yujing backtest: {exc}", file=sys.stderr)
            return 2

    def book():
        from engine.warning_book import WarningBook
        return None if settings is None else WarningBook(settings.levels, fusion=settings.fusion)
    prog = None if args.quiet else bt.stderr_progress()
    source = open_source(args.input)
    if old is not None:   # two runs over one input: decode and link it once (a tape)
        source = bt.record_tape(source, bt.HASH_KEY, bt.BATCH, prog)
        if not args.quiet:
            print(f"backtest: {source.records:,} records decoded and linked once in "
                  f"{source.seconds:.1f}s; replaying for each rule set", file=sys.stderr)
    new_run = bt.run([det], source, bt.rule_table(specs), prog,
                     book=book())
    rep = bt.report(new_run, truth, args.level)
    print_report(rep, truth is not None)
    if old is not None:
        old_run = bt.run([old[1]], source, bt.rule_table(old[0]), prog,
                         book=book())
        rep["compare"] = bt.compare(new_run, old_run, truth, args.level)
        rep["compare"]["old"] = bt.report(old_run, truth, args.level)["overall"]
        print_compare(rep["compare"], truth is not None)
    if args.out:
        Path(args.out).write_text(json.dumps(rep, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport saved to {args.out}", file=sys.stderr)
    return 0


def add_commands(subparsers) -> None:
    """Add ``rules lint`` and ``rules test`` to the ``yujing`` command's subparsers."""
    rules = subparsers.add_parser("rules", help="lint and test rule packs (rules/packs/*.yaml)")
    sub = rules.add_subparsers(dest="rules_command", required=True)
    lint = sub.add_parser("lint", help="check rule packs; file:line:col errors, exit 1 on any")
    lint.add_argument("dir", nargs="?", help="a folder of packs or one pack file (default: the built-in packs)")
    lint.set_defaults(func=cmd_lint)
    test = sub.add_parser("test", help="run every rule's inline tests; exit 1 on any failure")
    test.add_argument("dir", nargs="?", help="a folder of packs or one pack file (default: the built-in packs)")
    test.add_argument("--rule", action="append", help="only this rule id (repeatable)")
    test.add_argument("--verbose-tests", action="store_true", help="print passing tests too")
    test.set_defaults(func=cmd_test)
    prof = sub.add_parser("profile", help="show the rules profiles (平时/战时/...) or switch a running "
                          "engine to one (writes DATA_DIR/rules-profile)")
    prof.add_argument("name", nargs="?", help="the profile to switch to (omit to list them)")
    prof.add_argument("--data-dir", help="the running engine's data folder (default: settings)")
    prof.add_argument("--rules", help="the rule folder to check NAME against (default: settings.rules_dir)")
    prof.add_argument("--config", help="YAML settings file (as for yujing run)")
    prof.set_defaults(func=cmd_profile)
    bt = subparsers.add_parser("backtest", help="replay a file through the pipeline with a rule "
                               "folder: hits, warnings/day, precision/recall, lead time")
    bt.add_argument("--rules", required=True, help="a folder of packs (or one pack file)")
    bt.add_argument("--input", required=True, help="records (.jsonl, the simulator's output)")
    bt.add_argument("--truth", help="the simulator's truth file (.truth.jsonl)")
    bt.add_argument("--profile", help="apply this rules profile (e.g. 战时) to --rules; "
                    "--compare runs under 平时, so --compare with the same folder shows what it adds")
    bt.add_argument("--compare", metavar="OLD_DIR", help="also run these rules; show what changes")
    bt.add_argument("--level", default="blue", choices=["blue", "yellow", "orange", "red"],
                    help="the level (or above) that counts as warned for per-rule figures and the diff")
    bt.add_argument("--config", help="YAML settings file (as for yujing run): its `levels` cut "
                    "points and `fusion` apply, so a centre sees its own warning volumes")
    bt.add_argument("--out", help="save the report as JSON")
    bt.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    bt.set_defaults(func=cmd_backtest)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m engine.cli_rules lint``) until the lead wires it in."""
    p = argparse.ArgumentParser(prog="yujing")
    add_commands(p.add_subparsers(dest="command", required=True))
    argv = list(argv if argv is not None else sys.argv[1:])
    args = p.parse_args(argv if argv[:1] in (["backtest"], ["rules"]) else ["rules", *argv])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
