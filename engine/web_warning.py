"""A warning's page (``/w/{id}``) and its data (``GET /api/warnings/{id}?full=1``): the timeline of
the records and signals behind it, the case's relationship graph, and the SLA clock.

The graph is drawn from two sources, labels always masked (even for a viewer allowed clear data:
the graph is a picture that gets printed and shared):

- the graph evidence of signals (``evidence["path"]``: ``[{"node", "kind"}, {"edge"}, ...]``,
  written masked by graph/patterns.py);
- the case's own records: people (parties, callers, face matches), their phones, the addresses
  and cameras.  Node ids are opaque (``n0``, ``n1``...): the clear key never leaves this module.

>>> recs = [{"id": "r1", "kind": "call", "body": {"caller": {"name": "王小明", "phone": "13800138000"},
...          "place": {"address": "和平路8号"}}}]
>>> g = case_graph("C-1", recs, [])
>>> sorted((n["category"], n["name"]) for n in g["nodes"])
[('人员', '王某某'), ('地址', '和平路8号'), ('案件', 'C-1'), ('电话', '138****8000')]
>>> sorted(lk["label"] for lk in g["links"])
['事发地址', '使用电话', '当事人']
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from streams.privacy import mask_name, mask_phone
from streams.records import TZ

CATEGORIES = {"case": "案件", "person": "人员", "phone": "电话", "address": "地址",
              "camera": "摄像头", "org": "单位"}
KIND_LABELS = {"grid_event": "网格事件", "call": "来电", "video_alert": "视频告警",
               "feedback": "处置反馈", "key_person": "重点人员", "camera": "摄像头", "site": "场所"}
MAX_RECORDS = 200


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[tuple, dict] = {}
        self.links: dict[tuple, dict] = {}

    def node(self, key: tuple, kind: str, label: str) -> str:
        n = self.nodes.get(key)
        if n is None:
            n = self.nodes[key] = {"id": f"n{len(self.nodes)}", "name": label,
                                   "category": CATEGORIES.get(kind, kind), "value": 0}
        n["value"] += 1
        return n["id"]

    def link(self, a: str, b: str, label: str) -> None:
        if a == b:
            return
        key = (min(a, b), max(a, b), label)
        lk = self.links.setdefault(key, {"source": a, "target": b, "label": label, "value": 0})
        lk["value"] += 1


def _parties(body: dict) -> list[dict]:
    out = [p for p in body.get("parties") or [] if isinstance(p, dict)]
    for key in ("caller", "matched"):
        if isinstance(body.get(key), dict):
            out.append(body[key])
    return out


def case_graph(case_id: str, records: list[dict], signals: list[dict]) -> dict[str, Any]:
    """ECharts ``graph`` series data: ``{"nodes", "links", "categories", "paths"}``."""
    g = _Graph()
    case = g.node(("case", case_id), "case", case_id)
    for r in records:
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        place = body.get("place") if isinstance(body.get("place"), dict) else {}
        addr = " ".join(str(place.get("address") or "").split())
        if addr:
            g.link(case, g.node(("address", addr), "address", addr), "事发地址")
        if body.get("camera_id"):
            cam = str(body["camera_id"])
            g.link(case, g.node(("camera", cam), "camera", cam), "摄像头")
        for p in _parties(body):
            idn, name, phone = p.get("id_number"), p.get("name"), p.get("phone")
            if not (idn or name or phone):
                continue
            key = ("person", idn or "", "" if idn else (name or ""), "" if idn or name else phone)
            label = mask_name(name) if name else (mask_phone(phone) if phone else "身份证号已记录")
            person = g.node(key, "person", label)
            g.link(person, case, "当事人")
            if phone:
                g.link(person, g.node(("phone", phone), "phone", mask_phone(phone)), "使用电话")
    by_label = {}
    for key, n in g.nodes.items():
        by_label.setdefault((key[0], n["name"]), []).append(key)
    paths = []
    for s in signals:
        path = (s.get("evidence") or {}).get("path")
        if not isinstance(path, list):
            continue
        paths.append({"rule_id": s.get("rule_id"), "reason": s.get("reason"), "path": path})
        prev, edge = None, ""
        for step in path:
            if not isinstance(step, dict):
                continue
            if "edge" in step:
                edge = str(step["edge"])
                continue
            kind, label = str(step.get("kind", "")), str(step.get("node", ""))
            same = by_label.get((kind, label), [])
            key = same[0] if len(same) == 1 else ("evidence", kind, label)
            nid = g.node(key, kind, label)
            if prev is not None:
                g.link(prev, nid, edge or "关联")
            prev, edge = nid, ""
    return {"nodes": list(g.nodes.values()), "links": list(g.links.values()),
            "categories": list(dict.fromkeys(n["category"] for n in g.nodes.values())),
            "paths": paths}


def _iso(t: Any) -> str:
    return t.isoformat() if isinstance(t, datetime) else str(t or "")


def timeline(records: list[dict], signals: list[dict]) -> list[dict[str, Any]]:
    """The records (as presented to the viewer) in time order, each with the signals it raised;
    signals without a record among them (absence timers, graph patterns) stand alone."""
    by_record: dict[str, list[dict]] = {}
    for s in signals:
        by_record.setdefault(s.get("record_id") or "", []).append(
            {"rule_id": s["rule_id"], "detector": s.get("detector", ""), "score": s["score"],
             "reason": s.get("reason", ""), "at": _iso(s.get("at")),
             "shadow": bool((s.get("evidence") or {}).get("shadow"))})
    items = []
    for r in records:
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        place = body.get("place") if isinstance(body.get("place"), dict) else {}
        items.append({"type": "record", "at": _iso(r.get("occurred_at")), "record_id": r["id"],
                      "kind": r.get("kind", ""), "kind_label": KIND_LABELS.get(r.get("kind"), r.get("kind")),
                      "source": r.get("source", ""), "region_code": r.get("region_code", ""),
                      "address": place.get("address", ""), "text": body.get("text") or body.get("note") or "",
                      "parties": _parties(body), "signals": by_record.pop(r["id"], [])})
    for sigs in by_record.values():
        for s in sigs:
            items.append({"type": "signal", "at": s["at"], "signals": [s]})
    items.sort(key=lambda x: x["at"])
    return items


def record_ids(versions: list[dict], of_case: list[str] = ()) -> list[str]:
    """The records behind a warning (every version's ``record_ids``), then the rest of its case's
    records (context without signals: the first quarrel before the threats)."""
    out: dict[str, None] = {}
    for v in versions:
        for rid in v.get("record_ids") or []:
            out[rid] = None
    for rid in of_case:
        out[rid] = None
    return list(out)[:MAX_RECORDS]


def merge_view(case_id: str, merges: list[dict], warnings: list[dict], wid: str) -> dict[str, Any]:
    """合并记录 of a warning's case from the store's ``case_merges`` rows around it (``gone``,
    ``into``, ``at``, ``why``: the linker's reason, evidence kinds only, no personal data):
    ``survivor`` (the case everything now lives under), ``cases`` (the survivor and every case
    merged into it: the timeline reads all their records), ``lines`` (Chinese, oldest first)
    and, when this warning's case merged away, ``merged_into``: the survivor and its warning.

    >>> from datetime import datetime
    >>> m = [{"gone": "C-b", "into": "C-a", "at": datetime(2026, 5, 1, 9, 30), "why": "记录 r2 同时关联两案"}]
    >>> v = merge_view("C-b", m, [{"id": "W-a", "case_id": "C-a", "state": "new"}], "W-b")
    >>> v["survivor"], v["cases"], v["merged_into"]
    ('C-a', ['C-a', 'C-b'], {'case_id': 'C-a', 'warning_id': 'W-a'})
    >>> v["lines"][0]["text"]
    '案件 C-b 于 2026-05-01 09:30 并入案件 C-a:记录 r2 同时关联两案'
    """
    into = {r["gone"]: r["into"] for r in merges}
    survivor, hops = case_id, 0
    while survivor in into and hops < 100:
        survivor, hops = into[survivor], hops + 1
    cases = [survivor]
    for c in sorted({r["gone"] for r in merges} | {r["into"] for r in merges} | {case_id}):
        top, hops = c, 0
        while top in into and hops < 100:
            top, hops = into[top], hops + 1
        if top == survivor and c != survivor:
            cases.append(c)
    lines = []
    for r in merges:
        at = r["at"].strftime("%Y-%m-%d %H:%M") if isinstance(r["at"], datetime) else str(r["at"])
        lines.append({"gone": r["gone"], "into": r["into"], "at": _iso(r["at"]), "why": r["why"],
                      "text": f"案件 {r['gone']} 于 {at} 并入案件 {r['into']}:{r['why']}"})
    out: dict[str, Any] = {"survivor": survivor, "cases": cases, "lines": lines}
    if survivor != case_id:
        others = [w for w in warnings if w["id"] != wid]
        best = sorted(others, key=lambda w: (w["case_id"] != survivor, w.get("state") == "closed", w["id"]))
        out["merged_into"] = {"case_id": survivor, "warning_id": best[0]["id"] if best else None}
    return out


def sla_view(desk, latest: dict, audit: list[dict]) -> dict[str, Any]:
    """The 签收 clock of engine/lifecycle.py (``SlaScheduler``, wall clock, held in memory):
    ``status`` is running (``left_s`` seconds to 督办), breached, stopped (signed for) or none."""
    limits = desk.policy.sla if desk is not None else {}
    limit = limits.get(latest["level"])
    out: dict[str, Any] = {"limit_s": limit, "status": "none", "left_s": None, "due_at": None}
    breach = next((a for a in audit if a.get("action") == "sla_breach"), None)
    if latest["state"] != "new":
        signed = next((a for a in audit if a.get("action") == "ack"), None)
        out.update(status="stopped", signed_at=_iso(signed["at"]) if signed else None,
                   breached=breach is not None)
    elif breach is not None:
        out.update(status="breached", due_at=_iso(breach["at"]), breached=True)
    elif desk is not None and limit is not None:
        timer = desk.sla.timer(latest["id"])
        if timer is not None:
            due = timer[1]
            out.update(status="running", left_s=round(due - time.time(), 1),
                       due_at=datetime.fromtimestamp(due, TZ).isoformat(timespec="seconds"))
    return out


# ---- the store reads of a merged case (sync: the web layer runs them in a thread) ------------

def read_merges(store, case_id: str, wid: str) -> dict[str, Any]:
    """``merge_view`` of ``case_id`` read from the store (a store without ``case_merges``
    reads, e.g. a test double, gives the case alone)."""
    if not hasattr(store, "case_merges"):
        return merge_view(case_id, [], [], wid)
    merges = store.case_merges(case_id)
    if not merges:
        return merge_view(case_id, [], [], wid)
    ids = sorted({r["gone"] for r in merges} | {r["into"] for r in merges})
    return merge_view(case_id, merges, store.warnings_of_cases(ids), wid)


def records_of_cases(store, cases: list[str]) -> list[str]:
    """The newest records of each case (the survivor first), ``MAX_RECORDS`` in all."""
    out: list[str] = []
    for c in cases:
        out += store.record_ids_of_case(c, MAX_RECORDS)
    return out[:MAX_RECORDS]


def signals_of_cases(store, cases: list[str]) -> list[dict]:
    return [s for c in cases for s in store.signals_of_case(c)]
