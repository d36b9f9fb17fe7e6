"""Compiled hot paths: the same Python source, compiled to C by mypyc, used only while fresh.

The case linker, the rule engine and the warning book (``NATIVE_MODULES``) are plain Python,
and stay the source of truth. ``make setup`` also compiles them with mypyc
(``scripts/build_native.py``) into ``build/native/``, beside a manifest of the SHA-256 of every
source it compiled. A package listed here calls ``activate`` from its ``__init__``; when the
manifest matches the sources and this interpreter, the package's ``__path__`` gains the compiled
folder first and its modules import compiled (the linker at 1 M people ~1.45x, a backtest
replay ~1.2-1.4x: README, "Compiled hot paths").
Anything else (no build, a source edited since, another Python, ``YUJING_PURE=1``) imports the
pure source: a stale build can never shadow an edit.

Compiled code checks the annotated types at run time (a function annotated ``-> str`` that
returns None raises ``TypeError``) and its classes take no interpreted subclass and have no
``__dict__``: the compiled modules are written to allow that, and the whole test suite runs
against them (tests/test_native.py checks that it does, and runs their doctests from source).

>>> status()["mode"] in ("native", "pure")
True
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, MutableSequence

ROOT = Path(__file__).resolve().parents[1]
NATIVE_MODULES = ("graph.cases", "graph.entities", "graph.normalize", "graph.linker",
                  "rules.kinds_base", "rules.kinds_timed", "rules.detector", "rules.lang.names",
                  "rules.lang.compiler", "engine.warning_book")
GROUP = "yujing_native"   # mypyc's shared library: ``yujing_native__mypyc``
REBUILD = "make setup or `yujing native build`"   # (a checkout, or an installed package)


def build_dir() -> Path:
    return Path(os.environ.get("YUJING_NATIVE_DIR") or ROOT / "build" / "native")


def source_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def interpreter() -> str:
    """What a build is only good for: this Python's version and extension ABI."""
    return f"{sys.implementation.cache_tag} {sys.version.split()[0]} {sys.platform}"


@lru_cache(maxsize=1)
def _check() -> tuple[str, str]:
    """(mode, why): ``native`` when the build matches every source, else ``pure`` and why."""
    if os.environ.get("YUJING_PURE"):
        return "pure", "YUJING_PURE is set"
    manifest = build_dir() / "manifest.json"
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "pure", f"no compiled build ({manifest} is missing: {REBUILD} builds it)"
    except (OSError, ValueError) as exc:
        return "pure", f"unreadable {manifest}: {exc}"
    if m.get("interpreter") != interpreter():
        return "pure", f"built for {m.get('interpreter')}, running {interpreter()}"
    built = m.get("sources", {})
    for mod in NATIVE_MODULES:
        if built.get(mod) != digest(source_of(mod)):
            return "pure", f"{source_of(mod).relative_to(ROOT)} changed since the build ({REBUILD} rebuilds)"
    if _library() is None:
        return "pure", f"{build_dir()} has no {GROUP}__mypyc library ({REBUILD} rebuilds it)"
    return "native", f"compiled by mypyc {m.get('mypy', '?')} in {build_dir()}"


def activate(package: str, path: MutableSequence[str]) -> bool:
    """Put the compiled modules of ``package`` first on its ``__path__`` when the build is fresh."""
    mode, _ = _check()
    if mode != "native" or not any(m.rpartition(".")[0] == package for m in NATIVE_MODULES):
        return False
    _load_library()
    folder = str(build_dir() / package.replace(".", "/"))
    if folder not in path:
        path.insert(0, folder)
    return True


def _load_library() -> None:
    """Load the modules' shared library (``GROUP__mypyc``, which each compiled module imports)
    by its path.  Not by putting build/native on ``sys.path``: its folders (graph/, rules/...)
    would then be found as namespace packages before the editable install's finder is asked,
    and ``import graph`` from another directory would miss the sources."""
    name, lib = f"{GROUP}__mypyc", _library()
    if name in sys.modules or lib is None:   # (None: ``_check`` said pure already)
        return
    spec = importlib.util.spec_from_file_location(name, lib)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def _library() -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        lib = build_dir() / f"{GROUP}__mypyc{suffix}"
        if lib.exists():
            return lib
    return None


def compiled() -> bool:
    """Whether this process runs the compiled modules (the gauge, results files, the suite)."""
    return _check()[0] == "native"


def describe() -> str:
    """One line for the start-up log: which kind of linker this process runs, and why."""
    mode, why = _check()
    return why if mode == "native" else f"plain Python ({why})"


def status() -> dict[str, Any]:
    """For the start-up log and the tests: the mode, why, and where each module comes from."""
    mode, why = _check()
    where = {}
    for mod in NATIVE_MODULES:
        m = sys.modules.get(mod)
        if m is not None:
            where[mod] = "compiled" if str(getattr(m, "__file__", "")).endswith(".so") else "source"
    return {"mode": mode, "why": why, "modules": where}
