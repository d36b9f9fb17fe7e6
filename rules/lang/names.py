"""The names a condition may read: a whitelist of record fields, case features and graph
features, each with its type and the streams that carry it.  Nothing else is reachable.

Every getter takes the evaluation ``Env`` (the record ``r``, the case ``c``) and returns a
plain value (codes as their wire strings, counts as numbers).
"""
from __future__ import annotations

from typing import Any, Callable

from streams.records import TZ, Call, GridEvent, VideoAlert

ALL = ("grid_event", "call", "video_alert")
Getter = Callable[["Env"], Any]
_MODELS = (GridEvent, Call, VideoAlert)
_TEXTED = frozenset({GridEvent, Call})   # the models with a ``text`` field (never None)


class Env:
    """One record under evaluation; derived values are computed once and cached."""

    __slots__ = ("r", "c", "t", "text", "_cache")

    def __init__(self, record: Any, case: Any):
        t = type(record)
        self._cache: dict[str, Any] = {}
        self.r, self.c, self.t = record, case, t
        # the text, read once: most conditions test it, several rules per record
        if t in _TEXTED:
            self.text = record.text
        else:
            self.text = "" if t is VideoAlert else (getattr(record, "text", None) or "")

    def local(self):
        t = self._cache.get("local")
        if t is None:
            t = self._cache["local"] = self.r.occurred_at.astimezone(TZ)
        return t

    def kp(self) -> tuple[list, list]:
        """(key persons among the case's parties, ... among its new parties) as KeyPersonInfo."""
        v = self._cache.get("kp")
        if v is None:
            c = self.c
            reg = getattr(c, "key_persons", None) or {}
            if reg:   # (a case has a few parties, the registry many people: walk the parties)
                v = ([reg[k] for k in sorted([k for k in c.party_keys if k in reg])],
                     [reg[k] for k in sorted([k for k in c.new_party_keys if k in reg])])
            else:
                v = ([], [])
            self._cache["kp"] = v
        return v


def _field(attr: str, default: Any, code: bool = False, fix: Callable[[Any], Any] | None = None) -> Getter:
    """A record field, read without a miss: the record models that lack it return ``default``
    at once (``getattr`` with a default on a pydantic model that lacks the field goes through
    its slow ``__getattr__``).  Codes read their wire value through ``_value_`` (``.value`` is a
    slow descriptor).  Records of other types (stand-ins in tests) take the generic path."""
    has = frozenset(m for m in _MODELS if attr in m.model_fields)
    lacks = frozenset(_MODELS) - has

    def get(e: Env) -> Any:
        t = e.t
        if t in has:
            v = getattr(e.r, attr)
        elif t in lacks:
            return default
        else:
            v = getattr(e.r, attr, None)
        if v is None:
            return default
        if code:
            v = getattr(v, "_value_", v)
        return v if fix is None else fix(v)
    return get


def _code(attr: str, default: str = "") -> Getter:
    return _field(attr, default, code=True)


def _plain(attr: str, default: Any) -> Getter:
    return _field(attr, default)


def _entries(kind: str | None = None, category: str | None = None) -> Getter:
    def get(e: Env) -> int:
        ents = e.c.entries if e.c is not None else ()
        return sum(1 for x in ents if (kind is None or x.kind == kind)
                   and (category is None or x.category == category))
    return get


# name -> (type, streams, getter)
RECORD: dict[str, tuple[str, tuple[str, ...], Getter]] = {
    "kind": ("str", ALL, lambda e: e.r.kind),
    "text": ("str", ALL, lambda e: e.text),
    "region": ("str", ALL, lambda e: e.r.place.region_code),
    "address": ("str", ALL, lambda e: e.r.place.address),
    "source": ("str", ALL, _plain("source", "")),
    "hour": ("num", ALL, lambda e: e.local().hour),
    "minute_of_day": ("num", ALL, lambda e: e.local().hour * 60 + e.local().minute),
    "weekday": ("num", ALL, lambda e: e.local().isoweekday()),
    "month": ("num", ALL, lambda e: e.local().month),
    "category": ("str", ("grid_event",), _code("category")),
    "dispute_kind": ("str", ("grid_event",), _code("dispute_kind")),
    "status": ("str", ("grid_event",), _code("status")),
    "mediation_attempts": ("num", ("grid_event",), _plain("mediation_attempts", 0)),
    "reporter": ("str", ("grid_event",), _code("reporter")),
    "grid_id": ("str", ("grid_event",), _plain("grid_id", "")),
    "line": ("str", ("call",), _code("line")),
    "call_type": ("str", ("call",), _code("call_type")),
    "disposition": ("str", ("call",), _code("disposition")),
    "party_count": ("num", ("grid_event", "call"), _field("parties", 0, fix=len)),
    "camera_id": ("str", ("video_alert",), _plain("camera_id", "")),
    "alert_type": ("str", ("video_alert",), _code("alert_type")),
    "confidence": ("num", ("video_alert",), _plain("confidence", 0.0)),
    "head_count": ("num", ("video_alert",), _plain("head_count", 0)),
    "matched": ("bool", ("video_alert",), _field("matched", False, fix=lambda v: True)),
}

# the code fields (a small set of wire values each) a detector may index its rules by; their
# getters never raise (see ``rules.lang.compiler.guards``)
GUARDABLE = frozenset({"kind", "category", "dispute_kind", "status", "reporter", "line", "call_type",
                       "disposition", "alert_type"})

CASE: dict[str, tuple[str, Getter]] = {
    "case.records": ("num", _entries()),
    "case.calls": ("num", _entries("call")),
    "case.grid_events": ("num", _entries("grid_event")),
    "case.video_alerts": ("num", _entries("video_alert")),
    "case.mediation_failed": ("num", _entries("grid_event", "mediation_failed")),
    "case.parties": ("num", lambda e: len(e.c.party_keys)),
    "case.new_parties": ("num", lambda e: len(e.c.new_party_keys)),
    "case.record_parties": ("num", lambda e: len(e.c.record_party_keys)),
    "case.key_persons": ("num", lambda e: len(e.kp()[0])),
    "case.new_key_persons": ("num", lambda e: len(e.kp()[1])),
    "case.key_person_categories": ("list<str>", lambda e: sorted({k.category for k in e.kp()[0]})),
    "case.new_key_person_categories": ("list<str>",
                                        lambda e: sorted({k.category for k in e.kp()[1]})),
    "case.max_risk_level": ("num", lambda e: max((k.risk_level for k in e.kp()[0]), default=0)),
    "case.dispute_kind": ("str", lambda e: e.c.dispute_kind or ""),
    "case.region": ("str", lambda e: e.c.region_code),
}

# graph features: read from ``case.features`` (the pipeline fills the place ones from the site
# registry and recent camera incidents: graph/places.py); absent -> false / 0
GRAPH: dict[str, str] = {
    "graph.near_school": "bool",          # the record's place within a school's radius (校园周边)
    "graph.near_water": "bool",           # ... within a dangerous water's radius
    "graph.incidents_nearby": "num",      # camera fights/gatherings within 300 m in the last 24 h
    "graph.party_cases": "num",           # other live cases the record's people appear in
    "graph.address_cases": "num",         # other live cases at the same address (graph/linker.py)
}


def graph_getter(name: str, typ: str) -> Getter:
    key, default = name.split(".", 1)[1], (False if typ == "bool" else 0)

    def get(e: Env) -> Any:
        feats = getattr(e.c, "features", None)
        return feats.get(key, default) if feats else default
    return get


def lookup(name: str) -> tuple[str, tuple[str, ...], Getter] | None:
    """(type, streams, getter) of a readable name, or None."""
    if name in RECORD:
        return RECORD[name]
    if name in CASE:
        t, g = CASE[name]
        return t, ALL, g
    if name in GRAPH:
        return GRAPH[name], ALL, graph_getter(name, GRAPH[name])
    return None


def known_names() -> list[str]:
    return sorted([*RECORD, *CASE, *GRAPH])
