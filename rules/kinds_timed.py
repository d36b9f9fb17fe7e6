"""The rule kinds that pair or count records over time: sequence, absence (timers), spike.

Split from ``rules.kinds`` (the base ``Rule``, match and threshold); semantics in docs/rules.md.
"""
from __future__ import annotations

import heapq
import math
from typing import Any

from .kinds_base import MAX_SEQ_EVENTS, TZ_OFFSET, Fire, OneConditionRule, Rule, RuleSpec, _cid, _insort, _iso
from .lang.names import Env

UNLESS = 1 << 30   # a sequence event's mask bit: an ``unless`` record


class SequenceRule(Rule):
    """Steps A, B, ... in event-time order, first to last within ``window``, no ``unless`` between.

    Relaxed contiguity (other records may come between).  A step record advances the
    earliest open partial match; a completed match consumes every open partial of its key
    (five A then one B make one match).  An ``unless`` record cancels the partials that began
    at or before it.  Matching re-runs over the key's stored events, so out-of-order records
    (within lateness) pair as in order; a match once emitted is never retracted.
    """

    def __init__(self, spec: RuleSpec, keyfn):
        super().__init__(spec, keyfn)
        self.events: dict[str, list[list]] = {}   # key -> [[t, seq, rid, case id, mask], ...]
        self.seq = 0

    def on_record(self, env: Env, t: float, late: bool) -> list[Fire]:
        s = self.spec
        if late:
            return []
        mask = UNLESS if s.unless is not None and s.unless.fn(env) else 0
        if not mask:
            for i, c in enumerate(s.steps):
                if c.fn(env):
                    mask |= 1 << i
        if not mask:
            return []
        out: list[Fire] = []
        for key in self.keyfn(env):
            self.seq += 1
            evs = self.events.setdefault(key, [])
            _insort(evs, [t, self.seq, env.r.id, _cid(env), mask])
            if len(evs) > MAX_SEQ_EVENTS:
                del evs[0]
            for done in self._scan(evs):
                if self.allowed(key, done[-1][0]):
                    cur = env if done[-1][2] == env.r.id else None
                    out.append(Fire(done[-1][2], done[-1][3], done[-1][0], key,
                                    {"record_ids": [e[2] for e in done],
                                     "span_hours": round((done[-1][0] - done[0][0]) / 3600, 1)}, cur))
            if out:
                break
        return out

    def _scan(self, evs: list[list]) -> list[list[list]]:
        n, w = len(self.spec.steps), self.spec.window
        partials: list[list] = []          # [start t, next step, [events]]
        done: list[list[list]] = []
        used: set[int] = set()
        for ev in evs:
            t, mask = ev[0], ev[4]
            if mask & UNLESS:
                partials.clear()
                continue
            partials = [p for p in partials if t - p[0] < w]
            advanced = False
            for k in range(n - 1, 0, -1):
                if mask >> k & 1:
                    p = next((p for p in partials if p[1] == k), None)
                    if p is not None:
                        p[1] += 1
                        p[2].append(ev)
                        if p[1] == n:
                            done.append(p[2])
                            for q in partials:
                                used.update(id(e) for e in q[2])
                            partials.clear()
                        advanced = True
                        break
            if not advanced and mask & 1:
                partials.append([t, 1, [ev]])
        if used:
            evs[:] = [e for e in evs if id(e) not in used]
        return done

    def sweep(self, wm: float) -> None:
        super().sweep(wm)
        lim = wm - self.spec.window
        for k in [k for k, evs in self.events.items() if not evs or evs[-1][0] <= lim]:
            del self.events[k]

    def dump(self) -> Any:
        return {"seq": self.seq, "events": self.events}

    def load(self, state: Any) -> None:
        self.seq = state.get("seq", 0)
        self.events = {k: [list(e) for e in v] for k, v in state.get("events", {}).items()}


class AbsenceRule(Rule):
    """A (``steps[0]``) not followed by B (``steps[1]``) within ``window``, per key.

    A starts a timer at ``A.t + window`` unless the key already has one (the first A owns
    it).  A B with ``A.t <= B.t < deadline`` cancels it (a B at exactly the deadline is too
    late).  The timer fires once, when the watermark reaches the deadline, stamped with the
    deadline.  B records seen earlier than their A (out of order) are remembered.
    """

    timers = True

    def __init__(self, spec: RuleSpec, keyfn):
        super().__init__(spec, keyfn)
        self.pending: dict[str, list] = {}        # key -> [deadline, start, rid, case id, region]
        self.bseen: dict[str, list[float]] = {}   # key -> B times (recent)
        self.heap: list[tuple[float, str, str]] = []

    def on_record(self, env: Env, t: float, late: bool) -> list[Fire]:
        s = self.spec
        if late:
            return []
        a, b = s.steps[0].fn(env), s.steps[1].fn(env)
        if not (a or b):
            return []
        for key in self.keyfn(env):
            if b:
                _insort(self.bseen.setdefault(key, []), t)
                p = self.pending.get(key)
                if p is not None and p[1] <= t < p[0]:
                    del self.pending[key]
            elif a and key not in self.pending:
                dl = t + s.window
                if not any(t <= x < dl for x in self.bseen.get(key, ())):
                    self.pending[key] = [dl, t, env.r.id, _cid(env), env.r.place.region_code]
                    heapq.heappush(self.heap, (dl, key, env.r.id))
                    if dl < self.wake:
                        self.wake = dl
        return []

    def next_due(self) -> float:
        return self.heap[0][0] if self.heap else math.inf

    def due(self, wm: float) -> list[Fire]:
        out: list[Fire] = []
        while self.heap and self.heap[0][0] <= wm:
            dl, key, rid = heapq.heappop(self.heap)
            p = self.pending.get(key)
            if p is None or p[2] != rid:
                continue  # cancelled
            del self.pending[key]
            if self.allowed(key, dl):
                out.append(Fire(rid, p[3], dl, key, {"started_at": _iso(p[1]),
                                                      "window_hours": (dl - p[1]) / 3600},
                                region=p[4] if len(p) > 4 else ""))
        return out

    def sweep(self, wm: float) -> None:
        super().sweep(wm)
        lim = wm - self.spec.window
        # (a list is in time order: one whose oldest time is recent stays as it is)
        self.bseen = {k: v if v[0] > lim else [x for x in v if x > lim]
                      for k, v in self.bseen.items() if v[-1] > lim}

    def dump(self) -> Any:
        return {"pending": self.pending, "bseen": self.bseen}

    def load(self, state: Any) -> None:
        self.pending = {k: list(v) for k, v in state.get("pending", {}).items()}
        self.bseen = {k: list(v) for k, v in state.get("bseen", {}).items()}
        self.heap = sorted((p[0], k, p[2]) for k, p in self.pending.items())
        self.wake = -math.inf


class SpikeRule(OneConditionRule):
    """Count per key in event-time buckets ``[k*B, (k+1)*B)`` (Asia/Shanghai midnight).

    Fires once per bucket when its count reaches ``count`` and ``factor`` times the key's own
    baseline: the mean of the ``baseline`` buckets before it (missing buckets count 0), at
    least ``floor``.  The spiking bucket is not reset: it joins later baselines, so a lasting
    new level stops being a spike.
    """

    def __init__(self, spec: RuleSpec, keyfn):
        super().__init__(spec, keyfn)
        self.counts: dict[str, dict[int, int]] = {}
        self.fired: dict[str, int] = {}

    def on_match(self, env: Env, t: float, late: bool) -> list[Fire]:
        s = self.spec
        if late:
            return []
        b = int((t + TZ_OFFSET) // s.bucket)
        out: list[Fire] = []
        for key in self.keyfn(env):
            c = self.counts.setdefault(key, {})
            c[b] = c.get(b, 0) + 1
            for old in [x for x in c if x < b - s.baseline]:
                del c[old]
            base = sum(c.get(b - i, 0) for i in range(1, s.baseline + 1)) / s.baseline
            if (not out and self.fired.get(key) != b and c[b] >= s.count
                    and c[b] >= s.factor * max(base, s.floor) and self.allowed(key, t)):
                self.fired[key] = b
                out.append(Fire(env.r.id, _cid(env), t, key,
                                {"count": c[b], "baseline": round(base, 2)}, env))
        return out

    def dump(self) -> Any:
        return {"counts": {k: {str(b): n for b, n in v.items()} for k, v in self.counts.items()},
                "fired": self.fired}

    def load(self, state: Any) -> None:
        self.counts = {k: {int(b): n for b, n in v.items()} for k, v in state.get("counts", {}).items()}
        self.fired = dict(state.get("fired", {}))
