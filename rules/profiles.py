"""Load profiles (``profiles/NAME.yaml`` beside the packs) and ``overrides:`` sections; lint
them with ``file:line:col`` (unknown rule or pack, unknown field, a field that does not apply
to the rule's kind, bad values, bad region prefixes).  The model is in ``rules.tuning``.

A profile file::

    profile: 战时                       # optional; must be the file's name
    title: 战时(重大活动安保期间)
    description: 降低民转刑、群体性规则阈值,提高权重。
    packs:   {qun_ti_xing: {score: x1.5}}
    rules:   {repeat_contact: {count: 2}, key_person_near_school: {shadow: false}}
    overrides:
      - region: "629901"                # 区县 prefix (2, 4, 6, 9 or 12 digits, quoted)
        rules: {threat_words: {suppress: 1h}}
    tests:                              # run by `yujing rules test` with the profile applied
      - {rule: repeat_contact, records: [{at: 0h}, {at: 1h}], fire: true}
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .kinds_base import RuleSpec
from .lang.errors import RuleError
from .tuning import APPLIES, DEFAULT_PROFILE, PACK_TUNABLE, PREFIX_LENGTHS, TUNABLE, Layer, Profile
from .yamlsrc import MDict, MList, Source

PROFILE_KEYS = ("profile", "title", "description", "owner", "note", "packs", "rules", "overrides", "tests")
OVERRIDE_KEYS = ("region", "note", "packs", "rules")
MAX_PROFILES = 50
MAX_OVERRIDES = 500
_NAME = re.compile(r"^[^\s/\\.][^\s/\\]{0,39}$")
_MULT = re.compile(r"^\s*[x×*]\s*(\d+(?:\.\d+)?)\s*$")


class Known:
    """The rule ids and pack names profiles and overrides may name."""

    def __init__(self, specs: list[RuleSpec]):
        self.rules = {s.id: s for s in specs}
        self.packs = {s.pack for s in specs}


def _where(m: MDict, k: str) -> Any:
    return getattr(m, "knodes", {}).get(k) or m.nodes.get(k) or m.node


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _value(src: Source, k: str, v: Any, node: Any) -> Any:
    """One adjustment's value, checked as in a pack (score may be a factor ``x1.3``)."""
    bad = isinstance(v, bool) and k not in ("enabled", "shadow")
    if k == "score":
        m = _MULT.match(v) if isinstance(v, str) else None
        if m and 0 < float(m.group(1)) <= 10:
            return ("x", float(m.group(1)))
        if bad or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise src.error(node, "score: a number in (0, 1] or a factor like x1.3 (at most x10)")
        return float(v)
    if k in ("enabled", "shadow"):
        if not isinstance(v, bool):
            raise src.error(node, f"{k}: true or false")
        return v
    if k in ("suppress", "window"):
        if k == "suppress" and v in (0, "0"):
            return 0.0
        try:
            return parse_duration(v)
        except ValueError as exc:
            raise src.error(node, f"{k}: {exc}") from None
    lo, hi, integer = {"count": (1, 100000, True), "baseline": (1, 90, True),
                       "factor": (1.0, 100.0, False), "floor": (0.0, 100000.0, False)}[k]
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if bad or not ok or not lo <= v <= hi:
        raise src.error(node, f"{k}: a {'whole ' if integer else ''}number from {lo} to {hi}")
    return v


def _adjust(src: Source, m: Any, node: Any, fields: tuple[str, ...], what: str,
            spec: RuleSpec | None, errors: list[RuleError]) -> dict[str, Any]:
    if not isinstance(m, MDict):
        errors.append(src.error(node, f"{what}: a mapping of field to value, e.g. {{score: 0.5}}"))
        return {}
    out: dict[str, Any] = {}
    for k, v in m.items():
        try:
            if k not in fields:
                raise src.error(_where(m, k), f"unknown field {k!r} for {what} (fields: {', '.join(fields)})")
            if spec is not None and k in APPLIES and spec.kind not in APPLIES[k]:
                raise src.error(_where(m, k), f"{k}: does not apply to {spec.id}, a {spec.kind} rule")
            out[k] = _value(src, k, v, m.nodes[k])
            if k == "count" and spec is not None and spec.kind == "threshold" and v < 2:
                raise src.error(m.nodes[k], "count: a threshold rule needs at least 2")
        except RuleError as exc:
            errors.append(exc)
    return out


def parse_layer(src: Source, m: MDict, known: Known, errors: list[RuleError]) -> Layer:
    """``packs:`` and ``rules:`` of a profile or of one override."""
    layer = Layer(note=str(m.get("note", "") or ""))
    for part, names in (("packs", known.packs), ("rules", known.rules)):
        sect = m.get(part)
        if sect is None:
            continue
        if not isinstance(sect, MDict):
            errors.append(src.error(m.nodes[part], f"{part}: a mapping of {part[:-1]} to its settings"))
            continue
        for name, adj in sect.items():
            if name not in names:
                errors.append(src.error(_where(sect, name), f"unknown {part[:-1]} {name!r}{_hint(name, names)}"))
                continue
            spec = known.rules.get(name) if part == "rules" else None
            fields = TUNABLE if part == "rules" else PACK_TUNABLE
            got = _adjust(src, adj, sect.nodes[name], fields, f"{part[:-1]} {name}", spec, errors)
            getattr(layer, part)[name] = got
    return layer


def parse_overrides(src: Source, lst: Any, node: Any, known: Known,
                    errors: list[RuleError]) -> dict[str, Layer]:
    """An ``overrides:`` list: ``- region: "629901"`` with ``packs:``/``rules:``."""
    out: dict[str, Layer] = {}
    if not isinstance(lst, MList):
        errors.append(src.error(node, "overrides: a list of {region: \"629901\", rules: {...}}"))
        return out
    if len(lst) > MAX_OVERRIDES:
        errors.append(src.error(node, f"more than {MAX_OVERRIDES} overrides"))
        return out
    for i, o in enumerate(lst):
        if not isinstance(o, MDict):
            errors.append(src.error(lst.nodes[i], "an override is a mapping: region:, rules: and/or packs:"))
            continue
        unknown = [k for k in o if k not in OVERRIDE_KEYS]
        for k in unknown:
            errors.append(src.error(_where(o, k), f"unknown override field {k!r} (fields: {', '.join(OVERRIDE_KEYS)})"))
        p = o.get("region")
        if not isinstance(p, str) or not p.isdigit() or len(p) not in PREFIX_LENGTHS or not p.isascii():
            errors.append(src.error(o.nodes.get("region", o.node),
                                    "region: a quoted region-code prefix of 2, 4, 6, 9 or 12 digits "
                                    "(区县 6, 街道 9, 社区 12), e.g. \"629901\""))
            continue
        if p in out:
            errors.append(src.error(o.nodes["region"], f"region {p} already has an override in this list"))
            continue
        out[p] = parse_layer(src, o, known, errors)
    return out


def load_profile(path: Path, known: Known, errors: list[RuleError]) -> Profile | None:
    name = path.stem
    try:
        src = Source(str(path), path.read_text(encoding="utf-8"))
        doc = src.load()
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(RuleError(str(path), 1, 1, f"cannot read: {exc}"))
        return None
    except RuleError as exc:
        errors.append(exc)
        return None
    if not _NAME.match(name):
        errors.append(RuleError(str(path), 1, 1, "a profile's file name is its name: up to 40 characters, no spaces"))
        return None
    if not isinstance(doc, MDict):
        errors.append(src.error(getattr(doc, "node", None), "a profile is a mapping with title: and rules:/packs:"))
        return None
    n0 = len(errors)
    for k in doc:
        if k not in PROFILE_KEYS:
            errors.append(src.error(_where(doc, k), f"unknown profile field {k!r} (fields: {', '.join(PROFILE_KEYS)})"))
    if "profile" in doc and doc["profile"] != name:
        errors.append(src.error(doc.nodes["profile"], f"profile: {doc['profile']!r} differs from the file name {name!r}"))
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        errors.append(src.error(_where(doc, "title"), "title: is required (in Chinese)"))
    prof = Profile(name=name, title=str(doc.get("title") or name), description=str(doc.get("description") or ""),
                   file=str(path), top=parse_layer(src, doc, known, errors))
    if "overrides" in doc:
        prof.regions = parse_overrides(src, doc["overrides"], doc.nodes["overrides"], known, errors)
    tests = doc.get("tests") or MList()
    if not isinstance(tests, MList):
        errors.append(src.error(doc.nodes["tests"], "tests: a list of {rule: ID, records: [...], fire: true/false}"))
        tests = MList()
    for i, t in enumerate(tests):
        if not isinstance(t, MDict) or not isinstance(t.get("records"), MList):
            errors.append(src.error(tests.nodes[i], "a test is a mapping with rule:, records: [...] and fire:/fires:"))
        elif t.get("rule") not in known.rules:
            errors.append(src.error(t.nodes.get("rule", t.node),
                                    f"test rule: unknown rule {t.get('rule')!r}{_hint(str(t.get('rule')), known.rules)}"))
        elif not isinstance(t.get("fire"), bool) and not isinstance(t.get("fires"), int):
            errors.append(src.error(tests.nodes[i], "a test says fire: true/false or fires: N"))
    prof.tests = list(tests)
    return prof if len(errors) == n0 else None


def load_profiles(directory: Path, specs: list[RuleSpec], errors: list[RuleError]) -> dict[str, Profile]:
    """Every ``profiles/*.yaml`` of a pack folder; ``平时`` exists (empty) if not written."""
    known = Known(specs)
    out: dict[str, Profile] = {}
    d = directory / "profiles"
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")]) if d.is_dir() else []
    if len(files) > MAX_PROFILES:
        errors.append(RuleError(str(d), 1, 1, f"more than {MAX_PROFILES} profiles"))
        files = files[:MAX_PROFILES]
    for f in files:
        p = load_profile(f, known, errors)
        if p is not None:
            out[p.name] = p
    out.setdefault(DEFAULT_PROFILE, Profile(DEFAULT_PROFILE, title="平时(常态)"))
    return out
