"""Figures for the big screen (大屏): counts by level and region, the trend, the newest reds.

Computed from the latest version of each warning, so it reads the same from any store.

>>> rows = [{"id": "W1", "level": "red", "state": "new", "region_code": "629901001002",
...          "first_at": "2026-05-01T09:10:00+08:00", "updated_at": "2026-05-01T10:00:00+08:00",
...          "title": "红色预警", "score": 0.95, "reasons": []}]
>>> s = summarise(rows)
>>> s["by_level"], s["by_district"][0]["code"], s["trend"][-1]
({'red': 1, 'orange': 0, 'yellow': 0, 'blue': 0}, '629901', {'hour': '2026-05-01T09:00', 'warnings': 1, 'escalations': 0})
>>> late = [{"warning_id": "W1", "at": "2026-05-01T09:21:00+08:00"},
...         {"warning_id": "W-other-region", "at": "2026-05-01T09:20:00+08:00"}]
>>> s = summarise(rows, breaches=late)["sla"]
>>> s["open"], [b["id"] for b in s["newest"]]
(1, ['W1'])
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable

LEVELS = ("red", "orange", "yellow", "blue")
TREND_HOURS = 48


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _escalated(row: dict) -> bool:
    return any(r.get("rule_id") == "feedback" and r.get("outcome") == "escalated_criminal"
               for r in row.get("reasons") or [])


def _sla(rows: list[dict], breaches: Iterable[dict], newest: int) -> dict[str, Any]:
    """Breached 签收 deadlines (督办) of the warnings in ``rows`` (the viewer's jurisdiction):
    how many open warnings are under 督办, and the newest breaches."""
    by_id = {r["id"]: r for r in rows}
    seen, items = set(), []
    for b in breaches:  # newest first
        w = by_id.get(b["warning_id"])
        if w is None or b["warning_id"] in seen:
            continue
        seen.add(b["warning_id"])
        items.append({"id": w["id"], "title": w["title"], "level": w["level"],
                      "region_code": w["region_code"], "state": w["state"], "at": b["at"]})
    return {"open": sum(1 for i in items if i["state"] != "closed"), "newest": items[:newest]}


def summarise(rows: Iterable[dict], newest_red: int = 20, *,
              breaches: Iterable[dict] = ()) -> dict[str, Any]:
    """``breaches``: audit rows of action ``sla_breach``, newest first."""
    rows = list(rows)
    live = [r for r in rows if r["state"] != "closed"]
    by_level = Counter(r["level"] for r in live)
    districts: dict[str, Counter] = defaultdict(Counter)
    for r in live:
        districts[r["region_code"][:6]][r["level"]] += 1
    by_district = [{"code": code, **{lv: c[lv] for lv in LEVELS}, "total": sum(c.values())}
                   for code, c in sorted(districts.items())]
    trend: list[dict[str, Any]] = []
    if rows:
        newest = max(_time(r["first_at"]) for r in rows).replace(minute=0, second=0, microsecond=0)
        start = newest - timedelta(hours=TREND_HOURS - 1)
        made, esc = Counter(), Counter()
        for r in rows:
            hour = _time(r["first_at"]).replace(minute=0, second=0, microsecond=0)
            if hour >= start:
                made[hour] += 1
            if _escalated(r):
                esc[max(start, _time(r["updated_at"]).replace(minute=0, second=0, microsecond=0))] += 1
        trend = [{"hour": (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M"),
                  "warnings": made[start + timedelta(hours=h)],
                  "escalations": esc[start + timedelta(hours=h)]} for h in range(TREND_HOURS)]
    reds = sorted((r for r in live if r["level"] == "red"), key=lambda r: str(r["updated_at"]),
                  reverse=True)[:newest_red]
    return {
        "by_level": {lv: by_level[lv] for lv in LEVELS},
        "open": len(live),
        "by_district": by_district,
        "trend": trend,
        "newest_red": [{k: r[k] for k in ("id", "title", "score", "region_code", "updated_at")}
                       for r in reds],
        "sla": _sla(rows, breaches, newest_red),
    }
