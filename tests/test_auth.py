"""Accounts, login, sessions, tokens, throttling and masking (engine/users.py, gate.py, auth.py)."""
from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from engine import auth
from engine.config import load_settings
from engine.gate import COOKIE, FREE_FAILURES, install
from engine.users import User, Users, hash_password, load_users, save_users, token_hash
from streams.errors import ConfigError

PW = "correct horse 1"


def _users(tmp_path, *extra: User) -> Users:
    path = tmp_path / "users.yaml"
    save_users(path, [
        User(login="wang", name="王值班", role="duty", centre="629901001001", password=hash_password(PW)),
        User(login="zhao", name="赵主任", role="leader", centre="629901001000", password=hash_password(PW)),
        User(login="bot", name="对接系统", role="machine", centre="629901000000",
             tokens=(token_hash("tok-123"),)),
        *extra])
    return Users(path)


def _app(users: Users | None, seen: list | None = None) -> TestClient:
    async def who(request):
        v = auth.viewer(request)
        return JSONResponse({"login": v.login, "prefix": v.region_prefix, "clear": v.clear})

    async def page(request):
        return JSONResponse({"page": True})

    app = Starlette(routes=[Route("/api/who", who), Route("/", page)])
    install(app, users, audit=(lambda *a: seen.append(a)) if seen is not None else None)
    return TestClient(app, follow_redirects=False)


def test_levels_give_region_prefixes_and_roles_give_clear_view(tmp_path):
    users = _users(tmp_path)
    wang, zhao = users.get("wang").viewer(), users.get("zhao").viewer()
    assert (wang.level, wang.region_prefix, wang.clear) == ("社区", "629901001001", False)
    assert (zhao.level, zhao.region_prefix, zhao.clear) == ("街道", "629901001", True)
    assert zhao.sees("629901001007") and not wang.sees("629901001007")


def test_without_login_api_is_401_and_pages_redirect_to_login(tmp_path):
    c = _app(_users(tmp_path))
    r = c.get("/api/who")
    assert r.status_code == 401 and r.json()["login"] == "/login"
    r = c.get("/?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/%3Fx%3D1"
    assert c.get("/login").status_code == 200 and "登录" in c.get("/login").text


def test_login_sets_a_session_that_names_the_viewer_and_logout_ends_it(tmp_path):
    c = _app(_users(tmp_path))
    assert c.post("/api/login", json={"login": "wang", "password": "wrong-one"}).status_code == 401
    r = c.post("/api/login", json={"login": "wang", "password": PW})
    assert r.status_code == 200 and COOKIE in r.cookies
    assert c.get("/api/who").json() == {"login": "wang", "prefix": "629901001001", "clear": False}
    me = c.get("/api/me").json()
    assert me["name"] == "王值班" and me["level"] == "社区" and me["auth"] is True
    c.post("/api/logout")
    assert c.get("/api/who").status_code == 401


def test_malformed_login_bodies_name_the_field(tmp_path):
    c = _app(_users(tmp_path))
    assert c.post("/api/login", content=b"{oops").json()["field"] == "body"
    assert c.post("/api/login", json={"login": "wang"}).json()["field"] == "password"
    assert c.post("/api/login", json={"login": 3, "password": "x"}).json()["field"] == "login"


def test_api_token_for_machines(tmp_path):
    c = _app(_users(tmp_path))
    assert c.get("/api/who", headers={"Authorization": "Bearer tok-123"}).json()["login"] == "bot"
    assert c.get("/api/who", headers={"Authorization": "Bearer tok-124"}).status_code == 401


def test_repeated_failed_logins_are_slowed_down_even_for_the_right_password(tmp_path):
    c = _app(_users(tmp_path))
    codes = [c.post("/api/login", json={"login": "wang", "password": f"bad-{i}"}).status_code
             for i in range(FREE_FAILURES + 1)]
    assert codes == [401] * (FREE_FAILURES + 1)
    r = c.post("/api/login", json={"login": "wang", "password": PW})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert "秒后再试" in r.json()["error"]


def test_an_account_added_to_the_file_can_log_in_without_a_restart(tmp_path):
    users = _users(tmp_path)
    c = _app(users)
    assert c.post("/api/login", json={"login": "li", "password": PW}).status_code == 401
    time.sleep(0.01)  # a new mtime
    rows = load_users(users.path) + [User(login="li", name="李", role="analyst",
                                          centre="629901000000", password=hash_password(PW))]
    save_users(users.path, rows)
    assert c.post("/api/login", json={"login": "li", "password": PW}).status_code == 200


def test_open_paths_and_auth_off(tmp_path):
    c = _app(None)
    assert c.get("/api/who").json() == {"login": "local", "prefix": "", "clear": False}
    assert c.get("/api/me").json()["auth"] is False


@pytest.mark.parametrize("item, words", [
    ({"login": "a", "name": "甲", "role": "duty", "centre": "123"}, ["user a", "centre"]),
    ({"login": "b", "name": "乙", "role": "boss", "centre": "629901001001"}, ["user b", "role"]),
    ({"login": "c", "name": "丙", "role": "duty", "centre": "629901001001", "pw": "x"}, ["user c", "pw"]),
])
def test_bad_users_file_names_the_user_and_the_field(tmp_path, item, words):
    import yaml
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"users": [item]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_users(path)
    assert all(w in str(exc.value) for w in words) and "users.yaml" in str(exc.value)


def test_auth_off_only_on_a_loopback_host():
    assert load_settings(None, auth=False, host="127.0.0.1").auth is False
    with pytest.raises(ConfigError, match="loopback"):
        load_settings(None, auth=False, host="0.0.0.0")


def test_record_bodies_are_masked_for_viewers_without_clear_view():
    body = {"caller": {"name": "王小明", "phone": "13800138000"},
            "parties": [{"name": "欧阳娜娜", "id_number": "11010519491231002X"}],
            "text": "王小明说欧阳娜娜(身份证11010519491231002X,电话138-0013-8000)要报复"}
    out = auth.mask_body(body)
    flat = repr(out)
    for clear in ("王小明", "13800138000", "11010519491231002X", "欧阳娜娜", "138-0013-8000"):
        assert clear not in flat, clear
    assert out["caller"]["name"] == "王某某" and out["parties"][0]["name"] == "欧阳某某"
    assert "要报复" in out["text"] and body["caller"]["name"] == "王小明"  # the input is untouched
