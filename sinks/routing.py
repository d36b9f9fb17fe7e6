"""Routing policy: which centre gets which warning, and which departments a dispute goes to.

"分级负责、归口调处": a warning goes to the centres of the levels its colour names, each found
by cutting the warning's 12-digit region code to that level (``streams.ident.region_prefixes``);
an SLA breach (督办) goes one level above the highest of them. "中心摇铃,部门报到": the
dispute kind suggests the departments for 分流. The policy is a YAML file (the default is
sinks/routing.yaml, package data); a bad one is a ``ConfigError`` naming the file and the line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.codes import DisputeKind, Level
from streams.errors import ConfigError
from streams.ident import region_prefixes

# the default ships inside the package, so `pip install .` alone gives a working engine
DEFAULT_POLICY = Path(__file__).resolve().parent / "routing.yaml"
CENTRE_LEVELS = ("province", "city", "district", "subdistrict", "community")
LEVEL_NAMES = {"省": "province", "市": "city", "区县": "district", "街道": "subdistrict",
               "乡镇": "subdistrict", "社区": "community", "村": "community"}
COLOUR_NAMES = {"红": "red", "橙": "orange", "黄": "yellow", "蓝": "blue"}
LEVEL_LABELS = {"province": "省级", "city": "市级", "district": "区县", "subdistrict": "街道",
                "community": "社区"}


@dataclass(frozen=True)
class Centre:
    """A 综治中心: its level and its region code (the 12-digit code of its area)."""

    level: str
    region_code: str

    @property
    def label(self) -> str:
        return f"{LEVEL_LABELS[self.level]}综治中心({self.region_code})"


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    secret: str
    centre: str    # region code of the centre whose system this is


@dataclass
class Policy:
    levels: dict[str, tuple[str, ...]]                 # colour -> centre levels
    units: tuple[str, ...]                             # departments one may dispatch to
    departments: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dispute kind -> units
    webhooks: tuple[Webhook, ...] = ()
    sla: dict[str, float] = field(default_factory=dict)  # colour -> seconds to 签收 (wall clock)

    def centres(self, level: str, region_code: str) -> list[Centre]:
        """The centres that receive a warning of colour ``level`` in ``region_code``."""
        chain = region_prefixes(region_code)  # province .. the code's own level
        out = []
        for name in self.levels.get(level, ()):
            depth = CENTRE_LEVELS.index(name)
            if depth < len(chain):  # a district-level code has no 社区 to send to
                out.append(Centre(name, chain[depth]))
        return out

    def escalation(self, level: str, region_code: str) -> list[Centre]:
        """督办: the centre one level above the highest one that received the warning."""
        got = self.centres(level, region_code)
        if not got:
            return []
        top = min(CENTRE_LEVELS.index(c.level) for c in got)
        if top == 0:
            return []  # the province is the top: nobody above to escalate to
        return [Centre(CENTRE_LEVELS[top - 1], region_prefixes(region_code)[top - 1])]

    def suggest(self, dispute_kind: str | None) -> list[str]:
        """Departments for 分流, most competent first; the default row when the kind has none."""
        return list(self.departments.get(dispute_kind or "", self.departments.get("default", ())))

    def webhooks_for(self, centres: list[Centre]) -> list[Webhook]:
        codes = {c.region_code for c in centres}
        return [w for w in self.webhooks if w.centre in codes]


# ---- loading, with line numbers -------------------------------------------------------------

def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


class _Doc:
    """The YAML tree with each node's line, so every complaint can say where."""

    def __init__(self, path: str, text: str):
        self.path = path
        try:
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=path,
                              line=mark.line + 1 if mark else None) from None

    def fail(self, node: yaml.Node | None, msg: str) -> ConfigError:
        return ConfigError(msg, file=self.path, line=node.start_mark.line + 1 if node else None)

    def mapping(self, node: yaml.Node | None, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        return node.value

    def strings(self, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str]]:
        items = node.value if isinstance(node, yaml.SequenceNode) else None
        if items is None or not all(isinstance(n, yaml.ScalarNode) for n in items):
            raise self.fail(node, f"{what} must be a list of names")
        return [(n, str(n.value).strip()) for n in items]


def _level_name(doc: _Doc, node: yaml.Node, value: str) -> str:
    name = LEVEL_NAMES.get(value, value)
    if name not in CENTRE_LEVELS:
        raise doc.fail(node, f"unknown centre level {value!r} (one of {', '.join(CENTRE_LEVELS)} "
                             f"or {', '.join(LEVEL_NAMES)})")
    return name


def parse(text: str, path: str = "<routing>") -> Policy:
    doc = _Doc(path, text)
    top = {k.value: (k, v) for k, v in doc.mapping(doc.root, "the routing policy")}
    for key, (k, _) in top.items():
        if key not in ("levels", "units", "departments", "webhooks", "sla"):
            raise doc.fail(k, f"unknown key {key!r} (levels, units, departments, webhooks, sla)")
    if "levels" not in top or "units" not in top:
        raise doc.fail(doc.root, "the routing policy needs 'levels' and 'units'")
    levels: dict[str, tuple[str, ...]] = {}
    for k, v in doc.mapping(top["levels"][1], "levels"):
        colour = COLOUR_NAMES.get(k.value, k.value)
        if colour not in {lv.value for lv in Level}:
            raise doc.fail(k, f"unknown warning level {k.value!r} (red/orange/yellow/blue or 红橙黄蓝)")
        levels[colour] = tuple(_level_name(doc, n, s) for n, s in doc.strings(v, f"levels.{k.value}"))
    units_nodes = doc.strings(top["units"][1], "units")
    units = tuple(s for _, s in units_nodes)
    for n, s in units_nodes:
        if not s:
            raise doc.fail(n, "a unit name may not be empty")
    departments: dict[str, tuple[str, ...]] = {}
    kinds = {k.value for k in DisputeKind} | {"default"}
    if "departments" in top:
        for k, v in doc.mapping(top["departments"][1], "departments"):
            if k.value not in kinds:
                raise doc.fail(k, f"unknown dispute kind {k.value!r} (one of {', '.join(sorted(kinds))})")
            names = doc.strings(v, f"departments.{k.value}")
            for n, s in names:
                if s not in units:
                    raise doc.fail(n, f"department {s!r} is not in units")
            departments[k.value] = tuple(s for _, s in names)
    hooks = []
    if "webhooks" in top:
        node = top["webhooks"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise doc.fail(node, "webhooks must be a list")
        for item in node.value:
            fields = {k.value: (k, v) for k, v in doc.mapping(item, "a webhook")}
            for need in ("name", "url", "secret", "centre"):
                if need not in fields:
                    raise doc.fail(item, f"a webhook needs {need!r}")
            vals = {f: str(_construct(v)) for f, (_, v) in fields.items()}
            if vals["secret"].startswith("env:"):  # keep secrets out of the file
                var = vals["secret"][4:]
                if var not in os.environ:
                    raise doc.fail(fields["secret"][1], f"environment variable {var} is not set")
                vals["secret"] = os.environ[var]
            if not vals["url"].startswith(("http://", "https://")):
                raise doc.fail(fields["url"][1], "webhook url must start with http:// or https://")
            if not (vals["centre"].isdigit() and len(vals["centre"]) == 12):
                raise doc.fail(fields["centre"][1], "webhook centre must be a 12-digit region code")
            if len(vals["secret"]) < 16:
                raise doc.fail(fields["secret"][1], "webhook secret must be at least 16 characters")
            hooks.append(Webhook(vals["name"], vals["url"], vals["secret"], vals["centre"]))
    sla: dict[str, float] = {}
    if "sla" in top:
        for k, v in doc.mapping(top["sla"][1], "sla"):
            colour = COLOUR_NAMES.get(k.value, k.value)
            if colour not in {lv.value for lv in Level}:
                raise doc.fail(k, f"unknown warning level {k.value!r} (red/orange/yellow/blue or 红橙黄蓝)")
            sla[colour] = _duration(doc, v)
    return Policy(levels, units, departments, tuple(hooks), sla)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(doc: _Doc, node: yaml.Node) -> float:
    """``90`` (seconds), ``30s``, ``10m``, ``2h``, ``1d``."""
    raw = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
    num, unit = (raw[:-1], raw[-1]) if raw[-1:] in _UNITS else (raw, "s")
    try:
        secs = float(num) * _UNITS[unit]
    except ValueError:
        secs = -1
    if not secs > 0:
        raise doc.fail(node, f"bad duration {raw!r}: a positive number with s, m, h or d (10m, 2h)")
    return secs


def load(path: str | Path | None = None) -> Policy:
    p = Path(path) if path else DEFAULT_POLICY
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("routing policy not found", file=str(p)) from None
    return parse(text, str(p))
