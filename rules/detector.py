"""The rule packs as one detector (``streams.detect`` protocol, plus ``advance``).

Only the rules that read a record's stream are evaluated for it, and of those only the ones
whose condition can hold: a ``when`` that requires a code value (``call_type == "fraud" and
...``, see ``rules.lang.compiler.guards``) is skipped for records with another value (it
would return nothing and change no state).  Shadow rules run and
their signals carry ``evidence["shadow"] = True``: the engine records them and keeps them
out of warnings.  ``advance(watermark)`` fires absence timers; the pipeline calls it each
time its watermark moves (see docs/rules.md, "Engine contract").
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from streams.codes import LABELS
from streams.detect import signal_id
from streams.ident import subdistrict_of
from streams.records import TZ, Signal

from .kinds import KINDS, Fire, Rule, RuleSpec
from .lang.names import RECORD, Env, lookup
from .tuning import DEFAULT_PROFILE, Tuning, tune

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLACEHOLDERS = {"title", "words", "count", "window", "key", "baseline", "span_hours", "categories",
                "max_risk_level"}
KEYS = ("case", "person", "address", "grid", "camera", "region")
GUARDED_KINDS = ("match", "threshold", "spike")   # kinds whose ``when`` false means no effect
MEMO_LIMIT = 4096                                 # candidate lists kept per stream


def key_function(key: str) -> Callable[[Env], list[str]]:
    """Keys of a record for ``key`` (``region:N`` keys by the first N digits of the region)."""
    if key == "case":
        return lambda e: [e.c.case_id] if e.c is not None and e.c.case_id else []
    if key == "person":
        return lambda e: sorted(e.c.record_party_keys) if e.c is not None else []
    if key == "address":
        def addr(e: Env) -> list[str]:
            a = "".join(e.r.place.address.split())
            return [f"{subdistrict_of(e.r.place.region_code)}:{a}"] if len(a) >= 4 else []
        return addr
    if key == "grid":
        grid_id = RECORD["grid_id"][2]
        return lambda e: [grid_id(e) or e.r.place.region_code]
    if key == "camera":
        camera_id = RECORD["camera_id"][2]
        return lambda e: [camera_id(e)] if camera_id(e) else []
    if key.startswith("region:"):
        n = int(key.split(":", 1)[1])
        return lambda e: [e.r.place.region_code[:n]]
    raise ValueError(f"unknown key {key!r}")


def render(template: str, values: dict[str, Any]) -> str:
    """``{name}`` placeholders only (no attribute or index access)."""
    def sub(m: re.Match) -> str:
        v = values.get(m.group(1))
        if v is None:
            return ""
        return "、".join(map(str, v)) if isinstance(v, list) else str(v)
    return _PLACEHOLDER.sub(sub, template)


def _hours(sec: float) -> str:
    return f"{sec / 86400:g}天" if sec >= 86400 and sec % 86400 == 0 else f"{sec / 3600:g}小时"


class PackDetector:
    """Every enabled rule of the loaded packs; implements detect/advance/snapshot/restore.

    ``tuning`` (``rules.tuning.Tuning``: the active profile and the region overrides) is
    applied to the rules as written; ``set_tuning`` switches it on a running detector.
    """

    name = "rules.packs"

    def __init__(self, specs: Iterable[RuleSpec], lateness: timedelta = timedelta(hours=6),
                 tuning: Tuning | None = None):
        self.specs = list(specs)
        self.tuning = tuning
        self._install(self._build(self.specs, tuning, {}, None))
        self.lateness = lateness.total_seconds()
        self.max_t: float | None = None
        self.ext_wm: float | None = None
        self.late = 0

    def _install(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.by_stream: dict[str, list[Rule]] = {}
        for r in rules:
            for st in r.spec.streams:
                self.by_stream.setdefault(st, []).append(r)
        self.timed = [r for r in rules if r.timers or r.spec.kind in ("threshold", "sequence")]
        self._plans = {st: _Plan(rs) for st, rs in self.by_stream.items()}

    @property
    def profile(self) -> str:
        return self.tuning.name if self.tuning is not None else DEFAULT_PROFILE

    def _build(self, specs: list[RuleSpec], tuning: Tuning | None, old: dict[str, Rule],
               res: dict[str, list[str]] | None) -> list[Rule]:
        new: list[Rule] = []
        for s in specs:
            base, variants = tune(s, tuning)
            if not (variants.enabled if variants is not None else base.enabled):
                continue
            r = KINDS[s.kind](base, key_function(s.key))
            r.variants = variants
            prev = old.get(s.id)
            if prev is not None and prev.spec.version == s.version and prev.spec.kind == s.kind:
                r.restore(prev.snapshot())
                if res is not None:
                    res["kept"].append(s.id)
            elif res is not None:
                res["added" if prev is None else "restarted"].append(s.id)
            new.append(r)
        return new

    def replace_rules(self, specs: Iterable[RuleSpec], tuning: Tuning | None = None) -> dict[str, list[str]]:
        """Swap in a new rule set (hot reload) and/or a new tuning (profile switch).

        A rule with the same id and version as a running one takes over its window state,
        timers and suppression (its other fields, e.g. score or a profile's threshold, may
        have changed); a new or re-versioned rule starts empty, and so does a rule that a
        profile turns on (it was not running).  The watermark is kept.  Call it between
        batches.  ``tuning`` None keeps the current one.  Returns the ids ``added``,
        ``removed``, ``restarted`` (version changed) and ``kept``.
        """
        self.specs = list(specs)
        if tuning is not None:
            self.tuning = tuning
        old = {r.spec.id: r for r in self.rules}
        res: dict[str, list[str]] = {"added": [], "removed": [], "restarted": [], "kept": []}
        new = self._build(self.specs, self.tuning, old, res)
        ids = {r.spec.id for r in new}
        res["removed"] = sorted(i for i in old if i not in ids)
        self._install(new)
        return res

    def set_tuning(self, tuning: Tuning) -> dict[str, list[str]]:
        """Switch the profile (and overrides) of a running detector; see ``replace_rules``."""
        return self.replace_rules(self.specs, tuning)

    @property
    def watermark(self) -> float | None:
        own = None if self.max_t is None else self.max_t - self.lateness
        if self.ext_wm is None:
            return own
        return self.ext_wm if own is None else max(own, self.ext_wm)

    def detect(self, record: Any, case: Any) -> list[Signal]:
        rules = self.by_stream.get(record.kind)
        t = record.occurred_at.timestamp()
        wm = self.watermark
        late = wm is not None and t < wm
        if late:
            self.late += 1
        if self.max_t is None or t > self.max_t:
            self.max_t = t
        if not rules:
            return []
        env = Env(record, case)
        cands = self._plans[record.kind].candidates(env)
        out: list[Signal] = []
        region = record.place.region_code
        for r, when in cands:
            if when is not None:     # (the plain case: the condition here, the rule's state after)
                if not when(env):
                    continue
                fired = r.on_match(env, t, late)
            else:
                v = r.variants
                if v is not None:    # region overrides: the most specific prefix's spec
                    s = v.pick(region)
                    if not s.enabled:
                        continue
                    r.spec = s
                fired = r.on_record(env, t, late)
            for f in fired:
                out.append(self._signal(r, f, r.spec))
        return out

    def advance(self, watermark: datetime) -> list[Signal]:
        """The pipeline's watermark moved: fire due timers (absence), prune windows."""
        w = watermark.timestamp()
        if self.ext_wm is None or w > self.ext_wm:
            self.ext_wm = w
        wm = self.watermark
        assert wm is not None   # (just set: ext_wm)
        out: list[Signal] = []
        for r in self.timed:
            if wm < r.wake:
                continue   # nothing due and no sweep yet (``Rule.wake``)
            v = r.variants
            if v is not None:
                r.spec = v.sweep
            for f in r.on_watermark(wm):
                out.append(self._signal(r, f, r.spec if v is None else v.pick(f.region)))
        return out

    def _signal(self, rule: Rule, f: Fire, s: RuleSpec) -> Signal:
        ev: dict[str, Any] = {"pack": s.pack, "kind": s.kind, "key_by": s.key.split(":")[0]}
        if s.key not in ("person", "case"):
            ev["key"] = f.key
        words: list[str] = []
        if f.env is not None and s.lex:
            text = RECORD["text"][2](f.env)
            for lx in s.lex:
                for w in lx.find(text):
                    if w not in words:
                        words.append(w)
        if words:
            ev["words"] = words
        if f.env is not None and f.env.c is not None and any("key_person" in n for n in s.names):
            allkp, new = f.env.kp()
            kps = new or allkp
            if kps:
                ev["categories"] = sorted({LABELS.get(k.category, k.category) for k in kps})
                ev["max_risk_level"] = max(k.risk_level for k in kps)
        ev.update(f.evidence)
        if s.shadow:
            ev["shadow"] = True
        if s.profile and s.profile != DEFAULT_PROFILE:
            ev["profile"] = s.profile        # raised under 战时 etc.: the explanation says so
        if s.region:
            ev["region_override"] = s.region
        values = dict(ev, title=s.title, window=_hours(s.window) if s.window else "")
        reason = render(s.reason, values) if s.reason else s.title + ("(" + "、".join(words) + ")" if words else "")
        if "profile" in ev:
            reason = f"【{s.profile}】{reason}"
        return Signal(id=signal_id(self.name, s.id, f.record_id), detector=f"rules.{s.pack}",
                      rule_id=s.id, rule_version=s.version, case_id=f.case_id, record_id=f.record_id,
                      score=s.score, reason=reason[:200], evidence=ev,
                      at=datetime.fromtimestamp(f.at, TZ) if f.env is None else f.env.r.occurred_at)

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"max_t": self.max_t, "ext_wm": self.ext_wm, "late": self.late,
                "rules": {r.spec.id: r.snapshot() for r in self.rules}}

    def restore(self, state: dict[str, Any]) -> None:
        self.max_t, self.ext_wm = state.get("max_t"), state.get("ext_wm")
        self.late = state.get("late", 0)
        saved = state.get("rules", {})
        for r in self.rules:
            if r.spec.id in saved:
                r.restore(saved[r.spec.id])


Candidate = tuple[Rule, Callable[[Env], bool] | None]


def _getter(name: str) -> Callable[[Env], Any]:
    found = lookup(name)
    if found is None:   # (a guard names a field the condition compiled: always known)
        raise ValueError(f"unknown guard field {name!r}")
    return found[2]


class _Plan:
    """The rules of one stream as (rule, its ``when`` or None), and per combination of the
    rules' guard fields' values (memoised) the ones whose ``when`` can hold, in rule order.

    A rule of a single-``when`` kind (match, threshold, spike) without region variants comes
    with its condition: the detector evaluates it and calls ``on_match`` only when it holds.
    Any other rule (sequence, absence, or one with variants, whose spec is picked per
    record first) comes with None and is always a candidate: ``on_record`` does everything.
    """

    __slots__ = ("rules", "fields", "getters", "need", "memo")

    def __init__(self, rules: list[Rule]):
        need: list[tuple[Candidate, tuple[tuple[int, frozenset], ...]]] = []
        fields: list[str] = []
        for r in rules:
            when = r.spec.when
            plain = (r.spec.kind in GUARDED_KINDS and when is not None and r.variants is None
                     and r.single_condition)
            idx = []
            for name, values in (when.guards if plain and when is not None else ()):
                if name not in fields:
                    fields.append(name)
                idx.append((fields.index(name), values))
            need.append(((r, when.fn if plain and when is not None else None), tuple(idx)))
        self.rules = [c for c, _ in need]
        self.fields = tuple(fields)
        self.getters = tuple(_getter(f) for f in fields)
        self.need = need
        self.memo: dict[tuple, list[Candidate]] = {}

    def candidates(self, env: Env) -> list[Candidate]:
        if not self.getters:
            return self.rules
        key = tuple([g(env) for g in self.getters])
        got = self.memo.get(key)
        if got is None:
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            got = self.memo[key] = [c for c, idx in self.need
                                    if all(key[i] in values for i, values in idx)]
        return got
