"""Compile ``streams.native.NATIVE_MODULES`` with mypyc: what ``make setup``
(scripts/build_native.py) and ``yujing native build`` run.

It compiles the sources this process imports from (``streams.native.ROOT``: the repository, or
site-packages after ``pip install .``; a copy of them, see ``build``), so the manifest it writes
matches exactly the code that will load it. Needs mypy (the ``native`` extra), gcc and the Python headers.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .native import GROUP, NATIVE_MODULES, ROOT, digest, interpreter, source_of

# our top-level packages (pyproject.toml's packages.find; tests/test_packaging.py keeps them alike)
PACKAGES = ("streams", "graph", "rules", "learning", "sinks", "engine")


def build(out: Path) -> dict:
    """Compile into ``out`` (replaced whole at the end, so a failed build leaves the old one);
    returns the manifest. Raises whatever mypyc raises (``SystemExit`` for type errors)."""
    from mypy.version import __version__ as mypy_version
    from mypyc.build import mypycify
    from setuptools import Distribution

    out = out.resolve()
    # the digests first: a source edited while this runs leaves a manifest that does not match
    sources = {m: digest(source_of(m)) for m in NATIVE_MODULES}
    paths = [str(source_of(m).relative_to(ROOT)) for m in NATIVE_MODULES]
    out.parent.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="yujing-native-", dir=out.parent) as tmp:
        t = Path(tmp)
        # mypy reads a copy of our packages alone: run where they are installed, it took every
        # module of site-packages for ours (and refused typing_extensions.py "shadowing" the
        # library); a checkout compiles the same way
        src = t / "src"
        for pkg in PACKAGES:
            shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        os.chdir(src)    # mypyc names modules by their path from here (graph/linker.py -> graph.linker)
        try:
            # (errors in the modules they import, which stay plain Python, are not the build's)
            exts = mypycify([*paths, "--follow-imports=silent"], opt_level="3", group_name=GROUP,
                            target_dir=str(t / "c"))
            dist = Distribution({"name": "yujing-native", "ext_modules": exts})
            cmd = dist.get_command_obj("build_ext")
            cmd.build_lib, cmd.build_temp = str(t / "lib"), str(t / "obj")
            cmd.parallel = os.cpu_count() or 1
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        manifest = {"interpreter": interpreter(), "mypy": mypy_version, "sources": sources,
                    "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (t / "lib" / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        (t / "lib").rename(out)
    return manifest
