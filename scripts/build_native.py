"""Compile the hot modules (``streams.native.NATIVE_MODULES``) with mypyc into build/native/.

    python scripts/build_native.py [--out build/native]

``make setup`` runs it (about a minute; needs gcc and the Python headers, both on a stock
machine). The sources are not touched: the compiled modules are used only while the manifest
written here matches them (see streams/native.py). Exit status 1 with the compiler's message
when the build fails; the engine then runs the same code as plain Python, slower.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.native import GROUP, NATIVE_MODULES, build_dir, digest, interpreter, source_of  # noqa: E402


def build(out: Path) -> dict:
    from mypy.version import __version__ as mypy_version
    from mypyc.build import mypycify
    from setuptools import Distribution

    # the digests first: a source edited while this runs leaves a manifest that does not match
    sources = {m: digest(source_of(m)) for m in NATIVE_MODULES}
    paths = [str(source_of(m).relative_to(ROOT)) for m in NATIVE_MODULES]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yujing-native-", dir=out.parent) as tmp:
        t = Path(tmp)
        os.chdir(ROOT)   # mypyc names modules by their path from here (graph/linker.py -> graph.linker)
        # (errors in the modules they import, which stay plain Python, are not the build's)
        exts = mypycify([*paths, "--follow-imports=silent"], opt_level="3", group_name=GROUP, target_dir=str(t / "c"))
        dist = Distribution({"name": "yujing-native", "ext_modules": exts})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib, cmd.build_temp = str(t / "lib"), str(t / "obj")
        cmd.parallel = os.cpu_count() or 1
        dist.run_command("build_ext")
        manifest = {"interpreter": interpreter(), "mypy": mypy_version, "sources": sources,
                    "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (t / "lib" / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        (t / "lib").rename(out)
    return manifest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=build_dir())
    args = ap.parse_args()
    t = time.monotonic()
    print(f"build_native: compiling {', '.join(NATIVE_MODULES)} with mypyc ...", file=sys.stderr)
    try:
        m = build(args.out.resolve())
    except (Exception, SystemExit) as exc:   # mypyc reports type errors by SystemExit
        print(f"build_native: FAILED ({type(exc).__name__}: {exc}); yujing will run these "
              f"modules as plain Python", file=sys.stderr)
        return 1
    print(f"build_native: done in {time.monotonic() - t:.0f} s -> {args.out} "
          f"(mypyc {m['mypy']}, {m['interpreter']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
