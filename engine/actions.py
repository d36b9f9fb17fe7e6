"""HTTP routes for the centre's acts on a warning (签收, 分流, 处置, 办结).

    POST /api/warnings/{id}/ack       {"by": "张三", "version": 3}
    POST /api/warnings/{id}/dispatch  {"by": ..., "version": ..., "unit": "司法"}
    POST /api/warnings/{id}/handling  {"by": ..., "version": ...}
    POST /api/warnings/{id}/close     {"by": ..., "version": ..., "outcome": "resolved", "note": "..."}
    GET  /api/warnings/{id}/audit     the audit trail, oldest first

200 with the new version and its audit row; 404 unknown warning; 409 a stale ``version`` (names
who acted) or a move the state does not allow; 422 a malformed body, naming the field.

With login on (engine/gate.py) the actor is the logged-in user and ``by`` is ignored; a
warning outside the user's jurisdiction answers 404 as if it did not exist (and is audited);
roles ``analyst`` and ``leader`` read but do not act (403).  With login off (a loopback demo)
``by`` names the operator.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import auth
from .lifecycle import ACTIONS, Act, ActionError

MAX_BODY = 16_384
FIELDS = {"ack": (), "dispatch": ("unit",), "handling": (), "close": ("outcome",)}


ACTING_ROLES = ("duty", "admin", "machine")


def actor(request: Request, body: dict[str, Any]) -> str:
    """Who acts: the logged-in user, or with login off the body's ``by``."""
    v = auth.viewer(request)
    if v is not auth.LOCAL:
        if v.role not in ACTING_ROLES:
            raise ActionError(403, f"{v.name}的角色只能查看,不能处置预警")
        return f"{v.name}({v.login})"
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

    async def visible(request: Request, wid: str) -> None:
        """404 for a warning outside the viewer's jurisdiction, as for an unknown one."""
        v = auth.viewer(request)
        if not v.region_prefix:
            return
        rows = await asyncio.to_thread(store.warning_history, wid)
        if rows and not v.sees(rows[-1].get("region_code")):
            auth.note_denied(request, wid)
            raise ActionError(404, "预警不存在", warning_id=wid)

    def make(action: str):
        async def handle(request: Request) -> Response:
            try:
                act = parse(action, request.path_params["wid"], await request.body(), request)
                await visible(request, act.warning_id)
                return json_response(await runner.act(act))
            except ActionError as exc:
                return json_response(exc.body, status_code=exc.status)
        return handle

    async def audit(request: Request) -> Response:
        try:
            await visible(request, request.path_params["wid"])
        except ActionError as exc:
            return json_response(exc.body, status_code=exc.status)
        rows = await asyncio.to_thread(store.audit_of, request.path_params["wid"])
        return json_response(rows)

    out = [Route(f"/api/warnings/{{wid}}/{a}", make(a), methods=["POST"]) for a in ACTIONS]
    return out + [Route("/api/warnings/{wid}/audit", audit)]
