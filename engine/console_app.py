"""``yujing console``: the centre's console in the Kafka deployment (no pipeline of its own).

The same Starlette app as ``yujing run`` (engine/web.py ``make_app``, with the login layer of
engine/gate.py) over the ClickHouse store the workers write. What ``yujing run``'s runner does in
process is done here through Kafka:

* live push: a consumer tails the warnings topic from its latest offset (no consumer group) and
  publishes every warning version to the SSE hub;
* acts (签收/分流/处置/办结, engine/actions.py): the console does NOT change a warning itself. It
  publishes an act record (``streams.records.ActRecord``) to the events topic, keyed by the
  区县 or 街道 of the warning's region (``key_level``: the one ``yujing ingest`` keys by), so the worker owning the case's partition — the single writer of
  its warning book — applies it in log order (engine/worker_acts.py), and a rebuild from the log
  reproduces the state. The HTTP request waits (``act_timeout``, default 10 s, then 503
  "引擎繁忙") for the answer, matched by act id: the new version on the warnings topic, or the
  refusal on the dead-letter topic. Same JSON and status codes as ``yujing run``;
* SLA timers (engine/lifecycle.py ``Desk``) run here, because the console sees every warning
  version: a breach is pushed, counted and audited in the store. Timers start when the console
  first sees a warning (at start: the store's unsigned warnings), so a console restart restarts
  the clocks; run one console per deployment or the breaches are audited once per console;
* looks at a warning (view_clear, denied) are audited in the store directly (not warning state).
"""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
import uuid
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from sinks.sse import SseHub
from sinks.store import AuditEntry, StoreBatch
from sinks.webhook import scrub
from streams.codec import encode
from streams.records import ActRecord, Warning
from streams.ident import subdistrict_of
from streams.topics import (DEFAULT_KEY_LEVEL, H_KIND, H_SUBDISTRICT, Topics, header_map, headers,
                            key_of, partition_for)

from . import lifecycle as lc
from .acts_apply import breach_entry
from .runner import warning_view
from .worker_acts import H_ACT_ANSWER, H_ACT_AUDIT, H_ACT_ID, H_ACT_STATUS

log = logging.getLogger("yujing.console")
DESK_PRIME = 20_000   # unsigned warnings read from the store at start for the SLA clocks


class KafkaActs:
    """What engine/web.py wants of a runner (``act``, ``desk``, ``pipeline`` for the rules in use,
    ``note_access``), done over Kafka. ``start()`` before serving, ``close()`` after."""

    def __init__(self, store, bootstrap: str, topics: Topics, desk: lc.Desk, hub: SseHub, *,
                 act_timeout: float = 10.0, detectors: list | None = None,
                 key_level: str = DEFAULT_KEY_LEVEL):
        self.store, self.bootstrap, self.topics = store, bootstrap, topics
        key_of("629901001002", key_level)   # an unknown level fails here, not at the first act
        self.key_level = key_level
        self.desk, self.hub, self.act_timeout = desk, hub, act_timeout
        self.pipeline = SimpleNamespace(detectors=detectors or [])  # rule metadata only
        self.counts = {"warnings_seen": 0, "acts_sent": 0, "acts_done": 0, "acts_refused": 0,
                       "acts_timed_out": 0, "bad_messages": 0}
        self.store_counts: dict[str, int] = {}
        self._waiting: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._partitions = 0
        self.desk.on_breach = lambda w: self._audit(breach_entry(self.desk.policy, w, lc.wall_now()))

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
        self.prod = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id="yujing-console",
                                     acks="all", enable_idempotence=True)
        await self.prod.start()
        parts = await self.prod.partitions_for(self.topics.events)
        if not parts:
            raise RuntimeError(f"topic {self.topics.events} does not exist (run `yujing topics create`)")
        self._partitions = len(parts)
        self.cons = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                     enable_auto_commit=False, client_id="yujing-console",
                                     auto_offset_reset="latest")
        await self.cons.start()
        tps = [TopicPartition(t, p) for t in (self.topics.warnings, self.topics.dead_letters)
               for p in sorted(await self.prod.partitions_for(t))]
        self.cons.assign(tps)
        await self.cons.seek_to_end(*tps)
        for tp in tps:   # fix the positions now: an answer published after this is not missed
            await self.cons.position(tp)
        await self._prime_desk()
        self._spawn(self._tail())
        self._spawn(self._count_store())

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for part in ("cons", "prod"):
            client = getattr(self, part, None)
            if client is not None:
                await client.stop()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prime_desk(self) -> None:
        rows = await asyncio.to_thread(self.store.latest_warnings, DESK_PRIME)
        n = 0
        for row in rows:
            if row.get("state") == "new":
                self.desk.sla.track(Warning.model_validate(row))
                n += 1
        log.info("SLA clocks started for %d unsigned warnings from the store", n)

    # ---- the centre's acts -------------------------------------------------------------------------
    async def act(self, act: lc.Act) -> dict[str, Any]:
        """Publish ``act`` for the worker that owns the warning and wait for its answer."""
        rows = await asyncio.to_thread(self.store.warning_history, act.warning_id)
        if not rows:
            raise lc.ActionError(404, "预警不存在", warning_id=act.warning_id)
        cur = rows[-1]
        # the 分流 units are the console's policy: checked here, not by the worker, so that a
        # replay of old acts never depends on today's routing file (see engine/worker_acts.py)
        if act.action == "dispatch" and act.unit not in self.desk.policy.units:
            raise lc.ActionError(422, f"未知的分流部门 {act.unit!r}", field="unit")
        try:
            rec = ActRecord(id=f"A-{uuid.uuid4().hex}", occurred_at=lc.wall_now(), source="console",
                            warning_id=act.warning_id, case_id=cur["case_id"],
                            region_code=cur["region_code"], action=act.action, by=act.by,
                            version=act.version, unit=act.unit, outcome=act.outcome,
                            note=scrub(act.note))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            name = ".".join(str(p) for p in err.get("loc", ())) or "body"
            raise lc.ActionError(422, f"{name} 无效:{err.get('msg', '')}", field=name) from None
        key = key_of(rec.region_code, self.key_level)   # the partition of the warning's case
        sub = subdistrict_of(rec.region_code)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rec.id] = fut
        try:
            try:
                await self.prod.send_and_wait(
                    self.topics.events, encode(rec).encode("utf-8"), key=key.encode(),
                    partition=partition_for(key, self._partitions),
                    headers=headers(**{H_KIND: "act", H_SUBDISTRICT: sub}))
            except Exception as exc:  # the broker is away: nothing was published
                log.warning("publishing act %s failed: %r", rec.id, exc)
                raise lc.ActionError(503, "引擎繁忙(消息队列不可用),请稍后重试") from None
            self.counts["acts_sent"] += 1
            try:
                return await asyncio.wait_for(asyncio.shield(fut), self.act_timeout)
            except asyncio.TimeoutError:
                self.counts["acts_timed_out"] += 1
                raise lc.ActionError(503, f"引擎繁忙(处理进程未在 {self.act_timeout:g} 秒内应答),"
                                          "操作可能稍后生效,请刷新后查看", act_id=rec.id) from None
        finally:
            self._waiting.pop(rec.id, None)

    def note_access(self, action: str, viewer, warning_id: str, note: str) -> None:
        """Audit a look at a warning (engine/auth.py): written to the store in the background."""
        self._audit(AuditEntry(at=lc.wall_now(), warning_id=warning_id, case_id="", version=0,
                               action=action, from_state="", to_state="",
                               by=f"{viewer.name}({viewer.login})", note=note,
                               key=f"{viewer.login}@{time.time_ns()}"))

    def _audit(self, entry: AuditEntry) -> None:
        async def write() -> None:
            try:
                await asyncio.to_thread(self.store.write, StoreBatch(audit=[entry]))
            except Exception as exc:  # noqa: BLE001 - an audit row lost is logged, never fatal
                log.error("audit %s of %s not written: %r", entry.action, entry.warning_id, exc)
        self._spawn(write())

    # ---- the warnings and dead-letter topics -------------------------------------------------------
    async def _tail(self) -> None:
        while True:
            got = await self.cons.getmany(timeout_ms=500, max_records=2000)
            for tp in sorted(got, key=lambda t: (t.topic, t.partition)):
                for m in got[tp]:
                    try:
                        self._on_message(m)
                    except Exception as exc:  # noqa: BLE001 - a bad message never stops the tail
                        self.counts["bad_messages"] += 1
                        log.warning("%s[%d]@%d not understood: %r", m.topic, m.partition, m.offset, exc)

    def _on_message(self, m) -> None:
        h = header_map(m.headers)
        act_id = h.get(H_ACT_ID)
        fut = self._waiting.get(act_id) if act_id else None
        if m.topic == self.topics.warnings:
            w = Warning.model_validate_json(m.value)
            view = warning_view(w)
            self.counts["warnings_seen"] += 1
            self.hub.publish("warning", view)
            self.desk.observe(w)
            if fut is not None and not fut.done():
                self.counts["acts_done"] += 1
                fut.set_result({"warning": view, "audit": json.loads(h[H_ACT_AUDIT])})
        elif fut is not None and not fut.done() and H_ACT_STATUS in h:
            body = json.loads(h.get(H_ACT_ANSWER) or "{}")
            message = body.pop("error", "操作被拒绝")
            self.counts["acts_refused"] += 1
            fut.set_exception(lc.ActionError(int(h[H_ACT_STATUS]), message, **body))

    async def _count_store(self, every: float = 10.0) -> None:
        while True:
            try:
                self.store_counts = await asyncio.to_thread(self.store.counts)
            except Exception as exc:  # noqa: BLE001 - the status line waits for the store
                log.debug("store counts: %r", exc)
            await asyncio.sleep(every)

    def status(self) -> dict[str, Any]:
        """The console's status line (/api/status): what the store holds, what the console saw."""
        c = self.store_counts
        return {"mode": "kafka", "records": c.get("records", 0), "rejects": c.get("rejects", 0),
                "warnings": c.get("warnings", 0), "event_time": "", "done": False, **self.counts}


async def serve_console(settings, bootstrap: str, topics: Topics, store, *,
                        act_timeout: float = 10.0, key_level: str = DEFAULT_KEY_LEVEL) -> None:
    """Serve until SIGINT/SIGTERM."""
    import uvicorn

    from rules.detector import PackDetector
    from rules.packs import load_packs
    from rules.reload import PackReloader

    from . import gate
    from .app import prime_desk_metrics
    from .metrics import Metrics
    from .users import open_users
    from .web import make_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    hub = SseHub()
    desk = lc.open_desk(settings.data_dir, metrics.registry, hub.publish)
    prime_desk_metrics(desk)
    detector = PackDetector(load_packs(settings.rules_dir).specs)  # the rules the workers run
    reloader = PackReloader(settings.rules_dir, detector, profile_file=settings.data_dir / "rules-profile")
    metrics.set_pack_versions(reloader.versions())
    users = open_users(settings)
    acts = KafkaActs(store, bootstrap, topics, desk, hub, act_timeout=act_timeout,
                     detectors=[detector], key_level=key_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await acts.start()
    app = make_app(store, hub, metrics, acts.status, stop, runner=acts, data_dir=settings.data_dir)
    gate.install(app, users, audit=acts.note_access)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                           log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None
    serve_task = asyncio.create_task(server.serve())
    desk.start(stop)
    try:
        while not server.started:
            if serve_task.done():
                serve_task.result()
                raise SystemExit(f"could not serve on {settings.host}:{settings.port}")
            await asyncio.sleep(0.05)
        log.info("console on http://%s:%d/ (Kafka %s, topics %s.*)", settings.host, settings.port,
                 bootstrap, topics.prefix)
        await stop.wait()
    finally:
        server.should_exit = True
        await serve_task
        await desk.close()
        await acts.close()
