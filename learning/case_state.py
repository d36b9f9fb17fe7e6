"""What the featurizer remembers of each case between records: kept up to date incrementally.

A case's entries grow by one record at a time (``graph.cases``: appended in event-time order,
the oldest dropped past a cap); the state follows by adding the new entry's contribution (and
removing the dropped one) instead of walking the whole case on every record.  Anything else (a
late record inserted in the middle, a merge) rebuilds the state from the entries.  The state is
a cache derivable from the entries, so it is not part of the model's snapshot.

>>> from datetime import datetime, timezone
>>> from streams.detect import CaseEntry
>>> t = datetime(2026, 5, 4, tzinfo=timezone.utc)
>>> info = lambda e: (e.at.timestamp(), e.kind, e.category, (), ())
>>> cs = CaseStates(info)
>>> a, b = CaseEntry("a", "call", t, "threat"), CaseEntry("b", "call", t, "resolved")
>>> s = cs.get("C1", [a]); s = cs.get("C1", [a, b])
>>> s.ids, s.cats, cs.rebuilds   # (built once at first sight, then kept up to date)
(['a', 'b'], {'threat': 1, 'resolved': 1}, 1)
"""
from __future__ import annotations

import bisect
from collections import OrderedDict
from typing import Any, Callable, Sequence


class CaseState:
    __slots__ = ("ids", "idset", "infos", "by_kind", "times", "cats", "lex", "resolved")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.idset: set[str] = set()
        self.infos: list[tuple] = []            # (ts, kind, category | None, lex groups, n-grams)
        self.by_kind: dict[str, list[float]] = {}   # sorted timestamps per stream
        self.times: list[float] = []           # sorted timestamps, all streams
        self.cats: dict[str, int] = {}
        self.lex: dict[str, int] = {}
        self.resolved: list[float] = []        # sorted timestamps of 已化解 entries

    def add(self, rid: str, info: tuple) -> None:
        ts, kind, cat, hits, _ = info
        self.ids.append(rid)
        self.idset.add(rid)
        self.infos.append(info)
        bisect.insort(self.by_kind.setdefault(kind, []), ts)
        bisect.insort(self.times, ts)
        if cat is not None:
            self.cats[cat] = self.cats.get(cat, 0) + 1
            if cat == "resolved":
                bisect.insort(self.resolved, ts)
        for g in hits:
            self.lex[g] = self.lex.get(g, 0) + 1

    def drop_first(self) -> None:
        rid, (ts, kind, cat, hits, _) = self.ids.pop(0), self.infos.pop(0)
        self.idset.discard(rid)
        _remove(self.by_kind[kind], ts)
        if not self.by_kind[kind]:
            del self.by_kind[kind]
        _remove(self.times, ts)
        if cat is not None:
            _dec(self.cats, cat)
            if cat == "resolved":
                _remove(self.resolved, ts)
        for g in hits:
            _dec(self.lex, g)


def _remove(xs: list[float], v: float) -> None:
    del xs[bisect.bisect_left(xs, v)]


def _dec(d: dict[str, int], k: str) -> None:
    d[k] -= 1
    if not d[k]:
        del d[k]


class CaseStates:
    """``get(case_id, entries)`` → the ``CaseState`` of exactly those entries (LRU-bounded)."""

    def __init__(self, info: Callable[[Any], tuple], max_cases: int = 50_000):
        self.info, self.max_cases = info, max_cases
        self._states: OrderedDict[str, CaseState] = OrderedDict()
        self.rebuilds = 0

    def get(self, case_id: str, entries: Sequence[Any]) -> CaseState:
        st = self._states.get(case_id) if case_id else None
        n = len(entries)
        if st is not None and n:
            ids, m = st.ids, len(st.ids)
            last = entries[-1].record_id
            if n == m and last == ids[-1] and entries[0].record_id == ids[0]:
                pass                                        # nothing new (a re-score)
            elif n >= 2 and m >= 1 and last not in st.idset and entries[-2].record_id == ids[-1] and (
                    (n == m + 1 and entries[0].record_id == ids[0])
                    or (n == m and entries[0].record_id == ids[1])):
                if n == m:
                    st.drop_first()                         # the case dropped its oldest entry
                st.add(last, self.info(entries[-1]))
            else:
                st = None
            if st is not None:
                self._states.move_to_end(case_id)
                return st
        self.rebuilds += 1
        old = self._states.pop(case_id, None) if case_id else None
        known = dict(zip(old.ids, old.infos)) if old is not None else {}
        st = CaseState()
        for e in entries:
            st.add(e.record_id, known.get(e.record_id) or self.info(e))
        if case_id:
            self._states[case_id] = st
            if len(self._states) > self.max_cases:
                self._states.popitem(last=False)
        return st
