"""Rule state shared by every kind (``Rule``: keys, suppression, sweeps, snapshots), the
rule spec, and the two single-stream kinds: match and threshold.  See ``rules.kinds``."""
from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from streams.records import TZ

from .lang.compiler import Condition
from .lang.names import Env

MAX_SEQ_EVENTS = 64       # step events kept per key of a sequence rule
DAY = 86400.0
TZ_OFFSET = 8 * 3600.0    # buckets align to Asia/Shanghai midnight


@dataclass
class RuleSpec:
    """One rule as loaded from a pack (conditions compiled)."""

    id: str
    version: int
    title: str
    pack: str
    kind: str
    score: float
    streams: tuple[str, ...]
    key: str = "case"
    suppress: float = 0.0
    shadow: bool = False
    enabled: bool = True
    reason: str = ""
    description: str = ""
    owner: str = ""
    when: Condition | None = None
    steps: list[Condition] = field(default_factory=list)
    unless: Condition | None = None
    count: int = 1
    distinct: str = "records"
    window: float = 0.0
    bucket: float = DAY
    baseline: int = 14
    factor: float = 3.0
    floor: float = 1.0
    lexicons: list[str] = field(default_factory=list)
    lex: list = field(default_factory=list)      # the Lexicon objects, for evidence words
    names: set = field(default_factory=set)      # the fields the conditions read
    tests: list[dict] = field(default_factory=list)
    line: int = 0
    profile: str = ""        # the profile this spec was tuned under ("" = as written)
    region: str = ""         # the region prefix of the override applied ("" = none)


@dataclass(slots=True)
class Fire:
    record_id: str
    case_id: str
    at: float
    key: str
    evidence: dict[str, Any]
    env: Env | None = None       # the record that made it fire, when it is the current one
    region: str = ""             # region code of the record behind a timer firing (overrides)


SWEEP_EVERY = 6 * 3600.0  # event-time seconds between sweeps of idle per-key state


class Rule:
    """Base: key handling and suppression; subclasses hold the window state."""

    timers = False

    def __init__(self, spec: RuleSpec, keyfn: Callable[[Env], list[str]]):
        self.spec, self.keyfn = spec, keyfn
        self.variants: Any = None    # rules.tuning.Variants when region overrides touch the rule
        self.last_fire: dict[str, float] = {}
        self._swept: float | None = None
        # the watermark below which ``on_watermark`` has nothing to do (no sweep, no timer due):
        # the detector skips the call until then; -inf = ask at the next watermark
        self.wake = -math.inf

    def allowed(self, key: str, t: float) -> bool:
        """Suppression on event time: no firing for ``key`` within ``suppress`` of the last."""
        p = self.spec.suppress
        if p > 0:
            last = self.last_fire.get(key)
            if last is not None and abs(t - last) < p:
                return False
        self.last_fire[key] = t
        return True

    def on_record(self, env: Env, t: float, late: bool) -> list[Fire]:
        raise NotImplementedError

    # kinds with a single ``when`` (match, threshold, spike) split ``on_record`` in two: the
    # condition, then ``on_match`` for a record that meets it, so a detector that has checked
    # the condition itself (``rules.detector``) does not evaluate it twice; ``single_condition``
    # says which kinds do (a flag, not ``on_match = None``: a compiled class has fixed methods)
    single_condition = False

    def on_match(self, env: Env, t: float, late: bool) -> list[Fire]:
        raise NotImplementedError

    def on_watermark(self, wm: float) -> list[Fire]:
        """Fire due timers; now and then forget state no future record can use.

        The sweep runs at most once per ``SWEEP_EVERY`` of event time: it walks every key,
        and the pipeline moves the watermark on almost every record.  Sweeping is invisible
        in the output (a record can only use state newer than the watermark), so how often
        it runs changes memory, never signals.
        """
        if self._swept is None or wm - self._swept >= SWEEP_EVERY:
            self._swept = wm
            self.sweep(wm)
        out = self.due(wm)
        self.wake = min(self._swept + SWEEP_EVERY, self.next_due())
        return out

    def next_due(self) -> float:
        """The earliest pending timer's time (inf: none)."""
        return math.inf

    def sweep(self, wm: float) -> None:
        p = self.spec.suppress
        if p > 0:
            self.last_fire = {k: v for k, v in self.last_fire.items() if v > wm - p}

    def due(self, wm: float) -> list[Fire]:
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.spec.version, "last_fire": dict(self.last_fire), "state": self.dump()}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != self.spec.version:
            return  # a changed rule starts from empty state
        self.last_fire = dict(state.get("last_fire", {}))
        self.load(state.get("state", {}))
        self.wake = -math.inf

    def dump(self) -> Any:
        return {}

    def load(self, state: Any) -> None:
        pass


class OneConditionRule(Rule):
    """The kinds with a single ``when``: the condition, then ``on_match``."""

    late_ok = False  # late records neither count nor fire (windowed kinds)
    single_condition = True

    def on_record(self, env: Env, t: float, late: bool) -> list[Fire]:
        when = self.spec.when
        if (late and not self.late_ok) or when is None or not when.fn(env):
            return []
        return self.on_match(env, t, late)


class MatchRule(OneConditionRule):
    """Fires on each record whose condition holds (one signal per record), late or not."""

    late_ok = True

    def on_match(self, env: Env, t: float, late: bool) -> list[Fire]:
        for key in self.keyfn(env):
            if self.allowed(key, t):
                return [Fire(env.r.id, _cid(env), t, key, {}, env)]
        return []


class ThresholdRule(OneConditionRule):
    """``count`` matching records (or distinct people) per key within ``window`` (t - W, t].

    The window ends at the newest event time seen for the key, so an out-of-order record
    counts as if it had come in order.  After firing the window is emptied: the next firing
    needs ``count`` fresh records.
    """

    def __init__(self, spec: RuleSpec, keyfn):
        super().__init__(spec, keyfn)
        self.win: dict[str, list[list]] = {}     # key -> [[t, record id, people], ...] by time
        # the sweep's index (not state): (newest time of a window when it became the newest,
        # key), and the keys whose window went empty; a key's current newest time always has
        # an entry, so the sweep finds every window to drop without walking them all
        self._ends: list[tuple[float, str]] = []
        self._emptied: set[str] = set()

    def on_match(self, env: Env, t: float, late: bool) -> list[Fire]:
        s = self.spec
        if late:
            return []
        out: list[Fire] = []
        people = sorted(env.c.record_party_keys) if s.distinct == "people" else []
        for key in self.keyfn(env):
            w = self.win.setdefault(key, [])
            if not w or w[-1][0] <= t:
                w.append([t, env.r.id, people])
                heapq.heappush(self._ends, (t, key))
            else:
                _insort(w, [t, env.r.id, people])
            end = w[-1][0]
            while w and w[0][0] <= end - s.window:
                w.pop(0)
            n = len({p for e in w for p in e[2]}) if s.distinct == "people" else len(w)
            if n >= s.count and not out and self.allowed(key, t):
                out.append(Fire(env.r.id, _cid(env), t, key,
                                {"count": n, "record_ids": [e[1] for e in w][-20:]}, env))
                w.clear()
            elif len(w) > 4 * s.count + 16:
                del w[0]
            if not w:
                self._emptied.add(key)
        return out

    def sweep(self, wm: float) -> None:
        """Drop the windows that are empty or whose newest record is at or before
        ``wm - window`` (the same as rebuilding ``win`` from the windows that stay)."""
        super().sweep(wm)
        lim = wm - self.spec.window
        win, ends = self.win, self._ends
        while ends and ends[0][0] <= lim:
            key = heapq.heappop(ends)[1]
            w = win.get(key)
            if w is not None and (not w or w[-1][0] <= lim):
                del win[key]
        for key in self._emptied:
            if not win.get(key, True):
                del win[key]
        self._emptied.clear()

    def dump(self) -> Any:
        return self.win

    def load(self, state: Any) -> None:
        self.win = {k: [list(e) for e in w] for k, w in state.items()}
        self._ends = sorted((w[-1][0], k) for k, w in self.win.items() if w)
        self._emptied = {k for k, w in self.win.items() if not w}


def _cid(env: Env) -> str:
    return getattr(env.c, "case_id", "") if env.c is not None else ""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).isoformat()


def _k(e: Any) -> float:
    return e[0] if isinstance(e, list) else e


def _insort(lst: list, item: Any) -> None:
    """Insert keeping event-time order (after equal times); in-order arrival is an append."""
    if not lst or _k(lst[-1]) <= _k(item):
        lst.append(item)
    else:
        bisect.insort_right(lst, item, key=_k)
