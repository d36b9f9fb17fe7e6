"""The HTTP side of ``yujing run``: the console page, its JSON API, SSE push and /metrics.

One Starlette app; the store is read in a worker thread (its own lock serialises access).
"""
from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sinks.sse import SseHub
from sinks.store import Store
from streams.codes import DisputeKind

from . import actions
from . import web_analyst as wa
from . import web_warning as ww
from .auth import note_denied, present_records, viewer
from .metrics import Metrics
from .summary import summarise
from .web_cache import TtlCache
from .web_query import ParamError, parse_list

CONSOLE_DIR = Path(__file__).with_name("console")
CONSOLE = CONSOLE_DIR / "index.html"
SCREEN = CONSOLE_DIR / "screen.html"
SUMMARY_ROWS = 10_000  # the big screen's figures are computed over this many latest warnings
LIST_CACHE_SECONDS = 0.5  # /api/warning-list answers at most this old (live changes go by SSE)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JSONResponse(Response):
    """JSON with Chinese kept readable and times as ISO 8601."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=_jsonable).encode("utf-8")


def _page(path: Path) -> Callable:
    html = path.read_text(encoding="utf-8")

    async def serve(request: Request) -> Response:
        return HTMLResponse(html, media_type="text/html; charset=utf-8")
    return serve


def _light(row: dict) -> dict:
    """A list row: the explanation and the evidence stay on the warning's page."""
    out = {k: v for k, v in row.items() if k not in ("explanation", "reasons", "record_ids")}
    out["rules"] = [r.get("rule_id") for r in row.get("reasons") or [] if r.get("rule_id") != "feedback"]
    return out


def make_app(store: Store, hub: SseHub, metrics: Metrics, status: Callable[[], dict[str, Any]],
             stop: asyncio.Event | None = None, *, runner=None,
             data_dir: Path | None = None) -> Starlette:
    """``runner`` (with its desk) adds the acts' routes (engine/actions.py), 分流 hints, the SLA
    clock and the rules in use; ``data_dir`` the saved backtest reports (DATA_DIR/backtests/)."""
    desk = getattr(runner, "desk", None)
    list_cache = TtlCache(LIST_CACHE_SECONDS)  # the console's list: see engine/web_cache.py

    async def summary(request: Request) -> Response:
        rows = await asyncio.to_thread(store.latest_warnings, SUMMARY_ROWS,
                                       viewer(request).region_prefix)
        breaches = await asyncio.to_thread(store.audit_by_action, "sla_breach", SUMMARY_ROWS)
        return JSONResponse(summarise(rows, breaches=breaches))

    def _query(request: Request, **kw):
        return parse_list(request.query_params, viewer_prefix=viewer(request).region_prefix, **kw)

    async def warnings(request: Request) -> Response:
        """The latest version of each warning, filtered: a bare list (the first API's shape)."""
        try:
            q = _query(request, default_limit=200)
        except ParamError as exc:
            return JSONResponse(exc.body(), status_code=422)
        if q.empty:
            return JSONResponse([], headers={"X-Total-Count": "0"})
        page = await asyncio.to_thread(store.warning_page, q.filter, sort=q.sort, desc=q.desc,
                                       offset=q.offset, limit=q.limit)
        return JSONResponse(page["rows"], headers={"X-Total-Count": str(page["total"])})

    async def warning_list(request: Request) -> Response:
        """One page of the list with its total and counts by level (see docs/console.md)."""
        try:
            q = _query(request)
        except ParamError as exc:
            return JSONResponse(exc.body(), status_code=422)
        out = {"offset": q.offset, "limit": q.limit, "sort": q.sort,
               "order": "desc" if q.desc else "asc", "region_prefix": q.filter.region_prefix}
        if q.empty:
            return JSONResponse({**out, "total": 0, "rows": [],
                                 "by_level": {lv: 0 for lv in ("red", "orange", "yellow", "blue")}})

        async def read() -> bytes:
            page = await asyncio.to_thread(store.warning_page, q.filter, sort=q.sort, desc=q.desc,
                                           offset=q.offset, limit=q.limit)
            return JSONResponse({**out, "total": page["total"], "by_level": page["by_level"],
                                 "rows": [_light(r) for r in page["rows"]]}).body
        return Response(await list_cache.get(q, read), media_type="application/json")

    async def warning(request: Request) -> Response:
        wid = request.path_params["wid"]
        rows = await asyncio.to_thread(store.warning_history, wid)
        if rows and not viewer(request).sees(rows[-1]["region_code"]):
            note_denied(request, wid)
            rows = []
        if not rows:
            return JSONResponse({"error": "no such warning"}, status_code=404)
        latest = rows[-1]
        out: dict[str, Any] = {"id": wid, "versions": rows}
        audit = await asyncio.to_thread(store.audit_of, wid) if runner is not None else []
        if runner is not None:
            out["audit"] = audit
            if desk is not None:
                out["units"] = list(desk.policy.units)
                out["suggested_units"] = desk.policy.suggest(latest.get("dispute_kind"))
        out["sla"] = ww.sla_view(desk, latest, audit)
        if request.query_params.get("full") == "1":
            mv = await asyncio.to_thread(ww.read_merges, store, latest["case_id"], wid)
            of_case = await asyncio.to_thread(ww.records_of_cases, store, mv["cases"])
            raw = await asyncio.to_thread(store.get_records, ww.record_ids(rows, of_case))
            signals = await asyncio.to_thread(ww.signals_of_cases, store, mv["cases"])
            out["merges"] = mv
            shown = present_records(request, raw, warning_id=wid)
            out["timeline"] = ww.timeline(shown, signals)
            out["graph"] = ww.case_graph(latest["case_id"], raw, signals)
            out["records"] = len(shown)
        return JSONResponse(out)

    async def meta(request: Request) -> Response:
        """What the list's filter menus offer: dispute kinds and the rules in use."""
        return JSONResponse({
            "dispute_kinds": [{"value": k.value, "label": k.label} for k in DisputeKind],
            "rules": sorted(wa.rule_meta(runner).values(), key=lambda m: (m["pack"], m["rule_id"]))})

    async def analyst_packs(request: Request) -> Response:
        return JSONResponse(wa.packs_view(runner, metrics))

    async def analyst_profile(request: Request) -> Response:
        return JSONResponse(wa.profile_view(runner))

    async def analyst_rules(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(
            wa.rules_view, store, runner, viewer(request).region_prefix))

    async def analyst_backtests(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(wa.backtest_list, data_dir))

    async def analyst_backtest(request: Request) -> Response:
        rep = await asyncio.to_thread(wa.backtest_file, data_dir, request.path_params["name"])
        if rep is None:
            return JSONResponse({"error": "no such backtest report"}, status_code=404)
        return JSONResponse(rep)

    async def stream(request: Request) -> Response:
        prefix = viewer(request).region_prefix

        async def gen():
            metrics.sse_clients.inc()
            try:
                async for msg in hub.listen(stop, region_prefix=prefix):
                    yield msg
            finally:
                metrics.sse_clients.dec()
        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def status_view(request: Request) -> Response:
        return JSONResponse(status())

    async def metrics_view(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    acts = actions.routes(runner, store, JSONResponse) if runner is not None else []
    return Starlette(routes=acts + [
        Route("/", _page(CONSOLE)),
        Route("/screen", _page(SCREEN)),
        Route("/w/{wid}", _page(CONSOLE_DIR / "warning.html")),
        Route("/analyst", _page(CONSOLE_DIR / "analyst.html")),
        Route("/api/summary", summary),
        Mount("/static", StaticFiles(directory=CONSOLE_DIR / "static"), name="static"),
        Route("/api/warnings", warnings),
        Route("/api/warning-list", warning_list),
        Route("/api/warnings/{wid}", warning),
        Route("/api/meta", meta),
        Route("/api/analyst/packs", analyst_packs),
        Route("/api/analyst/rules", analyst_rules),
        Route("/api/analyst/profile", analyst_profile),
        Route("/api/analyst/backtests", analyst_backtests),
        Route("/api/analyst/backtests/{name}", analyst_backtest),
        Route("/api/stream", stream),
        Route("/api/status", status_view),
        Route("/metrics", metrics_view),
        Route("/healthz", health),
    ])
