"""docker-compose.yml validated offline with Debian's docker-compose (``config`` fails on an
invalid key; there is no Docker engine here), then checked for the services, ports and health
checks the production shape needs. scripts/test-deps.sh installs docker-compose."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def config() -> dict:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: run `make test-deps` (apt-get install -y docker-compose)",
                    pytrace=False)
    res = subprocess.run([exe, "-f", str(COMPOSE), "config"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, f"docker-compose config rejects the file:\n{res.stderr}"
    return yaml.safe_load(res.stdout)


def test_an_invalid_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(COMPOSE.read_text().replace("    healthcheck: &worker-health", "    healthcheckz: &worker-health"))
    res = subprocess.run(["docker-compose", "-f", str(bad), "config"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode != 0 and "healthcheckz" in res.stderr


def test_services_images_and_health_checks(config):
    svc = config["services"]
    assert set(svc) == {"kafka", "clickhouse", "worker-1", "worker-2", "console", "prometheus", "grafana"}
    assert svc["kafka"]["image"].startswith("apache/kafka:3.9.")
    assert svc["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"   # KRaft, no ZooKeeper
    ch = svc["clickhouse"]["image"].split(":")
    assert ch[0] == "clickhouse/clickhouse-server" and int(ch[1].split(".")[0]) >= 24
    for name, s in svc.items():
        hc = s.get("healthcheck")
        assert hc and hc["test"] and not hc.get("disable"), f"{name} has no health check"
    for name in ("worker-1", "worker-2", "console"):
        s = svc[name]
        assert s["build"]["context"] == str(ROOT) and s["image"] == "yujing:latest"
        assert s["environment"]["YUJING_STORE_URL"].startswith("clickhouse://") and "@clickhouse:9000/" in \
            s["environment"]["YUJING_STORE_URL"]
        assert s["environment"]["YUJING_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert {k: v["condition"] for k, v in s["depends_on"].items()} == {
            "kafka": "service_healthy", "clickhouse": "service_healthy"}
    for name in ("worker-1", "worker-2"):
        assert "yujing worker" in " ".join(svc[name]["command"])
    vol = {n: str(svc[n]["volumes"][0]).split(":")[0] for n in ("worker-1", "worker-2")}
    assert vol["worker-1"] != vol["worker-2"], "each worker has its own spool volume"
    assert "yujing console" in " ".join(svc["console"]["command"])


def test_ports_are_published_on_loopback_only(config):
    def parse(p) -> tuple:
        if isinstance(p, dict):
            return p["host_ip"], int(p["published"]), int(p["target"])
        ip, pub, target = p.split("/")[0].split(":")   # docker-compose 1.29: "IP:HOST:CONTAINER/tcp"
        return ip, int(pub), int(target)
    ports = {name: {parse(p) for p in s.get("ports", [])} for name, s in config["services"].items()}
    assert ports["kafka"] == {("127.0.0.1", 19092, 19092)}
    assert ports["clickhouse"] == {("127.0.0.1", 8123, 8123), ("127.0.0.1", 9000, 9000)}
    assert ports["console"] == {("127.0.0.1", 8000, 8000)}
    assert ports["prometheus"] == {("127.0.0.1", 9090, 9090)}
    assert ports["grafana"] == {("127.0.0.1", 3000, 3000)}
    assert not ports["worker-1"] and not ports["worker-2"]


def test_the_image_builds_with_pip_from_the_repo():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11" in text and "pip install ." in text
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:   # (a stage's output: not the repo's)
            src = line.split()[1:-1]
            assert all((ROOT / s).exists() for s in src), line
    for f in ("deploy/healthcheck.py", "deploy/clickhouse-users.xml"):
        assert (ROOT / f).exists()


def test_health_check_script_reads_the_worker_heartbeat(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("hc", ROOT / "deploy" / "healthcheck.py")
    hc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hc)
    monkeypatch.setenv("YUJING_DATA_DIR", str(tmp_path))
    assert not hc.worker()
    (tmp_path / "worker.alive").write_text("{}")
    assert hc.worker()


def bind_mounts(service: dict) -> dict[str, Path]:
    """Container path -> repository path of a service's bind mounts (named volumes left out)."""
    out = {}
    for v in service.get("volumes", []):
        src, dst = (v["source"], v["target"]) if isinstance(v, dict) else str(v).split(":")[:2]
        if src.startswith("/"):
            out[dst] = Path(src)
    return out


def test_prometheus_gets_the_repos_config_and_alert_rules(config):
    prom = config["services"]["prometheus"]
    assert prom["image"].startswith("prom/prometheus:v2.")
    mounts = bind_mounts(prom)
    assert mounts == {"/etc/prometheus/prometheus.yml": ROOT / "deploy/prometheus/prometheus.yml",
                      "/etc/prometheus/alerts.yml": ROOT / "deploy/prometheus/alerts.yml"}
    assert all(p.is_file() for p in mounts.values())
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    cfg = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    # rule files resolve next to the config file: the mounted alerts.yml
    assert cfg["rule_files"] == ["alerts.yml"]
    jobs = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]] for j in cfg["scrape_configs"]}
    assert jobs["yujing-console"] == ["console:8000"]
    assert jobs["yujing-worker"] == ["worker-1:9108", "worker-2:9108"]
    for name in ("worker-1", "worker-2"):   # the workers serve what Prometheus scrapes
        env = config["services"][name]["environment"]
        assert env["YUJING_METRICS_PORT"] == "9108" and env["YUJING_METRICS_HOST"] == "0.0.0.0"
    for target in jobs["yujing-console"] + jobs["yujing-worker"]:
        assert target.split(":")[0] in config["services"]


def test_grafana_gets_the_data_source_and_the_dashboard(config):
    import json
    graf = config["services"]["grafana"]
    assert graf["image"].startswith("grafana/grafana:")
    assert graf["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    mounts = bind_mounts(graf)
    assert all(p.exists() for p in mounts.values()), mounts
    ds_dir = mounts["/etc/grafana/provisioning/datasources"]
    (ds,) = yaml.safe_load((ds_dir / "prometheus.yml").read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    (prov,) = yaml.safe_load((mounts["/etc/grafana/provisioning/dashboards"] / "yujing.yml").read_text())["providers"]
    dash_dir = prov["options"]["path"]
    assert mounts[dash_dir] == ROOT / "deploy/grafana/dashboards"
    dash = json.loads((mounts[dash_dir] / "yujing.json").read_text(encoding="utf-8"))
    assert graf["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{dash_dir}/yujing.json"
    uids = {p["datasource"]["uid"] for p in dash["panels"]} | {
        t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
    assert uids == {ds["uid"]}, "every panel queries the provisioned data source"
    assert "admin" not in str(graf["environment"].get("GF_SECURITY_ADMIN_PASSWORD", "admin")).lower()
