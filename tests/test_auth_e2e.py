"""Who sees what, against a real ``yujing run`` with login on (engine/gate.py, engine/auth.py).

Two 社区 under one 街道, a threatening dispute in each: a 社区 duty officer sees and acts on
their own 社区 only (the other's warning is 404 everywhere, and the attempt is audited); the
街道 leader sees both and sees the records in clear (audited); an analyst reads but cannot act;
records stay masked for a role without clear view."""
from __future__ import annotations

import subprocess

import httpx

from .engine_proc import ROOT, YUJING, wait_for, yujing_run
from .test_console_browser import browser  # noqa: F401  (the same Chromium fixture)
from .test_pipeline import call

PW = "pass-for-tests-1"
A, B = "629901001001", "629901001002"  # two 社区 of 街道 629901001


def add_user(data, login, name, role, centre):
    res = subprocess.run([*YUJING, "users", "--data-dir", str(data), "add", login, "--name", name,
                          "--role", role, "--centre", centre, "--password-stdin"],
                         input=PW + "\n", cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def client(base, login) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=10)
    r = c.post("/api/login", json={"login": login, "password": PW})
    assert r.status_code == 200, r.text
    return c


def city(tmp_path):
    lines = []
    texts = ("邻居吵架", "他扬言要拿刀砍人", "又来闹,说要同归于尽", "报警人称对方拿刀在门口")
    for i, (hours, text) in enumerate(zip((0, 20, 30, 40), texts)):
        lines.append(call(f"a{i}", hours, text, addr="和平路8号", region=A))
        lines.append(call(f"b{i}", hours + 1, text, addr="胜利街3号", region=B,
                          caller={"phone": "13900139000", "name": "李大同"}))
    src = tmp_path / "two.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


def test_jurisdiction_roles_masking_and_audit(tmp_path):
    data = tmp_path / "data"
    add_user(data, "wang", "王值班", "duty", A)
    add_user(data, "zhao", "赵主任", "leader", "629901001000")
    add_user(data, "ana", "钱研判", "analyst", "629901001000")
    with yujing_run(data, "--input", str(city(tmp_path)), "--speed", "0", auth=True) as (base, _):
        assert httpx.get(base + "/api/warnings").status_code == 401
        assert httpx.get(base + "/", follow_redirects=False).status_code == 303
        assert httpx.get(base + "/metrics").status_code == 200  # ops scrape without a login
        zhao, wang, ana = client(base, "zhao"), client(base, "wang"), client(base, "ana")

        both = wait_for(lambda: (lambda rows: rows if {r["region_code"] for r in rows} == {A, B} else None)(
            zhao.get("/api/warnings").json()), 60, "warnings in both 社区")
        mine = wang.get("/api/warnings").json()
        assert mine and {r["region_code"] for r in mine} == {A}
        wa = next(r for r in both if r["region_code"] == A)
        wb = next(r for r in both if r["region_code"] == B)

        # the other 社区's warning does not exist for wang: read, act, audit trail
        unknown = wang.get("/api/warnings/W-no-such-id")
        for r in (wang.get(f"/api/warnings/{wb['id']}"), unknown):
            assert r.status_code == 404
        assert wang.get(f"/api/warnings/{wb['id']}").json() == unknown.json()
        assert wang.post(f"/api/warnings/{wb['id']}/ack", json={"version": wb["version"]}).status_code == 404
        assert wang.get(f"/api/warnings/{wb['id']}/audit").status_code == 404
        denied = wait_for(lambda: [a for a in zhao.get(f"/api/warnings/{wb['id']}/audit").json()
                                   if a["action"] == "denied"], 20, "the denied look audited")
        assert all(a["by"] == "王值班(wang)" for a in denied)

        # masked for the duty officer, clear for the leader (and the clear view is audited)
        masked = wang.get(f"/api/warnings/{wa['id']}", params={"full": "1"})
        assert masked.status_code == 200 and masked.json()["records"] >= 3
        assert "13800138000" not in masked.text and "王小明" not in masked.text
        assert "138****8000" in masked.text
        clear = zhao.get(f"/api/warnings/{wa['id']}", params={"full": "1"})
        assert "13800138000" in clear.text
        wait_for(lambda: any(a["action"] == "view_clear" and a["by"] == "赵主任(zhao)"
                             for a in zhao.get(f"/api/warnings/{wa['id']}/audit").json()),
                 20, "the clear view audited")

        # an analyst reads but does not act; the duty officer acts, as himself
        assert ana.get(f"/api/warnings/{wa['id']}").status_code == 200
        r = ana.post(f"/api/warnings/{wa['id']}/ack", json={"version": wa["version"]})
        assert r.status_code == 403 and "不能处置" in r.json()["error"]
        r = wang.post(f"/api/warnings/{wa['id']}/ack", json={"by": "冒名", "version": wa["version"]})
        assert r.status_code == 200, r.text
        assert r.json()["audit"]["by"] == "王值班(wang)"
        assert r.json()["warning"]["state"] == "acknowledged"

        # the big screen's figures count only the jurisdiction
        s_wang, s_zhao = wang.get("/api/summary").json(), zhao.get("/api/summary").json()
        assert s_zhao["open"] == 2 and s_wang["open"] == 1


def test_browser_login_jurisdiction_and_masking(tmp_path, browser):  # noqa: F811
    """In Chromium: the 社区 officer logs in through /login, sees only his 社区, cannot open the
    other 社区's warning page, and sees the records masked."""
    data = tmp_path / "data"
    add_user(data, "wang", "王值班", "duty", A)
    add_user(data, "zhao", "赵主任", "leader", "629901001000")
    with yujing_run(data, "--input", str(city(tmp_path)), "--speed", "0", auth=True) as (base, _):
        zhao = client(base, "zhao")
        both = wait_for(lambda: (lambda rows: rows if {r["region_code"] for r in rows} == {A, B} else None)(
            zhao.get("/api/warnings").json()), 60, "warnings in both 社区")
        wa = next(r for r in both if r["region_code"] == A)
        wb = next(r for r in both if r["region_code"] == B)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(base + "/")
        page.wait_for_selector("#login")
        assert "/login?next=" in page.url
        page.fill("#login", "wang")
        page.fill("#password", "wrong-password")
        page.click("button[type=submit]")
        page.wait_for_selector("text=账号或密码错误")
        page.fill("#password", PW)
        page.click("button[type=submit]")
        page.wait_for_selector("tr.row", timeout=20_000)
        ids = {i.removeprefix("w-") for i in page.locator("tr.row").evaluate_all("rs => rs.map(r => r.id)")}
        assert ids == {wa["id"]}
        assert "王值班" in page.locator("header").inner_text()

        page.goto(f"{base}/w/{wb['id']}")
        page.wait_for_selector("#missing", state="visible", timeout=10_000)
        assert "李大同" not in page.content() and "13900139000" not in page.content()

        page.goto(f"{base}/w/{wa['id']}")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        timeline = page.locator("#timeline").inner_text()
        assert "扬言" in timeline
        assert "13800138000" not in page.content() and "王小明" not in page.content()
        assert "138****8000" in page.content() or "王某某" in page.content()
        page.close()
