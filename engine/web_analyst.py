"""The analysts' page (``/analyst``) and its JSON: rule packs in use, per-rule hits and precision
read from the store, shadow rules beside live ones, and saved backtest reports.

Precision (stated on the page too): over the window, a rule's **hits** are the distinct cases it
signalled on; a hit is **judged** when the case has an outcome (its latest feedback: 办结 in the
console or feedback from another system) and **confirmed** when that outcome is 民转刑
(escalated_criminal) or 调解失败 (mediation_failed).  precision = confirmed ÷ judged (None when
nothing is judged yet).  The window ends at the newest signal's event time, so a replayed
history reads the same as live data.

>>> precision(3, 4), precision(0, 0)
(0.75, None)
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sinks.reads import TRUE_OUTCOMES
from streams.records import TZ

WINDOWS = (7, 30)
BACKTEST_DIR = "backtests"  # under DATA_DIR: reports written by `yujing backtest ... --out`
_NAME = re.compile(r"^[\w.\-]{1,128}\.json$")
DEFINITION = ("命中:规则在统计期内触发过信号的案件(去重);已研判:其中已有处置结果(办结或反馈)的案件;"
              "证实:结果为民转刑或调解失败的案件。精确率 = 证实 ÷ 已研判。统计期截至最新信号的事件时间。")


def precision(confirmed: int, judged: int) -> float | None:
    return round(confirmed / judged, 3) if judged else None


def rule_meta(runner) -> dict[str, dict[str, Any]]:
    """The rules the runner's pack detector runs now (after any hot reload)."""
    out: dict[str, dict[str, Any]] = {}
    for d in getattr(getattr(runner, "pipeline", None), "detectors", []) or []:
        for r in getattr(d, "rules", None) or []:
            s = getattr(r, "spec", None)
            if s is not None:
                out[s.id] = {"rule_id": s.id, "pack": s.pack, "version": s.version,
                             "title": s.title, "kind": s.kind, "shadow": bool(s.shadow),
                             "score": s.score}
    return out


def profile_view(runner) -> dict[str, Any]:
    """The rules profile in force (平时/战时/节假日/...; `yujing rules profile NAME` switches it)."""
    for d in getattr(getattr(runner, "pipeline", None), "detectors", []) or []:
        name = getattr(d, "profile", None)
        if isinstance(name, str):
            return {"active": name}
    return {"active": None}


def packs_view(runner, metrics) -> list[dict[str, Any]]:
    """Each pack in use, with its version (the yujing_rule_pack_version gauge) and its rules."""
    versions = {}
    for fam in metrics.pack_version.collect():
        for s in fam.samples:
            versions[s.labels["pack"]] = int(s.value)
    meta = rule_meta(runner)
    names = sorted(set(versions) | {m["pack"] for m in meta.values()})
    return [{"pack": p, "version": versions.get(p),
             "rules": sorted((m for m in meta.values() if m["pack"] == p), key=lambda m: m["rule_id"])}
            for p in names]


def rules_view(store, runner, region_prefix: str) -> dict[str, Any]:
    """Per rule and window: signals, hits, judged, confirmed, precision; live and shadow apart."""
    end = store.newest_signal_at()
    meta = rule_meta(runner)
    windows = {}
    for days in WINDOWS:
        rows = []
        if end is not None:
            since = (end - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
            rows = store.rule_stats(since, region_prefix)
        seen = {r["rule_id"] for r in rows}
        for rid, m in meta.items():  # a rule in use that never fired still gets its row
            if rid not in seen:
                rows.append({"rule_id": rid, "shadow": m["shadow"], "signals": 0, "cases": 0,
                             "judged": 0, "confirmed": 0})
        for r in rows:
            m = meta.get(r["rule_id"], {})
            r.update(title=m.get("title", ""), pack=m.get("pack", ""), version=m.get("version"),
                     shadow=bool(m.get("shadow", r["shadow"])), in_use=bool(m),
                     precision=precision(r["confirmed"], r["judged"]))
        rows.sort(key=lambda r: (-r["signals"], r["pack"], r["rule_id"]))
        windows[str(days)] = {"live": [r for r in rows if not r["shadow"]],
                              "shadow": [r for r in rows if r["shadow"]]}
    return {"until": end.isoformat() if end is not None else None, "windows": windows,
            "true_outcomes": list(TRUE_OUTCOMES), "definition": DEFINITION}


def backtest_list(data_dir: Path | None) -> list[dict[str, Any]]:
    """The saved reports under DATA_DIR/backtests/, newest first, with their headline figures.
    A file that is not a report is listed with its error instead of stopping the list."""
    folder = (data_dir / BACKTEST_DIR) if data_dir is not None else None
    if folder is None or not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        mtime = p.stat().st_mtime
        item: dict[str, Any] = {"name": p.name, "mtime": mtime,
                                "saved_at": datetime.fromtimestamp(mtime, TZ).isoformat(timespec="seconds")}
        try:
            rep = json.loads(p.read_text(encoding="utf-8"))
            item.update(level=rep.get("level"), input=rep.get("input", {}),
                        overall=(rep.get("overall") or {}).get(rep.get("level", "blue"), {}),
                        rules=len(rep.get("rules") or {}))
        except (OSError, ValueError, AttributeError) as exc:
            item["error"] = f"不是回测报告: {type(exc).__name__}"
        out.append(item)
    return out


def backtest_file(data_dir: Path | None, name: str) -> dict[str, Any] | None:
    """One saved report by file name (a bare name: no folders), or None."""
    if data_dir is None or not _NAME.match(name):
        return None
    p = data_dir / BACKTEST_DIR / name
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
