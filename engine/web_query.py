"""The console list's query string, checked: filters, sorting and paging (``GET /api/warnings``
and ``GET /api/warning-list``).  A bad parameter is a ``ParamError`` naming it (answered 422).

>>> q = parse_list({"region": "6299", "level": "red,orange", "state": "open", "sort": "score",
...                 "from": "2026-05-01T09:00", "limit": "20"}, viewer_prefix="")
>>> q.filter.region_prefix, q.filter.levels, q.filter.since, q.sort, q.desc, q.limit
('6299', ('red', 'orange'), '2026-05-01 09:00:00', 'score', True, 20)
>>> parse_list({"level": "purple"}, viewer_prefix="").filter
Traceback (most recent call last):
...
engine.web_query.ParamError: level: must be one or more of red, orange, yellow, blue (comma-separated)

A user's region must lie inside the viewer's jurisdiction; a wider one is narrowed to it, a
disjoint one matches nothing:

>>> effective_prefix("620102", "6201"), effective_prefix("620102", "62010203"), effective_prefix("620102", "6202")
('620102', '62010203', None)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from sinks.reads import LEVELS, STATES, WarningFilter
from streams.codes import DisputeKind
from streams.records import TZ

SORTS = ("time", "score", "level")
MAX_LIMIT = 5000
_RULE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KINDS = {k.value for k in DisputeKind}


class ParamError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    def body(self) -> dict:
        return {"error": f"query parameter {self.field}: {self.message}", "field": self.field}


@dataclass(frozen=True)
class ListQuery:
    filter: WarningFilter
    sort: str = "time"
    desc: bool = True
    offset: int = 0
    limit: int = 50
    empty: bool = False  # the user's region lies outside the viewer's jurisdiction


def effective_prefix(viewer_prefix: str, user_region: str) -> str | None:
    """The region prefix to query: the user's filter inside the viewer's; None = nothing."""
    if not user_region or viewer_prefix.startswith(user_region):
        return viewer_prefix
    if user_region.startswith(viewer_prefix):
        return user_region
    return None


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ParamError(name, f"must be an integer in [{lo}, {hi}]")
    return int(raw)


def _list(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    raw = params.get(name, "")
    items = tuple(x.strip() for x in raw.split(",") if x.strip())
    bad = [x for x in items if x not in allowed]
    if bad:
        raise ParamError(name, f"must be one or more of {', '.join(allowed)} (comma-separated)")
    return items


def _time(params: Mapping[str, str], name: str) -> str:
    raw = params.get(name, "").strip()
    if not raw:
        return ""
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise ParamError(name, "must be an ISO 8601 time, e.g. 2026-05-01T09:00:00+08:00") from None
    t = t.replace(tzinfo=TZ) if t.tzinfo is None else t.astimezone(TZ)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def parse_list(params: Mapping[str, str], *, viewer_prefix: str, default_limit: int = 50,
               default_sort: str = "time") -> ListQuery:
    region = params.get("region", "").strip()
    if region and (not region.isdigit() or len(region) > 12):
        raise ParamError("region", "must be 1-12 digits (a region code prefix)")
    kind = params.get("kind", "").strip()
    if kind and kind not in _KINDS:
        raise ParamError("kind", f"must be one of {', '.join(sorted(_KINDS))}")
    rule = params.get("rule", "").strip()
    if rule and not _RULE.match(rule):
        raise ParamError("rule", "must be a rule id (lower-case letters, digits and _)")
    sort = params.get("sort", default_sort)
    if sort not in SORTS:
        raise ParamError("sort", f"must be one of {', '.join(SORTS)}")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ParamError("order", "must be asc or desc")
    since, until = _time(params, "from"), _time(params, "to")
    if since and until and since > until:
        raise ParamError("to", "must not be before from")
    prefix = effective_prefix(viewer_prefix, region)
    f = WarningFilter(region_prefix=prefix if prefix is not None else viewer_prefix,
                      levels=_list(params, "level", LEVELS),
                      states=_list(params, "state", STATES + ("open",)),
                      since=since, until=until, dispute_kind=kind, rule_id=rule)
    return ListQuery(f, sort, order == "desc", _int(params, "offset", 0, 0, 10_000_000),
                     _int(params, "limit", default_limit, 1, MAX_LIMIT), prefix is None)
