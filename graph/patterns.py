"""Graph patterns that become signals.  Each returns ``Hit``s; the detector turns them into
signals, at most once per (case, pattern, key) so a busy case does not repeat itself.

Evidence is always ``{"path": [{"node", "kind"}, {"edge"}, ...], ...}`` with masked labels.

| rule_id                 | fires when                                                   | score |
|-------------------------|--------------------------------------------------------------|-------|
| graph_repeat_pair       | two people of this record were parties together in another, earlier case (≥ 3 days) | 0.30 |
| graph_key_person        | a 重点人员 is a party (1 hop) or at the case's address / phone (2) | 0.20 / 0.25 |
| graph_grievance_group   | a wages / land-requisition claim group reaches 5, 10, 20, 40 people | 0.25–0.40 |
| graph_escalation_nearby | a case within 2 hops was reported escalated (民转刑)        | 0.30 |

(The packs' ``key_person_party`` already weighs a key person who is a party; the graph's
signal for that is kept low and adds the path.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Container

from streams.codes import LABELS

from .features import anchors, bfs, claimants, draw, group_size, repeat_pairs, walk2
from .store import TypedGraph

GROUP_STEPS = (5, 10, 20, 40)
GROUP_KINDS = ("wages", "land_requisition")
REPEAT_GAP = 3 * 86400


def done_key(rule_id: str, key: str) -> str:
    """How the detector remembers a hit it has signalled for a case (``GraphDetector.fired``)."""
    return f"{rule_id}|{key}"


@dataclass(slots=True)
class Hit:
    rule_id: str
    key: str            # dedupe key within the case
    score: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def repeat_pair(tg: TypedGraph, case: int, people: list[int], dispute_kind: str | None,
                now: int, done: Container[str] = ()) -> list[Hit]:
    """Not for claim groups (co-claimants are not in conflict), and only when the other case
    began at least ``REPEAT_GAP`` earlier: a story the linker split in two is not a repeat.
    ``done``: ``"rule_id|key"`` already signalled for the case, whose evidence is not drawn again
    (every pattern takes it: a busy case meets the same hits record after record)."""
    if dispute_kind in GROUP_KINDS:
        return []
    hits = []
    for p, q, other in repeat_pairs(tg, case, among=people):
        key = f"{min(p, q)}-{max(p, q)}"
        if done_key("graph_repeat_pair", key) in done:
            continue
        first = min(tg.edge(other, p)[1], tg.edge(other, q)[1])
        if first > now - REPEAT_GAP or tg.degree(other) > 12:
            continue
        path = draw(tg, [p, other, q])
        hits.append(Hit("graph_repeat_pair", key, 0.30,
                        f"{tg.display(p)}与{tg.display(q)}曾在另一案件中同为当事人(反复冲突)",
                        {"path": path, "other_case": tg.key[other]}))
    return hits


def nearby(tg: TypedGraph, case: int, kps: dict[int, str], escalated: dict[int, int],
           done: Container[str] = ()) -> tuple[list[Hit], list[Hit]]:
    """``key_person`` and ``escalation_nearby`` from one walk (the same hits, half the work)."""
    kp, esc = walk2(tg, case, kps, escalated)
    if kp and done_key("graph_key_person", str(kp[-1])) in done:
        kp = None
    if esc and done_key("graph_escalation_nearby", str(esc[-1])) in done:
        esc = None
    return key_person(tg, case, kps, kp), escalation_nearby(tg, case, escalated, esc)


def key_person(tg: TypedGraph, case: int, kps: dict[int, str], path: Any = False) -> list[Hit]:
    if path is False:
        path = bfs(tg, case, lambda n: n in kps, max_hops=2)
    if not path:
        return []
    n = path[-1]
    cat = LABELS.get(kps[n], kps[n])
    hops = len(path) - 1
    where = "为当事人" if hops == 1 else "与本案同一" + ("住址" if tg.kind[path[1]] == "address" else "关联")
    tags = {m: LABELS.get(kps[m], kps[m]) for m in path if m in kps}
    return [Hit("graph_key_person", str(n), 0.20 if hops == 1 else 0.25,
                f"重点人员({cat}){tg.display(n)}{where}",
                {"path": draw(tg, path, tags), "hops": hops, "category": kps[n]})]


def grievance_group(tg: TypedGraph, case: int, dispute_kind: str | None, now: int,
                    done: Container[str] = ()) -> list[Hit]:
    if dispute_kind not in GROUP_KINDS:
        return []
    hits = []
    for a in anchors(tg, case):
        size = group_size(tg, a, now)
        reached = [s for s in GROUP_STEPS if size >= s]
        if not reached:
            continue
        step = reached[-1]
        if done_key("graph_grievance_group", f"{a}:{step}") in done:
            continue
        sample = claimants(tg, a, 3)
        path = draw(tg, [case, a])
        for m in sample:
            path += [{"edge": "诉求对象"}, {"node": tg.display(m), "kind": "person"}]
        label = LABELS.get(dispute_kind, dispute_kind)
        hits.append(Hit("graph_grievance_group", f"{a}:{step}",
                        min(0.40, 0.20 + 0.05 * GROUP_STEPS.index(step) + 0.05),
                        f"{label}:{size}人指向同一对象{tg.display(a)},有群体性事件风险",
                        {"path": path, "group_size": size, "step": step}))
    return hits


def escalation_nearby(tg: TypedGraph, case: int, escalated: dict[int, int],
                      path: Any = False) -> list[Hit]:
    if path is False:
        path = bfs(tg, case, lambda n: n in escalated, max_hops=2)
    if not path:
        return []
    other = path[-1]
    via = "同一当事人" if tg.kind[path[1]] == "person" else "同一地址"
    return [Hit("graph_escalation_nearby", str(other), 0.30,
                f"关联案件{tg.key[other]}({via})已发生民转刑",
                {"path": draw(tg, path, {other: "已升级"}), "escalated_case": tg.key[other]})]
