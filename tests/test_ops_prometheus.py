"""Ops against a real Prometheus (Debian's ``prometheus`` 2.42 with ``promtool``; installed by
scripts/test-deps.sh): the alert rules pass ``promtool check``/``promtool test`` (and those tests
can fail), and every panel of the Grafana dashboard returns data when a real Prometheus scrapes
a running ``yujing run`` (panels of scope "all"/"run") or a running ``yujing worker`` on a real
Kafka broker (scope "all"/"kafka"). Missing binaries fail the tests; nothing is skipped."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from streams.simulate import SimConfig, generate

from .engine_proc import free_port, terminate, yujing_run
from .kafka_fixtures import worker_process, yujing_kafka

ROOT = Path(__file__).resolve().parents[1]
PROM_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "yujing.json"
RATE_WINDOW = "20s"    # stands for Grafana's $__rate_interval (the test scrapes every second)


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: run scripts/test-deps.sh (apt-get install -y prometheus)",
                    pytrace=False)
    return exe


def promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def panels(*scopes: str) -> list[dict]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [p for p in dash["panels"] if p["yujing_scope"] in scopes]


def promql(expr: str, job: str) -> str:
    """A dashboard expression as Prometheus's API takes it (Grafana's variables filled in)."""
    return expr.replace("$__rate_interval", RATE_WINDOW).replace("$job", job)


# ---- the alert rules -------------------------------------------------------------------------
def test_alert_rules_check_and_pass_their_unit_tests():
    res = promtool("check", "rules", "alerts.yml")
    assert res.returncode == 0 and "8 rules found" in res.stdout, res.stdout + res.stderr
    res = promtool("test", "rules", "alerts_test.yml")
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr
    res = promtool("check", "config", "prometheus.yml")
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_quiet_case():
    alerts = {r["alert"] for g in yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
              for r in g["rules"]}
    cases = [c for t in yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text())["tests"]
             for c in t["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == firing == quiet


@pytest.mark.parametrize("old,new,alert", [
    ("> 1000\n", "> 100000\n", "YujingConsumerLagGrowing"),
    ("> 15 * 60", "> 60 * 60", "YujingNoRecords"),
    ("increase(yujing_sink_errors_total[5m]) > 0", "increase(yujing_sink_errors_total[5m]) > 100",
     "YujingSinkFailing"),
])
def test_the_alert_unit_tests_catch_a_broken_rule(tmp_path, old, new, alert):
    shutil.copy(PROM_DIR / "alerts_test.yml", tmp_path)
    text = (PROM_DIR / "alerts.yml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "alerts.yml").write_text(text.replace(old, new, 1), encoding="utf-8")
    res = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert res.returncode != 0 and alert in res.stdout + res.stderr


# ---- the dashboard ----------------------------------------------------------------------------
def test_dashboard_covers_the_centres_panels_and_docs_name_every_metric():
    ps = panels("all", "run", "kafka")
    assert len(ps) == len(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]), "a panel without scope"
    exprs = " ".join(t["expr"] for p in ps for t in p["targets"])
    used = set(re.findall(r"yujing_[a-z_]+", exprs))
    for metric in ("yujing_records_in_total", "yujing_rejects_total", "yujing_warnings_total",
                   "yujing_detector_seconds_bucket", "yujing_push_latency_seconds_bucket",
                   "yujing_sink_errors_total", "yujing_spool_batches", "yujing_sla_breaches_total",
                   "yujing_consumer_lag", "yujing_open_cases"):
        assert metric in used, metric
    alerts = set(re.findall(r"yujing_[a-z_]+", (PROM_DIR / "alerts.yml").read_text()))
    docs = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    for metric in used | alerts:
        base = re.sub(r"_(bucket|sum|count)$", "", metric)
        assert f"`{base}`" in docs, f"{base} is not in docs/ops.md's metrics table"
    ids = [p["id"] for p in ps]
    assert len(set(ids)) == len(ids) and all(p["title"] and p["targets"] for p in ps)


# ---- a real Prometheus ---------------------------------------------------------------------------
class Prom:
    def __init__(self, base: str):
        self.base = base

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(self.base + "/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", f"{expr}: {r.text[:500]}"
        return body["data"]["result"]

    def get(self, path: str, **params) -> dict:
        r = httpx.get(self.base + path, params=params, timeout=10)
        assert r.status_code == 200, r.text[:500]
        return r.json()["data"]


@contextmanager
def prometheus(tmp_path: Path, jobs: dict[str, list[str]]):
    """Our own Prometheus on 127.0.0.1 (config and storage under ``tmp_path``), scraping ``jobs``
    every second and evaluating deploy/prometheus/alerts.yml every second."""
    exe = tool("prometheus")
    port = free_port()
    cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
           "rule_files": [str(PROM_DIR / "alerts.yml")],
           "scrape_configs": [{"job_name": j, "static_configs": [{"targets": t}]} for j, t in jobs.items()]}
    cfg_path = tmp_path / "prometheus.yml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    log = open(tmp_path / "prometheus.log", "w+")
    proc = subprocess.Popen([exe, f"--config.file={cfg_path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                if httpx.get(base + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus did not get ready within 30 s")
            time.sleep(0.2)
        yield Prom(base)
    finally:
        terminate(proc, 15)
        log.close()


def wait_for_panels(prom: Prom, ps: list[dict], job: str, timeout: float, extra=()) -> dict[str, list]:
    """Poll until every target of every panel (and every ``extra`` expression) has a result."""
    exprs = [promql(t["expr"], job) for p in ps for t in p["targets"]] + list(extra)
    deadline = time.monotonic() + timeout
    while True:
        got = {e: prom.query(e) for e in exprs}
        empty = [e for e, res in got.items() if not res]
        if not empty:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("no data for:\n  " + "\n  ".join(empty))
        time.sleep(1)


ID_OR_PHONE = re.compile(r"\d{17}[\dXx]|(?<!\d)1\d{10}(?!\d)")


def assert_no_personal_data(prom: Prom, job: str) -> int:
    series = prom.get("/api/v1/series", **{"match[]": f'{{job="{job}"}}'})
    assert series
    for s in series:
        for k, v in s.items():
            assert not ID_OR_PHONE.search(v), f"{s['__name__']}{{{k}={v!r}}}"
    return len(series)


def routing_with_failing_webhook(path: Path) -> Path:
    """Every colour to the district centre of the test city (629901), SLAs of 1 s (so 督办 happens
    for real) and a webhook to a port where nothing listens (so pushes fail for real)."""
    path.write_text(
        "levels: {红: [区县], 橙: [区县], 黄: [区县], 蓝: [区县]}\n"
        "units: [公安, 司法]\n"
        "sla: {红: 1s, 橙: 1s, 黄: 1s, 蓝: 1s}\n"
        "webhooks:\n"
        "  - name: 测试区综治中心\n"
        f"    url: http://127.0.0.1:{free_port()}/hook\n"
        "    secret: 0123456789abcdef0123\n"
        "    centre: '629901000000'\n", encoding="utf-8")
    return path


def test_every_dashboard_panel_has_data_from_a_running_engine(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("YUJING_ROUTING_FILE", str(routing_with_failing_webhook(tmp_path / "routing.yaml")))
    job = "yujing-console"
    # two days of the test city paced over about 40 s, so scrapes see it flow
    with yujing_run(data, "--days", "2", "--scale", "0.3", "--speed", str(2 * 86400 / 40)) as (base, proc):
        target = base.removeprefix("http://")
        with prometheus(tmp_path, {job: [target]}) as prom:
            ps = panels("all", "run")
            assert len(ps) >= 10
            t0 = time.monotonic()
            got = wait_for_panels(prom, ps, job, timeout=120, extra=[
                f'sum(yujing_records_in_total{{job="{job}"}}) > 0',
                f'sum(rate(yujing_records_in_total{{job="{job}"}}[{RATE_WINDOW}])) > 0',
                f'sum(yujing_warnings_total{{job="{job}"}}) > 0',
                f'sum(yujing_sla_breaches_total{{job="{job}"}}) > 0',       # 督办 for real
                f'sum(yujing_push_failures_total{{job="{job}"}}) > 0',      # failed pushes for real
                f'sum(yujing_detector_seconds_count{{job="{job}"}}) > 0',
                f'ALERTS{{alertname="YujingSlaBreaches", alertstate="firing", job="{job}"}}',
            ])
            print(f"all {len(got)} expressions had data after {time.monotonic() - t0:.1f}s")
            detectors = {r["metric"]["detector"] for e, res in got.items() if "(le, detector)" in e for r in res}
            assert "PackDetector" in detectors
            rules = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
            assert len(rules) == 8 and all(r["health"] == "ok" for r in rules), rules
            n = assert_no_personal_data(prom, job)
            print(f"{n} series scraped from yujing run, none with an ID number or phone in a label")
            # the kafka-only panel has nothing here: that is what its scope says
            lag = panels("kafka")
            assert lag and all(not prom.query(promql(t["expr"], job)) for p in lag for t in p["targets"])


@pytest.mark.integration
def test_kafka_panels_have_data_from_a_running_worker(kafka_broker, kafka_topics, tmp_path):
    bootstrap = kafka_broker.bootstrap
    path = tmp_path / "city.jsonl"
    # ~21k records: at small batches the backlog outlasts several lag updates (every 2 s) and
    # scrapes (every 1 s) even on a fast day; the 2.8k of a 2-day city were gone before the
    # first update once (2026-12-07, a worker at ~4.5k records/s)
    path.write_text("\n".join(generate(SimConfig(days=10, scale=0.5))) + "\n", encoding="utf-8")
    yujing_kafka("ingest", str(path), "--bootstrap", bootstrap, "--topic-prefix", kafka_topics.prefix,
                 "--quiet")
    mport, job = free_port(), "yujing-worker"
    log = tmp_path / "worker.log"
    # small batches: the worker takes some seconds over the backlog, so the lag is seen to fall
    with worker_process(bootstrap, kafka_topics.prefix, tmp_path / "data", log,
                        "--metrics-port", str(mport), "--batch-size", "5", "--within", "0.01") as proc:
        with prometheus(tmp_path, {job: [f"127.0.0.1:{mport}"]}) as prom:
            try:
                got = wait_for_panels(prom, panels("all", "kafka"), job, timeout=150, extra=[
                    f'sum(yujing_records_in_total{{job="{job}"}}) > 0',
                    f'count(yujing_consumer_lag{{job="{job}", topic="{kafka_topics.events}"}}) == 4',
                    f'max_over_time(sum(yujing_consumer_lag{{job="{job}"}})[5m:1s]) > 0',
                    f'sum(yujing_consumer_lag{{job="{job}"}}) == 0',           # then caught up
                    f'sum(yujing_event_loop_lag_seconds_count{{job="{job}"}}) > 10',  # sampled
                ])
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nworker log:\n{log.read_text()[-3000:]}") from None
            assert proc.poll() is None
            assert assert_no_personal_data(prom, job)
            print({e: [r["value"][1] for r in res][:4] for e, res in got.items() if "lag" in e})
