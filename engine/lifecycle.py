"""The warning's closed loop: states, transitions, SLA timers and what each push goes to.

    new ──签收 ack──▶ acknowledged ──分流 dispatch──▶ dispatched ──处置 handling──▶ handling
                          │                          │ (改派: dispatch again)        │
                          └────────────办结 close (化解/调解失败/民转刑/误报)──────────┘──▶ closed

Every act is a new version of the warning and an ``AuditEntry``. Acts carry the version the
user saw: a stale one is a ``Conflict`` naming who acted (optimistic concurrency). Closing makes
a ``Feedback`` record that the runner feeds through the pipeline, so the warning book closes the
case exactly as feedback from any other source would (and the learning side sees it).

SLA timers run on the WALL clock: they measure the centre's handling, not detection, so they
are the one part of the loop that is not replayable from event time.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter

from sinks import routing
from sinks.routing import Policy
from sinks.store import AuditEntry
from sinks.webhook import WebhookSender, scrub
from streams.codes import Outcome
from streams.records import TZ, Feedback, Warning

STATES = ("new", "acknowledged", "dispatched", "handling", "closed")
STATE_LABELS = {"new": "新预警", "acknowledged": "已签收", "dispatched": "已分流",
                "handling": "处置中", "closed": "已办结"}
# action -> (states it may start from, state it leads to)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "ack": (frozenset({"new"}), "acknowledged"),
    "dispatch": (frozenset({"acknowledged", "dispatched"}), "dispatched"),
    "handling": (frozenset({"dispatched"}), "handling"),
    # a 误报 found at signing need not be dispatched first
    "close": (frozenset({"acknowledged", "dispatched", "handling"}), "closed"),
}
ACTION_LABELS = {"ack": "签收", "dispatch": "分流", "handling": "开始处置", "close": "办结",
                 "sla_breach": "超时督办"}
OUTCOMES = {o.value for o in Outcome}


class ActionError(Exception):
    """An act refused; ``status`` is the HTTP status, ``body`` the JSON answer."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.body = status, {"error": message, **extra}


@dataclass(frozen=True)
class Act:
    """One user's act on one warning (``by``: the account name; an auth layer will fill it)."""

    warning_id: str
    action: str
    by: str
    version: int
    unit: str = ""
    outcome: str = ""
    note: str = ""


def check(cur: Warning, act: Act, policy: Policy | None = None,
          last: dict[str, Any] | None = None) -> str:
    """The state ``act`` leads to, or an ``ActionError`` (409 stale/forbidden, 422 bad value)."""
    if act.version != cur.version:
        who = (f"{last['by']} 已于 {last['at']:%H:%M:%S} {ACTION_LABELS.get(last['action'], last['action'])}"
               if last else "新的证据已更新该预警")
        raise ActionError(409, f"预警已变化(您看到的是 v{act.version},当前 v{cur.version}):{who}",
                          version=cur.version, state=cur.state, by=last["by"] if last else "")
    allowed, to = ACTIONS[act.action]
    if cur.state not in allowed:
        raise ActionError(409, f"{STATE_LABELS.get(cur.state, cur.state)}的预警不能"
                               f"{ACTION_LABELS[act.action]}", version=cur.version, state=cur.state)
    if act.action == "dispatch" and policy is not None and act.unit not in policy.units:
        raise ActionError(422, f"未知的分流部门 {act.unit!r}", field="unit")
    if act.action == "close" and act.outcome not in OUTCOMES:
        raise ActionError(422, f"办结结果须为 {', '.join(sorted(OUTCOMES))} 之一", field="outcome")
    return to


def advance(cur: Warning, act: Act, to: str, now: datetime) -> tuple[Warning, AuditEntry]:
    """The next version for ack/dispatch/handling, and its audit row."""
    w = cur.model_copy(update={"version": cur.version + 1, "state": to,
                               "updated_at": max(now, cur.updated_at)})
    return w, audit(act, cur, w.version, to, now)


def audit(act: Act, cur: Warning, version: int, to: str, now: datetime) -> AuditEntry:
    return AuditEntry(at=now, warning_id=cur.id, case_id=cur.case_id, version=version,
                      action=act.action, from_state=cur.state, to_state=to, by=act.by,
                      unit=act.unit, outcome=act.outcome, note=scrub(act.note))


def feedback_of(cur: Warning, act: Act, now: datetime) -> Feedback:
    """The ``Feedback`` a 办结 feeds back (id deterministic: one per closing version)."""
    return Feedback(id=f"FB-{cur.id}-v{cur.version + 1}", occurred_at=now, source="console",
                    case_id=cur.case_id, warning_id=cur.id, outcome=Outcome(act.outcome),
                    note=scrub(act.note), by=act.by)


def closed_version(cur: Warning, outcome: str, now: datetime) -> Warning:
    """The closing version when the warning book no longer holds the warning (after a restart
    the book starts empty; the store still has the warning)."""
    return cur.model_copy(update={"version": cur.version + 1, "state": "closed",
                                  "updated_at": max(now, cur.updated_at),
                                  "reasons": cur.reasons + [{"rule_id": "feedback", "outcome": outcome}]})


def adopt(book, w: Warning) -> None:
    """Make ``w`` the book's current version of its case (see ``WarningBook.adopt``)."""
    book.adopt(w)


def wall_now() -> datetime:
    return datetime.now(TZ)


class LastActs(OrderedDict):
    """Who last acted on each warning (for the 409 answer); bounded, oldest forgotten."""

    def __init__(self, cap: int = 50_000):
        super().__init__()
        self.cap = cap

    def note(self, entry: AuditEntry) -> None:
        self[entry.warning_id] = {"by": entry.by, "action": entry.action, "at": entry.at}
        self.move_to_end(entry.warning_id)
        while len(self) > self.cap:
            self.popitem(last=False)


# ---- SLA -----------------------------------------------------------------------------------------

class SlaScheduler:
    """签收时限 per colour. A new warning starts its timer; 签收 (or any later state) stops it;
    a breach fires ONCE. A level raised while unsigned tightens the deadline."""

    def __init__(self, limits: dict[str, float], clock: Callable[[], float] = time.time):
        self.limits, self.clock = limits, clock
        self._timers: dict[str, tuple[float, float, Warning]] = {}  # id -> (since, due, warning)
        self._fired: set[str] = set()

    def __len__(self) -> int:
        return len(self._timers)

    def track(self, w: Warning) -> None:
        if w.state != "new":
            self.stop(w.id)
            return
        limit = self.limits.get(w.level.value)
        if limit is None or w.id in self._fired:
            return
        if w.id in self._timers:
            since, due, _ = self._timers[w.id]
            self._timers[w.id] = (since, min(due, since + limit), w)
        else:
            now = self.clock()
            self._timers[w.id] = (now, now + limit, w)

    def timer(self, warning_id: str) -> tuple[float, float] | None:
        """(started, due) in clock seconds while a warning's 签收 clock runs, else None."""
        held = self._timers.get(warning_id)
        return None if held is None else (held[0], held[1])

    def stop(self, warning_id: str) -> None:
        self._timers.pop(warning_id, None)
        self._fired.discard(warning_id)

    def due(self) -> list[Warning]:
        """The warnings whose deadline passed; each is returned once."""
        now = self.clock()
        out = [w for _, due, w in self._timers.values() if due <= now]
        for w in out:
            del self._timers[w.id]
            self._fired.add(w.id)
        return out


# ---- pushes: SLA, routing and webhooks together ---------------------------------------------------

def push_view(w: Warning, centres) -> dict[str, Any]:
    """What leaves the building: no clear personal data, no evidence texts."""
    return {"warning": {"id": w.id, "version": w.version, "case_id": w.case_id,
                        "level": w.level.value, "level_label": w.level.label,
                        "score": w.score, "region_code": w.region_code,
                        "dispute_kind": w.dispute_kind.value if w.dispute_kind else "",
                        "title": scrub(w.title), "explanation": scrub(w.explanation),
                        "state": w.state, "first_at": w.first_at.isoformat(),
                        "updated_at": w.updated_at.isoformat()},
            "centres": [{"level": c.level, "region_code": c.region_code, "label": c.label}
                        for c in centres]}


class Desk:
    """Watches every warning version the runner pushes: SLA timers, and webhooks to the centres
    the routing policy names (on a new warning, a level change or a state change only, so a
    replay does not flood the centres' systems with every score update)."""

    def __init__(self, policy: Policy, sender: WebhookSender | None, *, publish=None,
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time):
        self.policy, self.sender, self.publish = policy, sender, publish
        self.sla = SlaScheduler(policy.sla, clock)
        self.breaches = Counter("yujing_sla_breaches", "Warnings not signed for in time (督办), "
                                "by level", ["level"], registry=registry or CollectorRegistry())
        self._pushed: dict[str, tuple[str, str]] = {}  # id -> (level, state) last pushed
        self.on_breach: Callable[[Warning], None] | None = None  # the runner audits it

    def observe(self, w: Warning) -> None:
        self.sla.track(w)
        mark = (w.level.value, w.state)
        if self._pushed.get(w.id) == mark:
            return
        if w.state == "closed":
            self._pushed.pop(w.id, None)
        else:
            self._pushed[w.id] = mark
        self._webhooks("warning", w, self.policy.centres(w.level.value, w.region_code))

    def tick(self) -> list[Warning]:
        """Fire the breached SLA timers (call about once a second)."""
        fired = self.sla.due()
        for w in fired:
            self.breaches.labels(w.level.value).inc()
            up = self.policy.escalation(w.level.value, w.region_code)
            if self.publish is not None:
                view = push_view(w, up)
                self.publish("sla_breach", {**view["warning"], "escalated_to": view["centres"]})
            self._webhooks("sla_breach", w, up + self.policy.centres(w.level.value, w.region_code))
            if self.on_breach is not None:
                self.on_breach(w)
        return fired

    def _webhooks(self, event: str, w: Warning, centres) -> None:
        if self.sender is None:
            return
        for hook in self.policy.webhooks_for(centres):
            self.sender.offer(hook, event, push_view(w, centres))

    def start(self, stop) -> None:
        """Start the webhook workers and the SLA ticker (in the running event loop)."""
        if self.sender is not None:
            self.sender.start()
        self._ticker = asyncio.create_task(self._tick_loop(stop))

    async def _tick_loop(self, stop, every: float = 0.5) -> None:
        while not stop.is_set():
            self.tick()
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        ticker = getattr(self, "_ticker", None)
        if ticker is not None:
            ticker.cancel()
        if self.sender is not None:
            await self.sender.close()


def open_desk(data_dir: Path, registry: CollectorRegistry, publish=None) -> Desk:
    """The desk for ``yujing run``: the routing policy from $YUJING_ROUTING_FILE, else
    DATA_DIR/routing.yaml, else sinks/routing.yaml (the default); dead letters in
    DATA_DIR/dead-letters/."""
    path = os.environ.get("YUJING_ROUTING_FILE") or (
        data_dir / "routing.yaml" if (data_dir / "routing.yaml").exists() else None)
    policy = routing.load(path)
    sender = WebhookSender(data_dir / "dead-letters" / "webhooks.jsonl", registry=registry) \
        if policy.webhooks else None
    return Desk(policy, sender, publish=publish, registry=registry)
