"""The closed loop in the Kafka worker: act records (``streams.records.ActRecord``) in log order.

The console publishes each act of the centre (签收/分流/处置/办结) to the events topic, on the
partition of the warning's 区县 or 街道 (the key level ingest uses), so the worker owning that partition is the single writer of the
warning's state and the act is part of the log. ``process`` takes a partition's batch: runs of
ordinary records go through ``Pipeline.process`` as before; each act record is applied in its
place by ``engine.acts_apply.apply_act``, the same function ``yujing run`` uses, at the act's own
time, so replaying the partition (a restart, a rebalance) makes the same versions and a closed
warning stays closed.

What an act needs beyond the book, the partition keeps in ``ActState`` (rebuilt by the replay,
like the pipeline): the latest version of each warning the partition made (the book forgets a
closed warning; a late act on it must still answer 409) and who last acted on each (for the 409
answer). The 分流 unit is NOT checked here: the console checks it against its routing policy
before publishing, so editing the policy never changes what a replay of old acts gives.

Answers: an applied act's warning version goes to the warnings topic with headers
``yujing-act-id`` and ``yujing-act-audit`` (its audit row as JSON); a refused one goes to the
dead-letter topic (reason ``act_refused``) with ``yujing-act-id``, ``yujing-act-status`` (the
HTTP status) and ``yujing-act-answer`` (the JSON answer). The console waits for either.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

from sinks.store import AuditEntry
from streams.records import Warning
from streams.sources import Item
from streams.topics import (
    H_DETAIL, H_FIELD, H_LINE, H_REASON, H_RECORD_ID, H_SOURCE, H_STAGE, headers,
)

from . import lifecycle as lc
from .acts_apply import act_of_record, apply_act
from .pipeline import Outputs, Pipeline

H_ACT_ID = "yujing-act-id"
H_ACT_AUDIT = "yujing-act-audit"
H_ACT_STATUS = "yujing-act-status"
H_ACT_ANSWER = "yujing-act-answer"
REFUSED = "act_refused"
LATEST_CAP = 200_000   # warnings remembered per partition (oldest-updated forgotten: a 404 then)


class ActState:
    """Per partition: each warning's latest version (bounded, in log order) and who last acted."""

    def __init__(self, cap: int = LATEST_CAP):
        self.cap = cap
        self.latest: OrderedDict[str, Warning] = OrderedDict()
        self.last = lc.LastActs()

    def note(self, warnings: Sequence[Warning]) -> None:
        for w in warnings:
            self.latest[w.id] = w
            self.latest.move_to_end(w.id)
        while len(self.latest) > self.cap:
            self.latest.popitem(last=False)


@dataclass(slots=True)
class ActOutputs(Outputs):
    """``Outputs`` plus what the acts of the batch made."""

    audit: list[AuditEntry] = field(default_factory=list)
    acted: dict[tuple[str, int], tuple[str, AuditEntry]] = field(default_factory=dict)
    refused: list[tuple[Item, lc.ActionError]] = field(default_factory=list)


def process(pipeline: Pipeline, state: ActState, items: Sequence[Item]) -> ActOutputs:
    """A partition's batch in log order: records through the pipeline, acts applied in place."""
    res = ActOutputs()
    run: list[Item] = []

    def flush() -> None:
        if run:
            out = pipeline.process(run)
            state.note(out.warnings)
            res.add(out)
            run.clear()

    for it in items:
        rec = it.record
        if rec is None or rec.kind != "act":
            run.append(it)
            continue
        flush()
        res.by_kind["act"] = res.by_kind.get("act", 0) + 1
        cur = state.latest.get(rec.warning_id)
        act = act_of_record(rec)
        try:
            if cur is None:
                raise lc.ActionError(404, "预警不存在", warning_id=rec.warning_id)
            done = apply_act(pipeline, act, cur, last=state.last.get(rec.warning_id),
                             now=rec.occurred_at, source=it.source, line=it.line)
        except lc.ActionError as exc:
            res.refused.append((it, exc))
            continue
        state.note(done.outputs.warnings)
        state.last.note(done.audit)
        res.add(done.outputs)
        res.audit.append(done.audit)
        res.acted[(done.warning.id, done.warning.version)] = (rec.id, done.audit)
    flush()
    return res


def act_headers(act_id: str, entry: AuditEntry) -> list[tuple[str, bytes]]:
    """Extra headers of the warning version an act made."""
    from .runner import audit_view
    return headers(**{H_ACT_ID: act_id,
                      H_ACT_AUDIT: json.dumps(audit_view(entry), ensure_ascii=False)})


def refusal_headers(it: Item, exc: lc.ActionError) -> list[tuple[str, bytes]]:
    """Headers of a refused act on the dead-letter topic (the act record whole is the value)."""
    rec: Any = it.record
    return headers(**{H_REASON: REFUSED, H_FIELD: exc.body.get("field", ""),
                      H_DETAIL: str(exc)[:500], H_SOURCE: it.source, H_LINE: it.line,
                      H_RECORD_ID: rec.id, H_STAGE: "worker", H_ACT_ID: rec.id,
                      H_ACT_STATUS: exc.status,
                      H_ACT_ANSWER: json.dumps(exc.body, ensure_ascii=False, default=str)})
