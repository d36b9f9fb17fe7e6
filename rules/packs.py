"""Load rule packs (``rules/packs/*.yaml``): validate, compile conditions, report errors with
``file:line:col``.  ``load_packs`` collects every error (for lint) instead of stopping at one.

>>> ps = load_packs(DEFAULT_DIR)
>>> ps.errors, len(ps.specs) >= 15
([], True)
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durations import DAY, parse_duration  # noqa: F401  (parse_duration re-exported)
from .kinds import KINDS, RuleSpec
from .lang.compiler import Condition, compile_condition
from .lang.errors import LangError, RuleError
from .lang.lexicon import Lexicon, load_dir
from .detector import KEYS, PLACEHOLDERS
from .profiles import Known, load_profiles, parse_overrides
from .tuning import DEFAULT_PROFILE, Layer, Profile, Tuning
from .yamlsrc import MDict, MList, Source

DEFAULT_DIR = Path(__file__).parent / "packs"
BUILTIN_LEXICONS = Path(__file__).parent / "lexicons"
MAX_RULES = 200            # per pack
MAX_TESTS = 50             # per rule
MAX_TEST_RECORDS = 200     # per test
MAX_STEPS = 8
STREAMS = ("grid_event", "call", "video_alert")
_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

PACK_KEYS = {"pack", "title", "description", "owner", "version", "lexicons", "defaults", "rules", "overrides"}
RULE_KEYS = {"id", "version", "title", "description", "owner", "score", "streams", "kind", "when",
             "steps", "unless", "start", "expect", "count", "distinct", "window", "bucket", "baseline",
             "factor", "floor", "key", "suppress", "enabled", "shadow", "reason", "note", "tests"}
DEFAULT_KEYS = {"owner", "streams", "key", "suppress", "shadow", "enabled"}
NEEDS = {"match": {"when"}, "threshold": {"when", "count", "window"}, "sequence": {"steps", "window"},
         "absence": {"start", "expect", "window"}, "spike": {"when"}}
ALLOWED = {"match": set(), "threshold": {"when", "count", "window", "distinct"},
           "sequence": {"steps", "window", "unless"}, "absence": {"start", "expect", "window"},
           "spike": {"when", "count", "bucket", "baseline", "factor", "floor"}}
ALL_KIND_KEYS = set().union(*ALLOWED.values()) | {"when"}


@dataclass
class PackSet:
    specs: list[RuleSpec] = field(default_factory=list)
    lexicons: dict[str, Lexicon] = field(default_factory=dict)
    errors: list[RuleError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    packs: dict[str, dict] = field(default_factory=dict)   # name -> file, version, sha (content)
    profiles: dict[str, Profile] = field(default_factory=dict)   # profiles/*.yaml (+ 平时)
    standing: dict[str, Layer] = field(default_factory=dict)     # packs' overrides: by region
    _raw_overrides: list = field(default_factory=list, repr=False)

    def tuning(self, profile: str | None = None) -> Tuning:
        """The packs' overrides and the profile ``profile`` (default 平时); an unknown name
        raises ``ValueError`` listing the known ones."""
        name = profile or DEFAULT_PROFILE
        if name not in self.profiles:
            raise ValueError(f"unknown rules profile {name!r}; known: {', '.join(sorted(self.profiles))}")
        return Tuning(self.profiles[name], self.standing)


def _lexicon_dirs(d: Path) -> list[Path]:
    return [d / "lexicons", d.parent / "lexicons", BUILTIN_LEXICONS]


def load_packs(directory: str | Path = DEFAULT_DIR) -> PackSet:
    """Every ``*.yaml``/``*.yml`` pack in ``directory`` (sorted by name)."""
    d = Path(directory)
    ps = PackSet()
    if d.is_file():
        files, d = [d], d.parent
    else:
        files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    shared: dict[str, Lexicon] = {}
    for ld in reversed(_lexicon_dirs(d)):
        try:
            shared.update(load_dir(ld))
        except LangError as exc:
            ps.errors.append(RuleError(str(ld), 1, 1, exc.message))
    ps.lexicons.update(shared)
    seen: dict[str, str] = {}
    for f in files:
        ps.files.append(str(f))
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            ps.errors.append(RuleError(str(f), 1, 1, f"cannot read: {exc}"))
            continue
        _load_file(Source(str(f), text), ps, dict(shared), seen)
    known = Known(ps.specs)
    for src, lst, node in ps._raw_overrides:
        for prefix, layer in parse_overrides(src, lst, node, known, ps.errors).items():
            if prefix in ps.standing:
                ps.errors.append(src.error(node, f"region {prefix} already has overrides in another pack; "
                                           "keep one region's overrides in one place"))
                continue
            ps.standing[prefix] = layer
    ps._raw_overrides.clear()
    ps.profiles = load_profiles(d, ps.specs, ps.errors) if Path(directory).is_dir() else \
        {DEFAULT_PROFILE: Profile(DEFAULT_PROFILE)}
    return ps


def _load_file(src: Source, ps: PackSet, lexicons: dict[str, Lexicon], seen: dict[str, str]) -> None:
    try:
        doc = src.load()
    except RuleError as exc:
        ps.errors.append(exc)
        return
    if not isinstance(doc, MDict):
        ps.errors.append(src.error(getattr(doc, "node", None), "a pack is a mapping with pack: and rules:"))
        return
    for k in doc:
        if k not in PACK_KEYS:
            ps.errors.append(src.error(doc.nodes[k], f"unknown pack field {k!r} (fields: {', '.join(sorted(PACK_KEYS))})"))
    pack = doc.get("pack")
    if not isinstance(pack, str) or not _ID.match(pack):
        ps.errors.append(src.error(doc.nodes.get("pack", doc.node), "pack: needs a name like min_zhuan_xing"))
        return
    v = doc.get("version", 1)
    ps.packs[pack] = {"file": src.name, "version": v if isinstance(v, int) and not isinstance(v, bool) else 1,
                      "sha": hashlib.sha256(src.text.encode("utf-8")).hexdigest()[:12]}
    if "overrides" in doc:
        ps._raw_overrides.append((src, doc["overrides"], doc.nodes["overrides"]))
    inline = doc.get("lexicons") or MDict()
    if not isinstance(inline, MDict):
        ps.errors.append(src.error(doc.nodes["lexicons"], "lexicons: is a mapping of name to a list of words"))
        inline = MDict()
    for name, words in inline.items():
        try:
            if not isinstance(words, list):
                raise LangError("a 词库 is a list of words")
            lexicons[name] = Lexicon.from_list(name, list(words), src.name)
            ps.lexicons.setdefault(name, lexicons[name])
        except LangError as exc:
            ps.errors.append(src.error(inline.nodes[name], exc.message))
    defaults = doc.get("defaults") or MDict()
    if not isinstance(defaults, MDict) or set(defaults) - DEFAULT_KEYS:
        ps.errors.append(src.error(doc.nodes.get("defaults"), f"defaults: may set {', '.join(sorted(DEFAULT_KEYS))}"))
        defaults = MDict()
    rules = doc.get("rules")
    if not isinstance(rules, MList) or not rules:
        ps.errors.append(src.error(doc.nodes.get("rules", doc.node), "rules: needs a list of rules"))
        return
    if len(rules) > MAX_RULES:
        ps.errors.append(src.error(rules.node, f"more than {MAX_RULES} rules in one pack"))
        return
    for i, r in enumerate(rules):
        try:
            spec = _rule(src, pack, r, rules.nodes[i], defaults, lexicons)
        except RuleError as exc:
            ps.errors.append(exc)
            continue
        if spec.id in seen:
            ps.errors.append(src.error(r.nodes["id"], f"rule id {spec.id!r} already used in {seen[spec.id]}"))
            continue
        seen[spec.id] = src.name
        ps.specs.append(spec)


def _rule(src: Source, pack: str, r: Any, node: Any, defaults: MDict,
          lexicons: dict[str, Lexicon]) -> RuleSpec:
    if not isinstance(r, MDict):
        raise src.error(node, "a rule is a mapping (id:, kind:, when:, ...)")
    for k in r:
        if k not in RULE_KEYS:
            raise src.error(r.nodes[k], f"unknown rule field {k!r} (fields: {', '.join(sorted(RULE_KEYS))})")

    def get(k: str, default: Any = None) -> Any:
        return r.get(k, defaults.get(k, default))

    def at(k: str) -> Any:
        return r.nodes.get(k) or (defaults.nodes.get(k) if k in defaults else None) or node

    rid = r.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise src.error(at("id"), "id: needs a lower-case name like threat_words")
    for k in ("title", "description"):
        if not isinstance(r.get(k), str) or not r[k].strip():
            raise src.error(at(k), f"{k}: is required (in Chinese)")
    kind = r.get("kind", "match")
    if kind not in KINDS:
        raise src.error(at("kind"), f"kind: must be one of {', '.join(KINDS)}")
    missing = NEEDS[kind] - set(r)
    if missing:
        raise src.error(node, f"a {kind} rule needs {', '.join(sorted(missing))}")
    extra = (set(r) & ALL_KIND_KEYS) - ALLOWED[kind] - NEEDS[kind]
    if extra:
        k = sorted(extra)[0]
        raise src.error(at(k), f"{k}: does not apply to a {kind} rule")
    version = r.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise src.error(at("version"), "version: a whole number from 1")
    score = r.get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0 < score <= 1:
        raise src.error(at("score"), "score: a number in (0, 1], the rule's weight in fusion")
    streams = get("streams")
    if isinstance(streams, str):
        streams = [streams]
    if not isinstance(streams, list) or not streams or any(s not in STREAMS for s in streams):
        raise src.error(at("streams"), f"streams: a list of {', '.join(STREAMS)}")
    key = get("key", "case")
    if not isinstance(key, str) or not (key in KEYS[:-1] or re.match(r"^region:(2|4|6|9|12)$", key)):
        raise src.error(at("key"), "key: case, person, address, grid, camera or region:N (N = 2/4/6/9/12)")
    for b in ("enabled", "shadow"):
        if not isinstance(get(b, b == "enabled"), bool):
            raise src.error(at(b), f"{b}: true or false")

    def dur(k: str, default: float = 0.0) -> float:
        v = get(k)
        if v is None:
            return default
        try:
            return parse_duration(v)
        except ValueError as exc:
            raise src.error(at(k), str(exc)) from None

    def cond(k: str, value: Any, vnode: Any) -> Condition:
        if isinstance(value, bool):   # YAML reads a bare true/false as a boolean
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise src.error(vnode, f"{k}: a condition must be a string")
        try:
            return compile_condition(value, streams, lexicons)
        except LangError as exc:
            raise src.error(vnode, exc.message, exc.pos) from None

    def num(k: str, default: float, lo: float, hi: float, integer: bool = False) -> float:
        v = r.get(k, default)
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if not ok or isinstance(v, bool) or not lo <= v <= hi:
            raise src.error(at(k), f"{k}: a {'whole ' if integer else ''}number from {lo} to {hi}")
        return v

    spec = RuleSpec(id=rid, version=version, title=r["title"].strip(), pack=pack, kind=kind,
                    score=float(score), streams=tuple(streams), key=key, suppress=dur("suppress"),
                    shadow=get("shadow", False), enabled=get("enabled", True),
                    description=r["description"].strip(), owner=str(get("owner", "")),
                    line=node.start_mark.line + 1)
    reason = r.get("reason", "")
    if not isinstance(reason, str):
        raise src.error(at("reason"), "reason: a line of Chinese text with {placeholders}")
    for m in re.finditer(r"\{([^{}]*)\}", reason):
        if m.group(1) not in PLACEHOLDERS:
            raise src.error(at("reason"), f"unknown placeholder {{{m.group(1)}}} (known: {', '.join(sorted(PLACEHOLDERS))})")
    spec.reason = reason
    if "when" in r:
        spec.when = cond("when", r["when"], r.nodes["when"])
    if kind == "sequence":
        steps = r["steps"]
        if not isinstance(steps, MList) or not 2 <= len(steps) <= MAX_STEPS:
            raise src.error(at("steps"), f"steps: a list of 2 to {MAX_STEPS} conditions")
        spec.steps = [cond("steps", s, steps.nodes[i]) for i, s in enumerate(steps)]
    if kind == "absence":
        spec.steps = [cond("start", r["start"], r.nodes["start"]), cond("expect", r["expect"], r.nodes["expect"])]
    if "unless" in r:
        spec.unless = cond("unless", r["unless"], r.nodes["unless"])
    spec.window = dur("window")
    if kind == "threshold":
        spec.count = int(num("count", 3, 2, 1000, True))
        spec.distinct = r.get("distinct", "records")
        if spec.distinct not in ("records", "people"):
            raise src.error(at("distinct"), "distinct: records or people")
    if kind == "spike":
        spec.count = int(num("count", 3, 1, 100000, True))
        spec.bucket = dur("bucket", DAY)
        spec.baseline = int(num("baseline", 14, 1, 90, True))
        spec.factor = float(num("factor", 3.0, 1.0, 100.0))
        spec.floor = float(num("floor", 1.0, 0.0, 100000.0))
    used: list[str] = []
    for c in [spec.when, spec.unless, *spec.steps]:
        for name in (c.lexicons if c else ()):
            if name not in used:
                used.append(name)
    spec.lexicons = used
    spec.lex = [lexicons[n] for n in used]
    spec.names = set().union(*[c.names for c in [spec.when, spec.unless, *spec.steps] if c])
    tests = r.get("tests")
    if not isinstance(tests, MList) or not tests:
        raise src.error(at("tests"), "tests: every rule needs inline tests (records that fire and that do not)")
    if len(tests) > MAX_TESTS:
        raise src.error(tests.node, f"more than {MAX_TESTS} tests")
    for i, t in enumerate(tests):
        if not isinstance(t, MDict) or not isinstance(t.get("records"), MList):
            raise src.error(tests.nodes[i], "a test is a mapping with records: [...] and fire: true/false")
        if len(t["records"]) > MAX_TEST_RECORDS:
            raise src.error(tests.nodes[i], f"more than {MAX_TEST_RECORDS} records in a test")
        if not isinstance(t.get("fire"), bool) and not isinstance(t.get("fires"), int):
            raise src.error(tests.nodes[i], "a test says fire: true/false or fires: N")
    spec.tests = list(tests)
    return spec

