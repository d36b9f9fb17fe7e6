"""The console's door: login, sessions, API tokens and slowed-down failed logins.

``install(app, users, audit=...)`` adds ``/login`` (a Chinese page), ``POST /api/login``,
``POST /api/logout``, ``GET /api/me`` and an ASGI middleware that puts the ``Viewer`` of every
request into ``scope["yujing.viewer"]`` (see engine/auth.py).  Without a valid session cookie or
``Authorization: Bearer <token>``, ``/api/*`` answers 401 and pages redirect to ``/login``.
``/metrics``, ``/healthz``, ``/login`` and ``/static`` stay open (ops scrape the metrics).

Sessions live in memory (a restart logs everyone out) for ``SESSION_HOURS``, a duty shift.
Failed logins are throttled per account and per client address: after ``FREE_FAILURES``
failures in ``WINDOW`` seconds every further attempt waits ``2**k`` seconds (up to ``MAX_WAIT``),
answered 429 with ``Retry-After`` — the right password included, until the wait is over.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from streams.errors import ConfigError

from .auth import LOCAL, Viewer, viewer
from .users import Users

log = logging.getLogger("yujing.gate")

COOKIE = "yujing_session"
SESSION_HOURS = 12.0
FREE_FAILURES, WINDOW, MAX_WAIT = 5, 900.0, 300.0
OPEN_PATHS = ("/metrics", "/healthz", "/login", "/api/login", "/static/", "/favicon.ico")
LOGIN_PAGE = Path(__file__).with_name("console") / "login.html"


class Sessions:
    def __init__(self, hours: float = SESSION_HOURS, clock: Callable[[], float] = time.time):
        self.ttl, self.clock = hours * 3600, clock
        self._by_hash: dict[str, tuple[str, float]] = {}

    @staticmethod
    def _h(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open(self, login: str) -> str:
        token = secrets.token_urlsafe(32)
        self._by_hash[self._h(token)] = (login, self.clock() + self.ttl)
        if len(self._by_hash) > 10_000:  # forget the expired ones now and then
            now = self.clock()
            self._by_hash = {k: v for k, v in self._by_hash.items() if v[1] > now}
        return token

    def login_of(self, token: str) -> str | None:
        held = self._by_hash.get(self._h(token))
        if held is None or held[1] <= self.clock():
            return None
        return held[0]

    def close(self, token: str) -> None:
        self._by_hash.pop(self._h(token), None)


class Throttle:
    """Failures per key (an account, a client address) within a sliding window.

    >>> t = Throttle(clock=lambda: 100.0)
    >>> for _ in range(5): t.fail("wang")
    >>> t.wait("wang")
    0.0
    >>> t.fail("wang"); t.wait("wang")
    2.0
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._fails: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._fails.get(key, ()) if now - t < WINDOW]
        if recent:
            self._fails[key] = recent
        else:
            self._fails.pop(key, None)
        return recent

    def fail(self, key: str) -> None:
        self._recent(key)
        self._fails.setdefault(key, []).append(self.clock())
        if len(self._fails) > 100_000:
            self._fails.clear()  # a flood of keys: start over rather than grow

    def wait(self, key: str) -> float:
        """Seconds this key must still wait before another attempt (0 = may try now)."""
        recent = self._recent(key)
        extra = len(recent) - FREE_FAILURES
        if extra <= 0:
            return 0.0
        return max(0.0, min(MAX_WAIT, 2.0 ** extra) - (self.clock() - recent[-1]))

    def clear(self, key: str) -> None:
        self._fails.pop(key, None)


def _client(scope) -> str:
    c = scope.get("client")
    return f"ip:{c[0]}" if c else "ip:?"


class Gate:
    """Sessions, the failed-login throttle and the login routes over one ``Users`` file
    (``users`` None = auth off: everyone is the local operator, see engine/auth.py)."""

    def __init__(self, users: Users | None, audit: Callable[..., None] | None = None):
        self.users, self.audit = users, audit
        self.sessions, self.throttle = Sessions(), Throttle()

    def _refresh(self) -> None:
        try:
            self.users.refresh()
        except ConfigError as exc:  # a broken edit of the file: keep the accounts already loaded
            log.warning("users file not reloaded: %s", exc)

    def viewer_of(self, scope) -> Viewer | None:
        if self.users is None:
            return LOCAL
        self._refresh()
        headers = dict(scope.get("headers") or ())
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            user = self.users.by_token(auth[7:].strip())
        else:
            token = Request(scope).cookies.get(COOKIE)
            login = self.sessions.login_of(token) if token else None
            user = self.users.get(login) if login else None
        return user.viewer() if user is not None else None

    # ---- routes ---------------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        return HTMLResponse(LOGIN_PAGE.read_text(encoding="utf-8"),
                            media_type="text/html; charset=utf-8")

    async def login(self, request: Request) -> Response:
        if self.users is None:
            return JSONResponse({"error": "本机未启用登录(auth 关闭)"}, status_code=404)
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "请求体须为 JSON 对象", "field": "body"}, status_code=422)
        for name in ("login", "password"):
            v = body.get(name)
            if not isinstance(v, str) or not v or len(v) > 256:
                return JSONResponse({"error": f"缺少 {name}", "field": name}, status_code=422)
        login = body["login"].strip()
        keys = (f"login:{login}", _client(request.scope))
        wait = max(self.throttle.wait(k) for k in keys)
        if wait > 0:
            return JSONResponse({"error": f"登录失败次数过多,请 {int(wait) + 1} 秒后再试"},
                                status_code=429, headers={"Retry-After": str(int(wait) + 1)})
        self._refresh()
        user = await asyncio.to_thread(self.users.check_password, login, body["password"])
        if user is None:
            for k in keys:
                self.throttle.fail(k)
            log.info("failed console login for account %s", login[:32])
            await asyncio.sleep(0.3)  # every failure costs the guesser time
            return JSONResponse({"error": "账号或密码错误"}, status_code=401)
        for k in keys:
            self.throttle.clear(k)
        resp = JSONResponse({"login": user.login, "name": user.name, "role": user.role,
                             "level": user.level})
        resp.set_cookie(COOKIE, self.sessions.open(user.login), max_age=int(SESSION_HOURS * 3600),
                        httponly=True, samesite="strict", path="/")
        return resp

    async def logout(self, request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            self.sessions.close(token)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE, path="/")
        return resp

    async def me(self, request: Request) -> Response:
        v = viewer(request)
        return JSONResponse({"login": v.login, "name": v.name, "role": v.role, "level": v.level,
                             "region_prefix": v.region_prefix, "clear": v.clear,
                             "auth": self.users is not None})


class GateMiddleware:
    """Puts the viewer (and the audit hook) into every request's scope, or turns it away."""

    def __init__(self, app, gate: Gate):
        self.app, self.gate = app, gate

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if self.gate.audit is not None:
            scope["yujing.audit"] = self.gate.audit
        path = scope.get("path", "")
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in OPEN_PATHS):
            return await self.app(scope, receive, send)
        v = self.gate.viewer_of(scope)
        if v is None:
            if path.startswith("/api/"):
                resp: Response = JSONResponse({"error": "请先登录", "login": "/login"},
                                              status_code=401)
            else:
                qs = scope.get("query_string", b"").decode("latin-1")
                resp = RedirectResponse("/login?next=" + quote(path + ("?" + qs if qs else ""),
                                                               safe="/"), status_code=303)
            return await resp(scope, receive, send)
        scope["yujing.viewer"] = v
        await self.app(scope, receive, send)


def install(app, users: Users | None, audit: Callable[..., None] | None = None) -> Gate:
    """Add the gate and its routes to a Starlette ``app`` (before it starts)."""
    gate = Gate(users, audit)
    app.add_middleware(GateMiddleware, gate=gate)
    app.add_route("/login", gate.login_page, methods=["GET"])
    app.add_route("/api/login", gate.login, methods=["POST"])
    app.add_route("/api/logout", gate.logout, methods=["POST"])
    app.add_route("/api/me", gate.me, methods=["GET"])
    return gate
