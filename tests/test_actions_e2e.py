"""The closed loop through a real ``yujing run``: HTTP acts, SLA 督办 on a short policy, signed
webhooks to a real receiver, and what the store holds afterwards."""
from __future__ import annotations

import json
import re
import time

import httpx

from sinks.webhook import verify

from .engine_proc import read_store, stop, wait_for, yujing_run
from .test_webhook import Receiver

SECRET = "e2e-secret-0123456789"
SLA_S = 6


def _breaches(base: str) -> float:
    text = httpx.get(base + "/metrics").text
    return sum(float(v) for v in re.findall(r'^yujing_sla_breaches_total\{level="\w+"\} (\S+)$',
                                            text, re.M))


def test_acts_sla_and_webhooks_end_to_end(tmp_path):
    rx = Receiver()
    data = tmp_path / "data"
    data.mkdir()
    (data / "routing.yaml").write_text(
        "levels: {红: [区县, 街道], 橙: [区县, 街道], 黄: [街道, 社区], 蓝: [社区]}\n"
        "units: [公安, 司法, 妇联]\n"
        f"sla: {{红: {SLA_S}s, 橙: {SLA_S}s, 黄: {SLA_S}s, 蓝: {SLA_S}s}}\n"
        f"webhooks:\n  - {{name: 区中心, url: '{rx.url}', secret: {SECRET}, centre: '629901000000'}}\n",
        encoding="utf-8")
    try:
        with yujing_run(data, "--days", "3", "--scale", "0.3", "--speed", "0") as (base, proc):
            rows = wait_for(lambda: httpx.get(base + "/api/warnings").json(), 30, "a warning")
            t_acked = time.monotonic()
            w = rows[0]
            url = f"{base}/api/warnings/{w['id']}"
            seen = w["version"]
            for _ in range(10):  # the replay may still be adding evidence: take the new version
                r = httpx.post(url + "/ack", json={"by": "张三", "version": seen})
                if r.status_code != 409:
                    break
                assert r.json()["by"] == "" and "新的证据" in r.json()["error"]
                seen = r.json()["version"]
            assert r.status_code == 200, r.text
            w["version"] = seen
            # the warning was on the console (so timed) before we saw it: signed well inside SLA
            assert time.monotonic() - t_acked < SLA_S - 2, "the ack came too late to test this"
            v = r.json()["warning"]["version"]
            assert v == w["version"] + 1 and r.json()["warning"]["state"] == "acknowledged"
            late = httpx.post(url + "/ack", json={"by": "李四", "version": w["version"]})
            assert late.status_code == 409 and late.json()["by"] == "张三"
            assert httpx.post(f"{base}/api/warnings/W-nope/ack",
                              json={"by": "张三", "version": 1}).status_code == 404
            for body, field in (({"by": "张三"}, "version"), ({"version": v}, "by"),
                                ({"by": "张三", "version": v}, "unit"),
                                ({"by": "张三", "version": v, "unit": "司法", "x": 1}, "x")):
                bad = httpx.post(url + "/dispatch", json=body)
                assert (bad.status_code, bad.json()["field"]) == (422, field), bad.text
            assert httpx.post(url + "/dispatch", content=b"{oops").json()["field"] == "body"
            v = httpx.post(url + "/dispatch", json={"by": "张三", "version": v, "unit": "司法"}).json()["warning"]["version"]
            v = httpx.post(url + "/handling", json={"by": "王五", "version": v}).json()["warning"]["version"]
            closed = httpx.post(url + "/close", json={"by": "王五", "version": v, "outcome": "resolved",
                                                      "note": "已化解"})
            assert closed.status_code == 200 and closed.json()["warning"]["state"] == "closed"
            detail = httpx.get(url).json()
            assert [a["action"] for a in detail["audit"]] == ["ack", "dispatch", "handling", "close"]
            assert detail["units"] == ["公安", "司法", "妇联"]
            # every warning not signed for breaches once, SLA_S seconds after it was first seen
            n_open = len([x for x in httpx.get(base + "/api/warnings?limit=5000").json()
                          if x["state"] == "new"])
            assert n_open > 0
            wait_for(lambda: _breaches(base) >= n_open, SLA_S + 20, "SLA breaches")
            time.sleep(1.5)
            assert _breaches(base) == n_open, "a breach fires once per warning"
            audit = httpx.get(url + "/audit").json()
            assert "sla_breach" not in [a["action"] for a in audit], "signed in time: no 督办"
            other = next(x for x in httpx.get(base + "/api/warnings?limit=5000").json()
                         if x["state"] == "new")
            oa = httpx.get(f"{base}/api/warnings/{other['id']}/audit").json()
            assert [a["action"] for a in oa] == ["sla_breach"] and "督办" in oa[0]["note"]
            metrics = httpx.get(base + "/metrics").text
            code, _ = stop(proc)
        assert code == 0
    finally:
        rx.close()
    # the webhook receiver got signed pushes for its district only, no clear personal data
    assert rx.got, "the district centre's system got no push"
    for headers, body, _ in rx.got:
        assert verify(body, headers, SECRET, window=120)
        payload = json.loads(body)
        assert payload["event"] in ("warning", "sla_breach")
        assert any(c["region_code"] == "629901000000" for c in payload["centres"])
        text = json.dumps(payload["warning"], ensure_ascii=False)
        assert not re.search(r"(?<!\d)(1[3-9]\d{9}|\d{17}[\dX])(?!\d)", text), text
    breaches = [json.loads(b) for _, b, _ in rx.got if json.loads(b)["event"] == "sla_breach"]
    above = {"red": "city", "orange": "city", "yellow": "district"}  # 督办: one level up
    assert breaches and all(b["centres"][0]["level"] == above[b["warning"]["level"]]
                            for b in breaches)
    assert 'yujing_push_failures_total' not in metrics or \
        not re.search(r'^yujing_push_failures_total\{.*\} [1-9]', metrics, re.M)
    closed_row, fb = read_store(data, f"[[r for r in store.latest_warnings(5000) if r['id'] == {w['id']!r}],"
                                      f" store.query(\"SELECT outcome, by FROM yujing.feedback FINAL"
                                      f" WHERE warning_id = '{w['id']}'\")]")
    assert closed_row[0]["state"] == "closed"
    assert fb == [{"outcome": "resolved", "by": "王五"}]
