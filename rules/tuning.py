"""Profiles (平时/战时, holidays, monthly themes) and per-region overrides, applied to rules.

A **layer** adjusts rules: per pack (``packs:``) and per rule id (``rules:``), any of the
``TUNABLE`` fields.  A **profile** is a rule-wide layer plus region layers (``overrides:``,
keyed by a region-code prefix); packs may carry **standing** region layers (their own
``overrides:``) that apply under every profile.  Exactly one profile is active.

Precedence for a record in region R (later wins, field by field): the rule as written; the
standing overrides whose prefix starts R, least specific first; the profile's rule-wide
layer; the profile's overrides whose prefix starts R, least specific first.  In each layer
the pack's settings come before the rule's.  ``score`` may be a number or a factor
``"x1.3"`` (multiplies the score so far, capped at 1).

Everything is precomputed per rule when a profile is applied: the rule-wide spec and a small
table prefix → spec (``Variants``); a record costs one dict lookup per prefix length.

>>> from rules.kinds import RuleSpec
>>> s = RuleSpec(id="r", version=1, title="t", pack="p", kind="threshold", score=0.2,
...              streams=("call",), count=3)
>>> prof = Profile("战时", top=Layer(rules={"r": {"score": ("x", 1.5)}}),
...                regions={"629901": Layer(rules={"r": {"count": 2}})})
>>> base, v = tune(s, Tuning(prof))
>>> base.score, base.count, v.pick("629901001002").count, v.pick("620102003004").count
(0.3, 3, 2, 3)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .kinds_base import RuleSpec

DEFAULT_PROFILE = "平时"
PREFIX_LENGTHS = (2, 4, 6, 9, 12)   # 省, 市, 区县, 街道, 社区
TUNABLE = ("score", "enabled", "shadow", "suppress", "count", "window", "factor", "floor", "baseline")
PACK_TUNABLE = ("score", "enabled", "shadow", "suppress")
APPLIES = {"count": ("threshold", "spike"), "window": ("threshold", "sequence", "absence"),
           "factor": ("spike",), "floor": ("spike",), "baseline": ("spike",)}


@dataclass
class Layer:
    """Adjustments: pack name -> {field: value}, rule id -> {field: value}."""

    packs: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str = ""

    def touches(self, spec: RuleSpec) -> bool:
        return spec.pack in self.packs or spec.id in self.rules

    def adjustments(self, spec: RuleSpec) -> list[dict[str, Any]]:
        return [a for a in (self.packs.get(spec.pack), self.rules.get(spec.id)) if a]


@dataclass
class Profile:
    name: str = DEFAULT_PROFILE
    title: str = ""
    description: str = ""
    file: str = ""
    top: Layer = field(default_factory=Layer)
    regions: dict[str, Layer] = field(default_factory=dict)
    tests: list = field(default_factory=list)


@dataclass
class Tuning:
    """The active profile and the packs' standing region overrides."""

    profile: Profile = field(default_factory=Profile)
    standing: dict[str, Layer] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.profile.name


class Variants:
    """A rule's spec per region prefix; ``pick(region_code)`` → the most specific one."""

    __slots__ = ("base", "table", "lengths", "sweep")

    def __init__(self, base: RuleSpec, table: dict[str, RuleSpec]):
        self.base, self.table = base, table
        self.lengths = tuple(sorted({len(p) for p in table}, reverse=True))
        every = [base, *table.values()]
        # state is shared by the variants: sweep it with the widest window and suppression
        self.sweep = replace(base, window=max(s.window for s in every),
                             suppress=max(s.suppress for s in every))

    def pick(self, region: str) -> RuleSpec:
        table = self.table
        for n in self.lengths:
            s = table.get(region[:n])
            if s is not None:
                return s
        return self.base

    @property
    def enabled(self) -> bool:
        return self.base.enabled or any(s.enabled for s in self.table.values())


def _apply(spec: RuleSpec, layers: list[Layer], profile: str, prefix: str) -> RuleSpec:
    vals: dict[str, Any] = {}
    score = spec.score
    for layer in layers:
        for adj in layer.adjustments(spec):
            for k, v in adj.items():
                if k == "score":
                    score = min(1.0, score * v[1]) if isinstance(v, tuple) else float(v)
                elif k not in APPLIES or spec.kind in APPLIES[k]:
                    vals[k] = v
    return replace(spec, **vals, score=round(score, 4), profile=profile, region=prefix)


def tune(spec: RuleSpec, tuning: Tuning | None) -> tuple[RuleSpec, Variants | None]:
    """The rule-wide spec under ``tuning`` and, if region layers touch it, its ``Variants``."""
    if tuning is None:
        return spec, None
    prof = tuning.profile
    base = _apply(spec, [prof.top], prof.name, "")
    prefixes = {p for p, lay in tuning.standing.items() if lay.touches(spec)}
    prefixes |= {p for p, lay in prof.regions.items() if lay.touches(spec)}
    if not prefixes:
        return base, None
    table = {}
    for p in prefixes:
        layers = [tuning.standing[q] for q in sorted(tuning.standing, key=len) if p.startswith(q)]
        layers.append(prof.top)
        layers += [prof.regions[q] for q in sorted(prof.regions, key=len) if p.startswith(q)]
        table[p] = _apply(spec, layers, prof.name, p)
    return base, Variants(base, table)
