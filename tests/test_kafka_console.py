"""``yujing console`` on Kafka, end to end: a real broker, a real ClickHouse server, a real
``yujing worker`` and the console as the user starts them.

The console reads the store the worker wrote and pushes the warnings topic; the centre's acts go
as act records through the events topic to the worker that owns the case, and the console answers
with the worker's result. A restarted worker rebuilds its state from the log, acts included: the
closed warning stays closed. With login on (engine/gate.py): a 社区 duty officer sees his 社区's
warnings only, his act is applied by the worker in his name, another 社区's warning is 404.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from sinks.clickhouse_server import ServerStore
from streams.topics import H_REASON, H_RECORD_ID

from .engine_proc import ROOT, free_port, terminate
from .kafka_fixtures import headers_of, read_all, wait_until, worker_process, yujing_kafka
from .test_pipeline import call

pytestmark = pytest.mark.integration
# one case: repeated calls, then threats (an orange warning, see tests/test_acts_apply.py)
THREATS = [call("a", 0), call("b", 20), call("c", 30, "他扬言要拿刀砍人"),
           call("d", 40, "又来闹,说要同归于尽"), call("e", 44, "报警人称对方拿刀在门口")]
LATER = [call("g", 60, "对方又来砸门,扬言同归于尽")]   # the same case, after the restart


@contextmanager
def console_process(bootstrap: str, prefix: str, data_dir, store_url: str, log_path, auth: bool = False):
    """``yujing console`` on a free port (login off unless ``auth``: the local operator acts);
    yields its URL."""
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli_kafka", "console", "--bootstrap", bootstrap,
                             "--topic-prefix", prefix, "--data-dir", str(data_dir), "--store", store_url,
                             "--port", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1",
                                 "YUJING_AUTH": "true" if auth else "false"})
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(up, 60, "console start", proc, logs=[log_path])
        yield base, proc
    finally:
        terminate(proc, signal.SIGTERM)
        log.close()


class SseTap:
    """Collects the console's live push (/api/stream) in a thread."""

    def __init__(self, base: str):
        self.lines: list[str] = []
        threading.Thread(target=self._run, args=(base,), daemon=True).start()

    def _run(self, base: str) -> None:
        try:
            with httpx.stream("GET", base + "/api/stream", timeout=None) as r:
                for line in r.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError:
            pass

    def saw(self, text: str) -> bool:
        return any(text in ln for ln in list(self.lines))


def ingest(bootstrap, topics, lines, path):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yujing_kafka("ingest", str(path), "--bootstrap", bootstrap, "--topic-prefix", topics.prefix, "--quiet")


def test_console_acts_go_through_the_worker_and_survive_its_rebuild(kafka_broker, kafka_topics,
                                                                     clickhouse_server, fresh_db, tmp_path):
    bootstrap, url = kafka_broker.bootstrap, clickhouse_server.url(fresh_db)
    wdata, logs = tmp_path / "worker", [tmp_path / "console.log", tmp_path / "w1.log", tmp_path / "w2.log"]
    ingest(bootstrap, kafka_topics, THREATS, tmp_path / "threats.jsonl")
    with console_process(bootstrap, kafka_topics.prefix, tmp_path / "console", url, logs[0]) as (base, con):
        tap = SseTap(base)
        time.sleep(0.5)   # the tap is listening before the worker produces
        with worker_process(bootstrap, kafka_topics.prefix, wdata, logs[1], "--store", url) as wk:
            rows = wait_until(lambda: httpx.get(base + "/api/warnings").json(), 90,
                              "the warning in the console's list", wk, con, logs=logs)
            assert len(rows) == 1 and rows[0]["state"] == "new"
            w = rows[0]
            api = f"{base}/api/warnings/{w['id']}"
            wait_until(lambda: tap.saw(f'"id": "{w["id"]}"'), 20, "the live push", con, logs=logs)

            seen = w["version"]
            for _ in range(5):   # the worker may still be adding evidence: take its version
                r = httpx.post(api + "/ack", json={"by": "张三", "version": seen}, timeout=30)
                if r.status_code != 409:
                    break
                seen = r.json()["version"]
            assert r.status_code == 200, r.text
            got = r.json()
            assert (got["warning"]["id"], got["warning"]["version"], got["warning"]["state"]) == \
                (w["id"], seen + 1, "acknowledged")
            assert (got["audit"]["action"], got["audit"]["by"], got["audit"]["version"]) == ("ack", "张三", seen + 1)

            t0 = time.perf_counter()
            late = httpx.post(api + "/ack", json={"by": "李四", "version": seen}, timeout=30)
            t_refused = time.perf_counter() - t0
            assert late.status_code == 409, late.text
            assert late.json()["by"] == "张三" and "张三" in late.json()["error"]
            assert late.json()["version"] == seen + 1

            bad_unit = httpx.post(api + "/dispatch", json={"by": "张三", "version": seen + 1, "unit": "火星"})
            assert (bad_unit.status_code, bad_unit.json()["field"]) == (422, "unit")
            assert httpx.post(f"{base}/api/warnings/W-nope/ack",
                              json={"by": "张三", "version": 1}).status_code == 404

            t0 = time.perf_counter()
            closed = httpx.post(api + "/close", json={"by": "王五", "version": seen + 1, "outcome": "resolved",
                                                      "note": "已化解"}, timeout=30)
            t_closed = time.perf_counter() - t0
            assert closed.status_code == 200, closed.text
            assert (closed.json()["warning"]["version"], closed.json()["warning"]["state"]) == (seen + 2, "closed")
            detail = httpx.get(api).json()
            assert (detail["versions"][-1]["version"], detail["versions"][-1]["state"]) == (seen + 2, "closed")
            assert [a["action"] for a in detail["audit"]] == ["ack", "close"]
            assert tap.saw('"state": "closed"'), "the closing version is pushed live"

        dead = read_all(bootstrap, kafka_topics.dead_letters)[kafka_topics.dead_letters]
        refused = [headers_of(m) for m in dead if headers_of(m).get(H_REASON) == "act_refused"]
        assert len(refused) == 1 and refused[0][H_RECORD_ID].startswith("A-"), "the stale ack is in the log"
        with ServerStore(url) as s:
            fb = s.query(f"SELECT warning_id, outcome, by FROM {fresh_db}.feedback FINAL")
        assert fb == [{"warning_id": w["id"], "outcome": "resolved", "by": "王五"}]

        # a restart rebuilds the partition from the log (acts included) before the next record
        ingest(bootstrap, kafka_topics, LATER, tmp_path / "later.jsonl")
        with worker_process(bootstrap, kafka_topics.prefix, wdata, logs[2], "--store", url) as wk:
            def took_later():
                with ServerStore(url) as s:
                    return s.query(f"SELECT count() AS n FROM {fresh_db}.records FINAL WHERE id = 'g'")[0]["n"]
            wait_until(took_later, 90, "the restarted worker taking the later record", wk, con, logs=logs)
            assert "state rebuilt from" in logs[2].read_text()
            again = httpx.post(api + "/ack", json={"by": "李四", "version": seen + 2}, timeout=30)
            assert again.status_code == 409 and again.json()["state"] == "closed", again.text
            versions = httpx.get(api).json()["versions"]
            assert (versions[-1]["version"], versions[-1]["state"]) == (seen + 2, "closed"), \
                "the rebuilt worker resurrected a closed warning"
    print(f"act round trips through the worker: refused {t_refused * 1000:.0f} ms, "
          f"close {t_closed * 1000:.0f} ms")


def test_console_with_login_acts_in_the_officers_name_within_his_region(kafka_broker, kafka_topics,
                                                                         clickhouse_server, fresh_db, tmp_path):
    from .test_auth_e2e import A, B, PW, add_user, city
    bootstrap, url = kafka_broker.bootstrap, clickhouse_server.url(fresh_db)
    cdata, logs = tmp_path / "console", [tmp_path / "console.log", tmp_path / "w.log"]
    add_user(cdata, "wang", "王值班", "duty", A)              # 社区 A's duty officer
    add_user(cdata, "zhao", "赵主任", "leader", A[:9] + "000")  # the 街道 over A and B
    yujing_kafka("ingest", str(city(tmp_path)), "--bootstrap", bootstrap,
                 "--topic-prefix", kafka_topics.prefix, "--quiet")
    with console_process(bootstrap, kafka_topics.prefix, cdata, url, logs[0], auth=True) as (base, con), \
            worker_process(bootstrap, kafka_topics.prefix, tmp_path / "w", logs[1], "--store", url) as wk:
        assert httpx.get(base + "/api/warnings").status_code == 401
        wang, zhao = (httpx.Client(base_url=base, timeout=30) for _ in range(2))
        for c, login in ((wang, "wang"), (zhao, "zhao")):
            assert c.post("/api/login", json={"login": login, "password": PW}).status_code == 200
        both = wait_until(lambda: (lambda rows: rows if {r["region_code"] for r in rows} == {A, B} else None)(
            zhao.get("/api/warnings").json()), 90, "warnings in both 社区", wk, con, logs=logs)
        wa = next(r for r in both if r["region_code"] == A)
        wb = next(r for r in both if r["region_code"] == B)
        assert [r["id"] for r in wang.get("/api/warnings").json()] == [wa["id"]]

        seen = wa["version"]
        for _ in range(5):   # the worker may still be adding evidence: take its version
            r = wang.post(f"/api/warnings/{wa['id']}/ack", json={"by": "冒名", "version": seen})
            if r.status_code != 409:
                break
            seen = r.json()["version"]
        assert r.status_code == 200, r.text
        assert r.json()["audit"]["by"] == "王值班(wang)", "the act is in the logged-in user's name"
        assert r.json()["warning"]["state"] == "acknowledged"

        # the other 社区's warning does not exist for him: read and act
        assert wang.get(f"/api/warnings/{wb['id']}").status_code == 404
        assert wang.post(f"/api/warnings/{wb['id']}/ack", json={"version": wb["version"]}).status_code == 404
        assert zhao.get(f"/api/warnings/{wb['id']}").json()["versions"][-1]["state"] == "new"

    # the worker wrote the audit row, in his name; the console never published an act for B
    with ServerStore(url) as s:
        rows = s.query(f"SELECT warning_id, action, by FROM {fresh_db}.audit FINAL WHERE action = 'ack'")
    assert rows == [{"warning_id": wa["id"], "action": "ack", "by": "王值班(wang)"}]
    acts = [json.loads(m.value) for m in read_all(bootstrap, kafka_topics.events)[kafka_topics.events]
            if headers_of(m).get("yujing-kind") == "act"]
    assert [(a["warning_id"], a["by"]) for a in acts] == [(wa["id"], "王值班(wang)")]
