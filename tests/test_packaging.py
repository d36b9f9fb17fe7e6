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

import pytest

from streams import native
from streams.native_build import PACKAGES   # (our top-level packages)

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_package_list_is_pyprojects():
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(p.rstrip("*") for p in found["find"]["include"]) == sorted(PACKAGES)


# modules that serve an optional extra, and import its packages only when used
EXTRA_OF = {"streams/native_build.py": "native"}


def test_every_runtime_import_is_a_declared_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _closure([_name(d) for d in project["dependencies"]])
    dists = metadata.packages_distributions()
    missing = {}
    for mod, where in _imports().items():
        if mod in sys.stdlib_module_names or mod in PACKAGES or mod == "__future__":
            continue
        owners = {_name(d) for d in dists.get(mod, [])}
        assert owners, f"{mod} (imported by {where}) is not installed at all"
        extra = EXTRA_OF.get(where)
        allowed = installed | (_closure([_name(d) for d in project["optional-dependencies"][extra]])
                               if extra else set())
        if not owners & allowed:
            missing[mod] = (where, sorted(owners))
    assert not missing, f"imported but not installed by `pip install .`: {missing}"


PROBE = """
import json, graph.linker, rules.detector, engine.warning_book
from streams import native
print(json.dumps({"root": str(native.ROOT), "linker": graph.linker.__file__, **native.status()}))
"""


def test_an_installed_copy_uses_a_build_kept_apart(tmp_path: Path):
    """The image's layout: the packages in site-packages, the build in /opt/yujing/native."""
    if not (native.build_dir() / "manifest.json").exists():
        pytest.fail(f"no compiled build in {native.build_dir()}: run `make setup`")
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


def _cli(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    code = "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=site.parent, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(site), **env})


def test_yujing_native_builds_an_installed_copy_and_says_which_code_runs(tmp_path: Path):
    """What a `pip install '.[native]'` user (and the image's compile stage) runs: the build
    compiles the installed sources (not the repository's), and `yujing native` reports it."""
    site = tmp_path / "site-packages"
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, site / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    import typing_extensions   # site-packages holds it beside our packages: mypy must not take it for ours
    shutil.copy(typing_extensions.__file__, site)
    out = tmp_path / "native"
    env = {"YUJING_NATIVE_DIR": str(out)}
    before = json.loads(_cli(site, "native", **env).stdout)
    assert before["mode"] == "pure" and "yujing native build" in before["why"]
    res = _cli(site, "native", "build", **env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "gcc " not in res.stderr   # (the compiler's command lines stay out of the way)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"]["graph.linker"] == native.digest(site / "graph" / "linker.py")
    after = json.loads(_cli(site, "native", "status", **env).stdout)
    assert after["mode"] == "native" and set(after["modules"].values()) == {"compiled"}, after
    # without mypy: a clear error naming the extra, exit 1, the old build left as it was
    res = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['mypy'] = None; from engine.cli import main; "
         "sys.exit(main(['native', 'build']))"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONPATH": str(site), **env})
    assert res.returncode == 1 and "yujing[native]" in res.stderr, res.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_the_image_compiles_in_a_stage_of_its_own_and_points_the_engine_at_it():
    text = (ROOT / "Dockerfile").read_text()
    stages = {}
    for part in text.split("\nFROM ")[1:]:
        head, _, body = part.partition("\n")
        stages[head.split(" AS ")[-1] if " AS " in head else "image"] = (head, body)
    assert set(stages) == {"sources", "native", "image"}, list(stages)
    head, native_stage = stages["native"]
    assert head.startswith("sources AS") and "gcc" in native_stage
    assert "yujing native build --out /native" in native_stage   # (of the installed copy)
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


def _tracked(*paths: str) -> list[str]:
    res = subprocess.run(["git", "ls-files", "-z", *paths], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, f"the suite runs in a git checkout: {res.stderr}"
    return [f for f in res.stdout.split("\0") if f]


def test_the_wheel_carries_every_file_of_the_packages(tmp_path: Path):
    """What `pip install .` installs is the wheel: a console page, a pack profile or a lexicon the
    package-data patterns in pyproject.toml miss would be absent from every installed engine."""
    import zipfile
    src = tmp_path / "src"
    files = _tracked(*PACKAGES)
    for f in [*files, "pyproject.toml", "README.md"]:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path / "out"), str(src)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (wheel,) = (tmp_path / "out").glob("yujing-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(f.endswith(".yaml") and "/profiles/" in f for f in files)   # (Chinese file names too)
    assert [f for f in files if f not in names] == []
