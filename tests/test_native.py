"""The compiled linker (streams/native.py): in use when fresh, never when stale, and the same.

``make test`` sets ``YUJING_REQUIRE_NATIVE=1``: the suite then fails unless the case linker
runs compiled, so every other test exercises the compiled code.  The checks of what happens
with another build (stale, none, forced off) and of compiled against plain Python run in child
processes, since a process imports each module once.
"""
from __future__ import annotations

import doctest
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams import native

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, graph.linker
from streams import native
print(json.dumps({"file": graph.linker.__file__, **native.status()}))
"""


def probe(cwd: Path = ROOT, **env: str) -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_the_compiled_linker_is_in_use_when_the_suite_requires_it():
    import graph.linker

    st = native.status()
    compiled = graph.linker.__file__.endswith(".so")
    if os.environ.get("YUJING_REQUIRE_NATIVE"):
        assert st["mode"] == "native", f"the compiled linker is not in use: {st['why']}"
    # whatever the mode, every listed module comes from where the mode says
    assert compiled == (st["mode"] == "native")
    assert set(st["modules"].values()) <= {"compiled" if compiled else "source"}


def test_the_engine_imports_compiled_from_any_directory(tmp_path: Path):
    """As the ``yujing`` command runs: from another directory, the project found by the
    editable install's finder (not on ``sys.path``); every package stays the sources' own."""
    code = ("import json, sys, engine.app, engine.cli_kafka, rules.detector, graph.linker; "
            "print(json.dumps({m: getattr(sys.modules[m], '__file__', None) for m in "
            "('graph', 'rules', 'rules.lang', 'engine', 'graph.linker', 'rules.lang.compiler')}))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout)
    for pkg in ("graph", "rules", "rules.lang", "engine"):
        assert got[pkg] == str(ROOT / pkg.replace(".", "/") / "__init__.py"), got
    compiled = native.compiled()
    assert got["graph.linker"].endswith(".so") == compiled
    assert got["rules.lang.compiler"].endswith(".so") == compiled


@pytest.fixture()
def build_copy(tmp_path: Path) -> Path:
    """A copy of the current build to spoil (the real one stays as it is)."""
    src = native.build_dir()
    if not (src / "manifest.json").exists():
        pytest.fail(f"no compiled build in {src}: run `make setup` (scripts/build_native.py)")
    dst = tmp_path / "native"
    shutil.copytree(src, dst)
    return dst


def test_a_fresh_build_is_used_and_a_stale_one_never(build_copy: Path):
    assert probe(YUJING_NATIVE_DIR=str(build_copy))["file"].endswith(".so")
    manifest = build_copy / "manifest.json"
    m = json.loads(manifest.read_text())
    m["sources"]["graph.normalize"] = "0" * 64      # as if normalize.py were edited since
    manifest.write_text(json.dumps(m))
    got = probe(YUJING_NATIVE_DIR=str(build_copy))
    assert got["file"] == str(ROOT / "graph" / "linker.py")   # the whole group, not one module
    assert got["mode"] == "pure" and "graph/normalize.py changed since the build" in got["why"]
    m["sources"] = json.loads((native.build_dir() / "manifest.json").read_text())["sources"]
    m["interpreter"] = "cpython-399 3.99.0 linux"
    manifest.write_text(json.dumps(m))
    assert "built for cpython-399" in probe(YUJING_NATIVE_DIR=str(build_copy))["why"]


def test_no_build_or_yujing_pure_means_plain_python(tmp_path: Path):
    got = probe(YUJING_NATIVE_DIR=str(tmp_path / "none"))
    assert got["file"].endswith("graph/linker.py") and "yujing native build` builds it" in got["why"]
    got = probe(YUJING_PURE="1")
    assert got["file"].endswith("graph/linker.py") and got["modules"] == {
        "graph.cases": "source", "graph.entities": "source", "graph.normalize": "source",
        "graph.linker": "source"}   # (the probe imports the linker only)


def test_the_makefile_rebuilds_on_every_compiled_source():
    text = (ROOT / "Makefile").read_text()
    found = re.search(r"^NATIVE_SRC := \$\(wildcard ([^)]*)\)", text, re.M).group(1)
    listed = [w for w in found.split() if w != "\\"]
    assert listed == [str(native.source_of(m).relative_to(ROOT)) for m in native.NATIVE_MODULES]


def test_the_compiled_modules_doctests_pass_from_source():
    """(pytest cannot collect them from a compiled module: conftest.py leaves them to this)"""
    attempted = 0
    for mod in native.NATIVE_MODULES:
        pkg, _, name = mod.rpartition(".")
        alias = f"{pkg}._doctest_{name}"        # relative imports resolve in the package
        spec = importlib.util.spec_from_file_location(alias, native.source_of(mod))
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module            # (dataclasses look their module up)
        try:
            spec.loader.exec_module(module)
            res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        finally:
            del sys.modules[alias]
        assert res.failed == 0, f"{mod}: {res.failed} doctest(s) failed"
        attempted += res.attempted
    assert attempted >= 10


LINK = """
import hashlib, json, pickle, sys
from engine.pipeline import Pipeline
from engine.warning_book import WarningBook
from streams.privacy import Hasher
from streams.sources import open_source
import graph.linker

city, snap, step = sys.argv[1:4]
items = list(open_source(city))
half = len(items) // 2
pipe = Pipeline(Hasher(b"k" * 32), [], WarningBook())
if step == "rest":
    pipe.linker.restore(pickle.loads(open(snap, "rb").read()))
    items = items[half:]
seen = []
for i in range(0, len(items), 500):
    out = pipe.process(items[i:i + 500])
    seen += [sorted(out.case_of.items()), [list(m) for m in out.merges]]
    if step == "whole" and i + 500 == half:   # (half is a multiple of the batch: see the test)
        open(snap, "wb").write(pickle.dumps(pipe.linker.snapshot()))
blob = json.dumps(seen, ensure_ascii=False, default=str).encode()
print(json.dumps({"file": graph.linker.__file__, "digest": hashlib.sha256(blob).hexdigest(),
                  "records": sum(len(x) for x in seen[::2])}))
"""


def _link(city: Path, snap: Path, step: str, **env: str) -> dict:
    res = subprocess.run([sys.executable, "-c", LINK, str(city), str(snap), step], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_compiled_and_plain_python_link_alike_and_resume_each_others_snapshots(tmp_path: Path):
    from streams.simulate import SimConfig, write

    city = tmp_path / "city.jsonl"
    write(SimConfig(days=4, seed=3, noisy_names=True), city)
    lines = city.read_text(encoding="utf-8").splitlines()
    city.write_text("\n".join(lines[:len(lines) // 1000 * 1000]) + "\n", encoding="utf-8")
    pure = {"YUJING_PURE": "1"}
    snaps = {m: tmp_path / f"{m}.pkl" for m in ("native", "pure")}
    whole_n = _link(city, snaps["native"], "whole")
    whole_p = _link(city, snaps["pure"], "whole", **pure)
    assert whole_n["file"].endswith(".so") or not os.environ.get("YUJING_REQUIRE_NATIVE")
    assert whole_p["file"].endswith("linker.py")
    assert whole_n["records"] > 3000 and whole_n["digest"] == whole_p["digest"]
    # a snapshot of either kind resumes in the other exactly as in its own
    for made, env in (("native", pure), ("pure", {})):
        same = _link(city, snaps[made], "rest", **({} if env else pure))
        other = _link(city, snaps[made], "rest", **env)
        assert same["records"] > 1000 and other["digest"] == same["digest"], made


BACKTEST = """
import hashlib, json, sys
from engine import backtest as bt
from rules.packs import DEFAULT_DIR
from streams.sources import open_source
import rules.detector

specs, det = bt.load_rules(DEFAULT_DIR)
run = bt.run([det], open_source(sys.argv[1]), bt.rule_table(specs))
blob = json.dumps([run.signals, sorted(run.first.items()), sorted(run.reasons.items()),
                   sorted(run.case_of.items())], ensure_ascii=False, default=str).encode()
print(json.dumps({"file": rules.detector.__file__, "signals": len(run.signals),
                  "warned": len(run.first), "digest": hashlib.sha256(blob).hexdigest()}))
"""


def test_compiled_and_plain_python_rules_give_the_same_signals_and_warnings(tmp_path: Path):
    from streams.simulate import SimConfig, write

    city = tmp_path / "city.jsonl"
    write(SimConfig(days=10, seed=5), city)
    got = {}
    for mode, env in (("native", {}), ("pure", {"YUJING_PURE": "1"})):
        res = subprocess.run([sys.executable, "-c", BACKTEST, str(city)], cwd=ROOT,
                             capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        got[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["pure"]["file"].endswith("rules/detector.py")
    assert got["native"]["file"].endswith(".so") or not os.environ.get("YUJING_REQUIRE_NATIVE")
    assert got["native"]["signals"] > 1000 and got["native"]["warned"] > 20
    assert got["native"]["digest"] == got["pure"]["digest"]


def test_metrics_say_whether_this_process_runs_compiled():
    import graph.linker
    from engine.metrics import Metrics

    want = 1.0 if graph.linker.__file__.endswith(".so") else 0.0
    assert Metrics().registry.get_sample_value("yujing_compiled") == want
    if os.environ.get("YUJING_REQUIRE_NATIVE"):
        assert want == 1.0


def test_cases_pickle_every_field():
    """``Case``, ``LinkResult`` and ``CaseMerge`` pickle by their fields (one pickle, compiled
    or not): a field added to a class but not to its ``__reduce__`` would come back as its
    default, silently, from every snapshot."""
    import dataclasses
    import pickle
    from datetime import datetime, timezone

    from graph.cases import Case, CaseMerge, LinkResult

    def filled(cls, **given):
        # every field a value other than its default: the one it would fall back to
        values = {}
        for i, f in enumerate(dataclasses.fields(cls)):
            # (a string as written, run as Python; a class, compiled)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            values[f.name] = given.get(f.name) or (
                datetime(2026, 5, i + 1, tzinfo=timezone.utc) if "datetime" in kind
                else True if kind == "bool" else i + 7 if kind == "int"
                else [f"{f.name}-x"] if kind.startswith("list") else {f"{f.name}-x"}
                if "set" in kind.lower() else {f"{f.name}-k": f"{f.name}-v"}
                if kind.startswith("dict") else f"{f.name}-x")
        return cls(**values), values

    case, _ = filled(Case)
    for obj, values in (filled(Case), filled(CaseMerge), filled(LinkResult, case=case)):
        back = pickle.loads(pickle.dumps(obj))
        for name, value in values.items():
            got = getattr(back, name)
            assert (got.case_id == value.case_id) if name == "case" else got == value, name
