"""Explain a case from a graph snapshot: its linked entities and the paths behind its signals.

Works on the JSON of ``GraphDetector.snapshot()`` alone (what ``yujing run`` writes at stop),
so it needs no running engine.  Paths are recomputed by the same walks the patterns use.
"""
from __future__ import annotations

from typing import Any

from streams.codes import LABELS

from . import features as F
from . import patterns as P
from .detector import GraphDetector
from .store import EDGE_LABEL, EDGE_KINDS

_KIND_WORD = {"person": "人", "phone": "电话", "address": "地址", "camera": "摄像头",
              "org": "单位", "case": "案件"}


def explain(state: dict[str, Any], case_id: str) -> dict[str, Any] | None:
    """``{"case", "features", "entities": [...], "paths": [{"rule_id", "reason", "path"}]}``."""
    d = GraphDetector.__new__(GraphDetector)
    GraphDetector.__init__(d, _NoHash())
    d.restore(state)
    tg = d.graph
    c = tg.find("case", case_id)
    if c is None:
        return None
    entities = []
    for m in tg.neighbours(c):
        k, first, last, count = tg.edge(c, m)
        label = tg.display(m)
        if m in d.key_persons:
            label += f"({LABELS.get(d.key_persons[m], d.key_persons[m])})"
        entities.append({"node": label, "kind": tg.kind[m], "edge": EDGE_LABEL[EDGE_KINDS[k]],
                         "first": first, "last": last, "count": count})
    kind = _dispute_kind(d, c)
    hits = (P.repeat_pair(tg, c, F.parties(tg, c), kind, d.now)
            + P.key_person(tg, c, d.key_persons)
            + P.grievance_group(tg, c, kind, d.now)
            + P.escalation_nearby(tg, c, d.escalated))
    return {"case": case_id, "features": d.features(case_id), "entities": entities,
            "paths": [{"rule_id": h.rule_id, "reason": h.reason, "path": h.evidence["path"]}
                      for h in hits]}


def _dispute_kind(d: GraphDetector, c: int) -> str | None:
    # the snapshot keeps no dispute kinds: a case with claim edges is a group dispute (its
    # reason then reads 劳资/欠薪 even for a land requisition)
    return P.GROUP_KINDS[0] if F.anchors(d.graph, c) else None


def render(info: dict[str, Any]) -> str:
    lines = [f"案件 {info['case']}", "关联实体:"]
    for e in info["entities"]:
        lines.append(f"  —{e['edge']}— {_KIND_WORD.get(e['kind'], e['kind'])} {e['node']}"
                     f" (出现{e['count']}次)")
    lines.append("图特征: " + ", ".join(f"{k}={v}" for k, v in info["features"].items()))
    if info.get("note"):
        lines.append(info["note"])
    lines.append("路径:" if info["paths"] else "路径: 无")
    for p in info["paths"]:
        chain = "".join(f"{s['node']}" if "node" in s else f" —{s['edge']}— " for s in p["path"])
        lines.append(f"  [{p['rule_id']}] {p['reason']}\n    {chain}")
    if "merges" in info:
        lines.append("合并记录:" if info["merges"] else "合并记录: 无")
        for m in info["merges"]:
            lines.append(f"  {m['at'][:16].replace('T', ' ')} 案件 {m['gone']} 并入案件 {m['into']}:{m['why']}")
    return "\n".join(lines)


class _NoHash:
    """Explaining reads a snapshot only: nothing is hashed."""

    def __call__(self, value: str) -> str:  # pragma: no cover - never called
        raise RuntimeError("explain does not hash")
