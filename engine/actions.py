"""HTTP routes for the centre's acts on a warning (签收, 分流, 处置, 办结).

    POST /api/warnings/{id}/ack       {"by": "张三", "version": 3}
    POST /api/warnings/{id}/dispatch  {"by": ..., "version": ..., "unit": "司法"}
    POST /api/warnings/{id}/handling  {"by": ..., "version": ...}
    POST /api/warnings/{id}/close     {"by": ..., "version": ..., "outcome": "resolved", "note": "..."}
    GET  /api/warnings/{id}/audit     the audit trail, oldest first

200 with the new version and its audit row; 404 unknown warning; 409 a stale ``version`` (names
who acted) or a move the state does not allow; 422 a malformed body, naming the field.

``by`` comes from the body until a login exists: ``actor(request, body)`` is the one place an
auth layer will replace (take the user from the session, check jurisdiction, ignore ``by``).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .lifecycle import ACTIONS, Act, ActionError

MAX_BODY = 16_384
FIELDS = {"ack": (), "dispatch": ("unit",), "handling": (), "close": ("outcome",)}


def actor(request: Request, body: dict[str, Any]) -> str:
    """Who acts. Today: the body's ``by``; later: the logged-in user (request.user)."""
    by = body.get("by")
    if not isinstance(by, str) or not by.strip() or len(by) > 64:
        raise ActionError(422, "by 须为 1-64 个字符的用户名", field="by")
    return by.strip()


def parse(action: str, wid: str, raw: bytes, request: Request) -> Act:
    if len(raw) > MAX_BODY:
        raise ActionError(413, "请求体过大")
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ActionError(422, "请求体须为 JSON 对象", field="body") from None
    if not isinstance(body, dict):
        raise ActionError(422, "请求体须为 JSON 对象", field="body")
    allowed = {"by", "version", "note", *FIELDS[action]}
    extra = sorted(set(body) - allowed)
    if extra:
        raise ActionError(422, f"未知字段 {extra[0]}", field=extra[0])
    by = actor(request, body)
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ActionError(422, "version 须为您看到的预警版本号(正整数)", field="version")
    values = {}
    for name in FIELDS[action]:
        v = body.get(name)
        if not isinstance(v, str) or not v.strip():
            raise ActionError(422, f"缺少 {name}", field=name)
        values[name] = v.strip()
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 2000:
        raise ActionError(422, "note 须为不超过 2000 字的文本", field="note")
    return Act(wid, action, by, version, note=note.strip(), **values)


def routes(runner, store, json_response) -> list[Route]:
    """The routes, bound to the runner (which applies acts) and the store (which reads)."""

    def make(action: str):
        async def handle(request: Request) -> Response:
            try:
                act = parse(action, request.path_params["wid"], await request.body(), request)
                return json_response(await runner.act(act))
            except ActionError as exc:
                return json_response(exc.body, status_code=exc.status)
        return handle

    async def audit(request: Request) -> Response:
        rows = await asyncio.to_thread(store.audit_of, request.path_params["wid"])
        return json_response(rows)

    out = [Route(f"/api/warnings/{{wid}}/{a}", make(a), methods=["POST"]) for a in ACTIONS]
    return out + [Route("/api/warnings/{wid}/audit", audit)]
