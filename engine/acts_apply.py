"""One act of the centre (签收, 分流, 处置, 办结) applied to a pipeline's warning book.

The single writer of a warning's state calls ``apply_act``: the in-process runner
(engine/runner.py, acts from its inbox) and the Kafka worker that owns the case's partition
(engine/worker_acts.py, act records from the events topic). One function, so both deployments
close the loop the same way:

* ``lifecycle.check`` first (stale version → 409 naming who acted, a move the state does not
  allow → 409, a bad outcome or unit → 422), raising ``lifecycle.ActionError``;
* 签收/分流/处置 make the next version (``lifecycle.advance``), adopted by the book when it holds
  the warning, so new evidence builds on the acted version and keeps its state;
* 办结 makes a ``Feedback`` (id one per closing version) that goes through the pipeline, which
  closes the case as any feedback would; if the book no longer holds the warning (pruned, or a
  fresh book), the stored version is closed directly (``lifecycle.closed_version``).

The caller says what it knows as the current version (``cur``: the store's latest row in the
runner, the partition's own latest version in the worker) and when the act happened (``now``:
the wall clock in the runner; the act record's time in the worker, so a replay of the log makes
the same versions byte for byte). The caller stores ``outputs`` (records, warnings) and
``audit`` together, then pushes.

>>> from engine.lifecycle import Act
>>> act_of_record(ActRecord(id="A-1", occurred_at="2026-05-01T10:00:00", warning_id="W-1",
...     case_id="C-1", region_code="620102003004", action="ack", by="张三", version=2))
Act(warning_id='W-1', action='ack', by='张三', version=2, unit='', outcome='', note='')
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sinks.routing import Policy
from sinks.store import AuditEntry
from streams.records import ActRecord, Warning
from streams.sources import Item

from . import lifecycle as lc
from .pipeline import Outputs, Pipeline


@dataclass(slots=True)
class Applied:
    warning: Warning      # the version the act made
    audit: AuditEntry     # its audit row
    outputs: Outputs      # what to store: the version (and for 办结 the Feedback, and any
                          # other output of feeding it through the pipeline)


def apply_act(pipeline: Pipeline, act: lc.Act, cur: Warning, *, policy: Policy | None = None,
              last: dict | None = None, now: datetime | None = None, source: str = "console",
              line: int = 0) -> Applied:
    """Apply ``act`` to ``pipeline``'s warning book; raises ``lifecycle.ActionError``.

    ``cur``: the warning's current version as the caller knows it (the book's own version wins
    when it is the same warning and not older); ``policy``: the routing policy the 分流 unit is
    checked against (None: not checked); ``last``: who last acted on it (for the 409 answer)."""
    held = pipeline.book.open_warning(cur.case_id)
    in_book = held is not None and held.id == cur.id and held.version >= cur.version
    if in_book:
        cur = held
    to = lc.check(cur, act, policy, last)
    now = now or lc.wall_now()
    out = Outputs()
    if act.action == "close":
        fb = lc.feedback_of(cur, act, now)
        if in_book or held is None:  # the pipeline closes the case, as any feedback would
            out = pipeline.process([Item(line=line, raw="", record=fb, source=source)])
        else:   # the case has a newer warning: the Feedback is kept, that warning stays open
            out.records.append(fb)
        w = next((x for x in out.warnings if x.id == cur.id), None)
        if w is None:  # the book no longer holds it (a restart): close the stored version
            w = lc.closed_version(cur, act.outcome, now)
            out.warnings.append(w)
        entry = lc.audit(act, cur, w.version, to, now)
    else:
        w, entry = lc.advance(cur, act, to, now)
        if in_book:
            lc.adopt(pipeline.book, w)
        out.warnings.append(w)
    return Applied(w, entry, out)


def act_of_record(rec: ActRecord) -> lc.Act:
    """The lifecycle ``Act`` an act record carries."""
    return lc.Act(rec.warning_id, rec.action, rec.by, rec.version, unit=rec.unit,
                  outcome=rec.outcome, note=rec.note)


def breach_entry(policy: Policy | None, w: Warning, now: datetime) -> AuditEntry:
    """The audit row of an SLA breach (超时督办) that the desk fired for ``w``."""
    up = policy.escalation(w.level.value, w.region_code) if policy is not None else []
    return AuditEntry(at=now, warning_id=w.id, case_id=w.case_id, version=w.version,
                      action="sla_breach", from_state=w.state, to_state=w.state, by="系统",
                      note="超过签收时限,已推送" + "、".join(c.label for c in up) + "督办"
                      if up else "超过签收时限")
