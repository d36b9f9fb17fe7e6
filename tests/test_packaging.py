"""The package as ``pip install .`` (the Docker image, a user's venv) installs it, not only as
the editable dev setup: every runtime import is a declared dependency, and a compiled build
kept outside the installed packages (``YUJING_NATIVE_DIR``, as the Dockerfile does) is used."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from streams import native

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("streams", "graph", "rules", "learning", "sinks", "engine")


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their own runtime requirements (no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        try:
            reqs = metadata.requires(n) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in reqs if "extra ==" not in r]
    return seen


def _imports() -> dict[str, str]:
    """Top-level module -> a file importing it, over the installed packages' sources."""
    found: dict[str, str] = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for m in mods:
                    found.setdefault(m.split(".")[0], str(f.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_declared_dependency():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = _closure([_name(d) for d in deps])
    dists = metadata.packages_distributions()
    missing = {}
    for mod, where in _imports().items():
        if mod in sys.stdlib_module_names or mod in PACKAGES or mod == "__future__":
            continue
        owners = {_name(d) for d in dists.get(mod, [])}
        assert owners, f"{mod} (imported by {where}) is not installed at all"
        if not owners & installed:
            missing[mod] = (where, sorted(owners))
    assert not missing, f"imported but not installed by `pip install .`: {missing}"


PROBE = """
import json, graph.linker, rules.detector, engine.warning_book
from streams import native
print(json.dumps({"root": str(native.ROOT), "linker": graph.linker.__file__, **native.status()}))
"""


def test_an_installed_copy_uses_a_build_kept_apart(tmp_path: Path):
    """The image's layout: the packages in site-packages, the build in /opt/yujing/native."""
    if native.status()["mode"] != "native":
        assert not os.environ.get("YUJING_REQUIRE_NATIVE"), native.status()["why"]
    site = tmp_path / "site-packages"
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, site / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    apart = tmp_path / "opt" / "native"
    shutil.copytree(native.build_dir(), apart)
    env = {**os.environ, "PYTHONPATH": str(site), "YUJING_NATIVE_DIR": str(apart)}
    env.pop("YUJING_PURE", None)
    res = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["root"] == str(site) and got["mode"] == "native", got
    assert got["linker"].startswith(str(apart)) and got["linker"].endswith(".so")
    # an installed copy edited after the build runs its own source, not the stale build
    (site / "rules" / "detector.py").write_text((ROOT / "rules" / "detector.py").read_text() + "\n#")
    res = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    got = json.loads(res.stdout)
    assert got["mode"] == "pure" and got["linker"] == str(site / "graph" / "linker.py"), got


def test_the_image_compiles_in_a_stage_of_its_own_and_points_the_engine_at_it():
    text = (ROOT / "Dockerfile").read_text()
    stages = {}
    for part in text.split("\nFROM ")[1:]:
        head, _, body = part.partition("\n")
        stages[head.split(" AS ")[-1] if " AS " in head else "image"] = (head, body)
    assert set(stages) == {"sources", "native", "image"}, list(stages)
    head, native_stage = stages["native"]
    assert head.startswith("sources AS") and "gcc" in native_stage
    assert "scripts/build_native.py --out /native" in native_stage
    head, final = stages["image"]
    assert head.startswith("python:3.11") and "gcc" not in final
    assert "COPY --from=sources /src ./" in final and "pip install ." in final
    assert "COPY --from=native /native /opt/yujing/native" in final
    assert dict(re.findall(r"(YUJING_[A-Z_]+)=(\S+)", final))["YUJING_NATIVE_DIR"] == "/opt/yujing/native"
    # the image installs exactly the packages (and their data) that pyproject.toml names
    copied = {line.split()[1] for line in stages["sources"][1].splitlines() if line.startswith("COPY ")}
    assert set(PACKAGES) <= copied and "deploy" in copied

def test_the_default_routing_policy_is_package_data():
    """``pip install .`` copies only the packages: a default the engine needs lives in one."""
    from sinks import routing
    assert routing.DEFAULT_POLICY.parent == ROOT / "sinks" and routing.DEFAULT_POLICY.exists()
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.yaml" in spec["*"]
    policy = routing.load(None)           # it loads as the default
    assert policy.levels["red"] and policy.units
