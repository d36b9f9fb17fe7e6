"""Compile the hot modules (``streams.native.NATIVE_MODULES``) with mypyc into build/native/.

    python scripts/build_native.py [--out build/native]

``make setup`` runs it (about a minute; needs gcc and the Python headers, both on a stock
machine). The sources are not touched: the compiled modules are used only while the manifest
written here matches them (see streams/native.py). Exit status 1 with the compiler's message
when the build fails; the engine then runs the same code as plain Python, slower.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.native import NATIVE_MODULES, build_dir  # noqa: E402
from streams.native_build import build  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=build_dir())
    args = ap.parse_args()
    t = time.monotonic()
    print(f"build_native: compiling {', '.join(NATIVE_MODULES)} with mypyc ...", file=sys.stderr)
    try:
        m = build(args.out)
    except (Exception, SystemExit) as exc:   # mypyc reports type errors by SystemExit
        print(f"build_native: FAILED ({type(exc).__name__}: {exc}); yujing will run these "
              f"modules as plain Python", file=sys.stderr)
        return 1
    print(f"build_native: done in {time.monotonic() - t:.0f} s -> {args.out} "
          f"(mypyc {m['mypy']}, {m['interpreter']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
