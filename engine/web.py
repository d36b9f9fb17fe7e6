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

from . import actions
from .metrics import Metrics
from .summary import summarise

CONSOLE_DIR = Path(__file__).with_name("console")
CONSOLE = CONSOLE_DIR / "index.html"
SCREEN = CONSOLE_DIR / "screen.html"
SUMMARY_ROWS = 10_000  # the big screen's figures are computed over this many latest warnings


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JSONResponse(Response):
    """JSON with Chinese kept readable and times as ISO 8601."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=_jsonable).encode("utf-8")


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ValueError(f"query parameter {name} must be an integer in [{lo}, {hi}]")
    return int(raw)


def make_app(store: Store, hub: SseHub, metrics: Metrics, status: Callable[[], dict[str, Any]],
             stop: asyncio.Event | None = None, *, runner=None) -> Starlette:
    """``runner`` (with its desk) adds the acts' routes (engine/actions.py) and 分流 hints."""
    page = CONSOLE.read_text(encoding="utf-8")
    screen_page = SCREEN.read_text(encoding="utf-8")

    async def console(request: Request) -> Response:
        return HTMLResponse(page, media_type="text/html; charset=utf-8")

    async def screen(request: Request) -> Response:
        return HTMLResponse(screen_page, media_type="text/html; charset=utf-8")

    async def summary(request: Request) -> Response:
        rows = await asyncio.to_thread(store.latest_warnings, SUMMARY_ROWS, "")
        return JSONResponse(summarise(rows))

    async def warnings(request: Request) -> Response:
        try:
            limit = _int_param(request, "limit", 200, 1, 5000)
        except ValueError as exc:
            return JSONResponse({"error": str(exc), "field": "limit"}, status_code=422)
        region = request.query_params.get("region", "")
        if region and not region.isdigit():
            return JSONResponse({"error": "region must be digits (a region code prefix)",
                                 "field": "region"}, status_code=422)
        rows = await asyncio.to_thread(store.latest_warnings, limit, region)
        return JSONResponse(rows)

    async def warning(request: Request) -> Response:
        rows = await asyncio.to_thread(store.warning_history, request.path_params["wid"])
        if not rows:
            return JSONResponse({"error": "no such warning"}, status_code=404)
        out = {"id": request.path_params["wid"], "versions": rows}
        if runner is not None:
            out["audit"] = await asyncio.to_thread(store.audit_of, request.path_params["wid"])
            if runner.desk is not None:
                policy = runner.desk.policy
                out["units"] = list(policy.units)
                out["suggested_units"] = policy.suggest(rows[-1].get("dispute_kind"))
        return JSONResponse(out)

    async def stream(request: Request) -> Response:
        async def gen():
            metrics.sse_clients.inc()
            try:
                async for msg in hub.listen(stop):
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
        Route("/", console),
        Route("/screen", screen),
        Route("/api/summary", summary),
        Mount("/static", StaticFiles(directory=CONSOLE_DIR / "static"), name="static"),
        Route("/api/warnings", warnings),
        Route("/api/warnings/{wid}", warning),
        Route("/api/stream", stream),
        Route("/api/status", status_view),
        Route("/metrics", metrics_view),
        Route("/healthz", health),
    ])
