"""The console's pages in a real headless Chromium against a real ``yujing run``: a warning's own
page (timeline, relationship graph, history, SLA clock), the list's server-side filters, and the
analysts' page (per-rule figures computed by the engine from its store)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest

from .engine_proc import ROOT, wait_for, yujing_run
from .test_console_browser import browser  # noqa: F401  (the same Chromium fixture)
from .test_pipeline import call

PHONES = {"A": "13800138000", "B": "13900139000", "C": "13700137000"}
NAMES = {"A": "王小明", "B": "李大勇", "C": "赵小刚"}
REGIONS = {"A": "629901001002", "B": "629901002003", "C": "629902001001"}
TEXTS = ["邻居吵架", "邻居又吵起来了", "对方扬言要拿刀砍人,要同归于尽", "对方又拿刀来砸门"]


def _lines() -> list[str]:
    out = []
    for case, region in REGIONS.items():
        for i, text in enumerate(TEXTS):
            d = json.loads(call(f"{case}{i}", i + {"A": 0, "B": 10, "C": 20}[case], text,
                                phone=PHONES[case], addr=f"{case}路{i % 1 + 8}号", region=region))
            d["caller"]["name"] = NAMES[case]
            out.append(json.dumps(d, ensure_ascii=False))
    return out


def _act(base: str, wid: str, action: str, **extra) -> dict:
    version = httpx.get(f"{base}/api/warnings/{wid}").json()["versions"][-1]["version"]
    r = httpx.post(f"{base}/api/warnings/{wid}/{action}", json={"by": "测试员", "version": version, **extra},
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One engine for the module: three cases in three regions; A closed 民转刑, B closed 化解,
    C left open; a saved backtest report in DATA_DIR/backtests/."""
    tmp = tmp_path_factory.mktemp("pages")
    src = tmp / "cases.jsonl"
    src.write_text("\n".join(_lines()) + "\n", encoding="utf-8")
    data = tmp / "data"
    (data / "backtests").mkdir(parents=True)
    res = subprocess.run([sys.executable, "-m", "engine.cli", "backtest", "--rules", str(ROOT / "rules" / "packs"),
                          "--input", str(src), "--out", str(data / "backtests" / "cases-blue.json"), "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    with yujing_run(data, "--input", str(src), "--speed", "0") as (base, _):
        rows = wait_for(lambda: len(r := httpx.get(base + "/api/warnings?state=open").json()) == 3 and r,
                        60, "three warnings")
        ids = {next(c for c, reg in REGIONS.items() if w["region_code"] == reg): w["id"] for w in rows}
        for case, outcome in (("A", "escalated_criminal"), ("B", "resolved")):
            _act(base, ids[case], "ack")
            _act(base, ids[case], "close", outcome=outcome, note="测试办结")
        wait_for(lambda: len(httpx.get(base + "/api/warnings?state=closed").json()) == 2, 30, "two closed")
        yield base, ids


def _no_clear_data(html: str) -> None:
    for v in [*PHONES.values(), *NAMES.values()]:
        assert v not in html, f"{v} shown in clear"


def test_warning_page_shows_timeline_graph_history_and_sla(run, browser):  # noqa: F811
    base, ids = run
    page = browser.new_page(viewport={"width": 1500, "height": 1250})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}/w/{ids['C']}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    # the timeline: the case's four records, oldest first, with the signals they raised
    items = page.locator("#timeline li.record")
    assert items.count() == len(TEXTS)
    whens = page.locator("#timeline li.record .when").all_inner_texts()
    assert whens == sorted(whens) and len(set(whens)) == len(TEXTS)
    assert "扬言" in items.nth(2).inner_text()
    assert page.locator("#timeline .sig").count() >= 2, "signals shown under their records"
    # the graph: ECharts drew a canvas from the case's people, phone and address
    assert page.locator("#graph canvas").count() >= 1
    assert int(page.locator("#graph").get_attribute("data-nodes")) >= 4
    assert int(page.locator("#graph").get_attribute("data-links")) >= 3
    # history and the SLA clock (C is new: its 签收 timer runs)
    api = httpx.get(f"{base}/api/warnings/{ids['C']}").json()
    assert page.locator("#history tbody tr").count() == len(api["versions"])
    assert page.locator("#sla").get_attribute("data-status") == "running"
    assert "剩余" in page.locator("#sla").inner_text()
    assert page.locator("button[data-act='ack']").is_visible()
    assert "王某" not in page.content() and "赵某某" in page.content(), "masked party names"
    _no_clear_data(page.content())
    assert outside == [], "the page loads nothing from outside"
    page.screenshot(path=str(ROOT / "docs" / "console-warning-page.png"), full_page=True)
    # 签收 on the page: a new version in the history, the clock stopped
    page.fill("#me", "张值班")
    page.locator("button[data-act='ack']").click()
    page.wait_for_selector("#sla[data-status='stopped']", timeout=10_000)
    assert page.locator("#history tbody tr").count() == len(api["versions"]) + 1
    assert "张值班 签收" in page.locator("#audit").inner_text()
    # a closed one shows its acts in the history, and its clock stopped at 签收
    page.goto(f"{base}/w/{ids['A']}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert page.locator("#sla").get_attribute("data-status") == "stopped"
    audit = page.locator("#audit").inner_text()
    assert "签收" in audit and "办结" in audit and "民转刑" in audit
    page.goto(f"{base}/w/W-nope")
    page.wait_for_selector("#missing", state="visible", timeout=10_000)
    page.close()


def _ids_shown(page) -> set[str]:
    return {i.removeprefix("w-") for i in page.locator("tr.row").evaluate_all("rs => rs.map(r => r.id)")}


def _reload_done(page, before: str) -> None:
    page.wait_for_function("b => document.body.dataset.loaded && document.body.dataset.loaded !== b",
                           arg=before, timeout=10_000)


def test_filters_narrow_the_list(run, browser):  # noqa: F811
    base, ids = run
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    page.goto(base + "/?state=all")
    page.wait_for_selector("text=实时推送", timeout=10_000)
    assert _ids_shown(page) == set(ids.values())

    def choose(selector: str, value: str, fill: bool = False) -> None:
        before = page.evaluate("document.body.dataset.loaded")
        if fill:
            page.fill(selector, value)
            page.dispatch_event(selector, "change")
        else:
            page.select_option(selector, value)
        _reload_done(page, before)

    choose("select[name=state]", "closed")
    assert _ids_shown(page) == {ids["A"], ids["B"]}
    assert "state=closed" in page.url, "the filter is in the address (a shareable link)"
    choose("input[name=region]", "629901001", fill=True)
    assert _ids_shown(page) == {ids["A"]}
    shown = sum(int(page.locator(f"#n-{k}").inner_text()) for k in ("red", "orange", "yellow", "blue"))
    assert shown == 1 and "符合条件 1 条" in page.locator("#total").inner_text()
    choose("select[name=state]", "open")
    assert _ids_shown(page) == set() and page.locator("#empty").is_visible()
    choose("input[name=region]", "6299", fill=True)
    assert _ids_shown(page) == {ids["C"]}
    level = httpx.get(f"{base}/api/warnings/{ids['C']}").json()["versions"][-1]["level"]
    other = next(lv for lv in ("red", "orange", "yellow", "blue") if lv != level)
    choose("select[name=level]", other)
    assert _ids_shown(page) == set()
    choose("select[name=level]", level)
    assert _ids_shown(page) == {ids["C"]}
    page.close()


def test_analyst_page_shows_per_rule_figures_from_the_run(run, browser):  # noqa: F811
    base, ids = run
    # what the engine decided: the rules behind each closed warning (its reasons)
    rules_of = {c: {r["rule_id"] for v in httpx.get(f"{base}/api/warnings/{ids[c]}").json()["versions"]
                    for r in v["reasons"] if r["rule_id"] != "feedback"} for c in ("A", "B", "C")}
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    page.goto(base + "/analyst")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert page.locator(".pack").count() >= 5
    assert page.locator("#profile").inner_text() == "当前研判模式:平时"
    assert re.fullmatch(r"\d+", page.locator(".pack .version").first.inner_text())
    checked = 0
    for rid in rules_of["A"] | rules_of["B"]:
        row = page.locator(f"#live tr[data-rule='{rid}']")
        judged = sum(rid in rules_of[c] for c in ("A", "B"))
        confirmed = int(rid in rules_of["A"])
        hit = sum(rid in rules_of[c] for c in ("A", "B", "C"))
        assert row.locator(".judged").inner_text() == str(judged), rid
        assert row.locator(".confirmed").inner_text() == str(confirmed), rid
        assert row.locator(".cases").inner_text() == str(hit), rid
        assert row.locator(".precision").inner_text() == f"{confirmed / judged * 100:.1f}%", rid
        checked += 1
    assert checked >= 2
    assert page.locator("#shadow tr[data-rule]").count() >= 1, "shadow rules listed beside live ones"
    assert "精确率 = 证实 ÷ 已研判" in page.locator("#definition").inner_text()
    page.locator("a[data-name='cases-blue.json']").click()
    page.wait_for_selector("#report table", timeout=10_000)
    assert page.locator("#report tbody tr").count() >= 5
    page.screenshot(path=str(ROOT / "docs" / "console-analyst.png"), full_page=True)
    page.close()
