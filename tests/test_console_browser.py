"""The console in a real headless Chromium (Debian's, installed by scripts/test-deps.sh)."""
from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from .engine_proc import ROOT, yujing_run
from .test_pipeline import T0, call

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make test` (scripts/test-deps.sh installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _seconds_later(line: str, seconds: float) -> str:
    d = json.loads(line)
    d["occurred_at"] = (T0 + timedelta(seconds=seconds)).isoformat()
    return json.dumps(d, ensure_ascii=False)


def test_warning_appears_live_without_reload(tmp_path, browser):
    # played at real speed: the page is open before the threatening call arrives
    lines = [_seconds_later(call("a", 0, "邻居吵架"), 0),
             _seconds_later(call("b", 0, "邻居又吵起来了"), 1),
             _seconds_later(call("c", 0, "对方扬言要拿刀砍人,要同归于尽"), 6),
             _seconds_later(call("d", 0, "对方又拿刀来砸门"), 7)]
    src = tmp_path / "live.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with yujing_run(tmp_path / "data", "--input", str(src), "--speed", "1") as (base, _):
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        page.goto(base + "/")
        assert page.locator("#empty").is_visible(), "no warning yet when the page opens"
        page.wait_for_selector("text=实时推送", timeout=10_000)
        row = page.locator("tr.row").first
        row.wait_for(timeout=20_000)
        assert row.locator(".lv").inner_text() in ("红色", "橙色", "黄色", "蓝色")
        assert page.locator("#empty").count() == 0
        counts = sum(int(page.locator(f"#n-{k}").inner_text()) for k in ("red", "orange", "yellow", "blue"))
        assert counts == 1
        row.click()
        page.wait_for_selector("#detail pre")
        assert "扬言" in page.locator("#detail pre").inner_text()
        # the detail panel links to the warning's own page (tests/test_console_pages.py)
        assert page.locator("#open-page").get_attribute("href") == "/w/" + row.get_attribute("data-id")
        assert "13800138000" not in page.content() and "王小明" not in page.content()
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        page.screenshot(path=str(docs / "console-first-page.png"))
        page.close()


def test_big_screen_renders_charts_offline_with_chinese_text(tmp_path, browser):
    import httpx

    from .engine_proc import wait_for
    data = tmp_path / "data"
    data.mkdir()
    # a 2-second 签收 deadline for every colour: unsigned warnings are breached (督办) at once
    (data / "routing.yaml").write_text(
        "levels: {红: [区县, 街道], 橙: [区县, 街道], 黄: [街道, 社区], 蓝: [社区]}\n"
        "units: [公安, 司法]\nsla: {红: 2s, 橙: 2s, 黄: 2s, 蓝: 2s}\n", encoding="utf-8")
    with yujing_run(data, "--days", "4", "--scale", "0.3", "--speed", "0") as (base, _):
        wait_for(lambda: httpx.get(base + "/api/status").json()["done"], 120, "the city to be played")
        summary = wait_for(lambda: (s := httpx.get(base + "/api/summary").json())["sla"]["open"] and s,
                           30, "SLA breaches on the big screen's figures")
        assert summary["open"] > 0 and summary["by_district"] and summary["trend"]
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
        failed = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(base + "/screen")
        page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        assert page.locator("canvas").count() >= 2, "both ECharts charts drew"
        assert page.locator("h1").inner_text() == "综治中心风险预警大屏"
        shown = sum(int(page.locator(f"#n-{k}").inner_text()) for k in ("red", "orange", "yellow", "blue"))
        assert shown == summary["open"] == int(page.locator("#n-open").inner_text())
        assert int(page.locator("#n-sla").inner_text()) >= summary["sla"]["open"] > 0
        assert "超时于" in page.locator("#sla li").first.inner_text()
        assert outside == [] and failed == [], "the screen loads nothing from outside"
        page.screenshot(path=str(ROOT / "docs" / "big-screen.png"))
        page.close()


def test_acknowledging_in_one_browser_updates_another(tmp_path, browser):
    import httpx

    from .engine_proc import wait_for
    lines = [_seconds_later(call(r, 0, t), s) for r, t, s in
             [("a", "邻居吵架", 0), ("b", "邻居又吵起来了", 1), ("c", "对方扬言要拿刀砍人,要同归于尽", 2),
              ("d", "对方又拿刀来砸门", 3)]]
    src = tmp_path / "acts.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with yujing_run(tmp_path / "data", "--input", str(src), "--speed", "0") as (base, _):
        wid = wait_for(lambda: (r := httpx.get(base + "/api/warnings").json()) and r[0]["id"], 30,
                       "a warning")
        duty, watcher = browser.new_context(), browser.new_context()
        a, b = duty.new_page(), watcher.new_page()
        for page in (a, b):
            page.goto(base + "/")
            page.wait_for_selector("text=实时推送", timeout=10_000)
        a.fill("#me", "张值班")
        a.locator(f"#w-{wid}").click()
        a.locator("button[data-act='ack']").click()
        # the other context, never reloaded, sees the state change pushed over SSE
        b.locator(f"#w-{wid}").get_by_text("已签收").wait_for(timeout=10_000)
        audit = httpx.get(base + f"/api/warnings/{wid}/audit").json()
        assert [(r["action"], r["by"]) for r in audit] == [("ack", "张值班")]
        assert httpx.get(base + f"/api/warnings/{wid}").json()["versions"][-1]["state"] == "acknowledged"
        duty.close()
        watcher.close()
