"""``yujing rules lint [DIR]`` and ``yujing rules test [DIR]``: the analysts' commands.

Both exit 0 when all is well and 1 otherwise (for CI); errors print as ``file:line:col: message``.
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
          f"{len(ps.lexicons)} 词库, {len(ps.errors)} error(s)")
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
    print(f"{passed} passed, {failed} failed, {len(ps.errors)} load error(s)")
    return 1 if failed or ps.errors or not ps.files else 0


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


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m engine.cli_rules lint``) until the lead wires it in."""
    p = argparse.ArgumentParser(prog="yujing")
    add_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["rules", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
