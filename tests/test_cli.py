"""The ``yujing`` command's other verbs, run as a user runs them."""
from __future__ import annotations

import json
import subprocess

from streams.codec import decode
from streams.sources import open_source

from .engine_proc import ROOT, YUJING, read_store


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*YUJING, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_simulate_writes_city_and_truth_deterministically(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (a, b):
        res = _run("simulate", "--days", "3", "--seed", "5", "--scale", "0.3", "--out", str(out))
        assert res.returncode == 0, res.stderr
    assert a.read_bytes() == b.read_bytes()
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    lines = a.read_text(encoding="utf-8").splitlines()
    assert summary["lines"] == len(lines) > 1000
    truth = (tmp_path / "a.truth.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(truth[-1])["kind"] == "summary"
    assert decode(lines[0]).kind == "grid", "registries come first"


def test_schema_export_writes_a_schema_per_kind(tmp_path):
    res = _run("schema", "export", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    # every input kind (events, registries, feedback, the console's acts) and the outputs
    for kind in ("call", "grid_event", "video_alert", "grid", "key_person", "camera", "site",
                 "feedback", "act", "signal", "warning"):
        assert f"{kind}.schema.json" in names, kind
    assert len(names) == 11
    call = json.loads((tmp_path / "call.schema.json").read_text(encoding="utf-8"))
    assert {"id", "occurred_at", "line", "caller", "call_type", "place"} <= set(call["required"])
    enum = call["$defs"]["CallType"]["enum"]
    assert "violence" in enum and "dispute" in enum


def test_bad_config_names_the_setting(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("port: 70000\nlevels:\n  red: 0.1\n", encoding="utf-8")
    res = _run("run", "--config", str(cfg), "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2
    assert "port" in res.stderr and "bad.yaml" in res.stderr and "Traceback" not in res.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    res = _run("run", "--input", str(tmp_path / "nope.jsonl"), "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2 and "nope.jsonl" in res.stderr and "Traceback" not in res.stderr


def test_run_plays_another_systems_export_through_its_mapping(tmp_path):
    export = ROOT / "examples" / "exports" / "police110_20260502.csv"
    mapping = ROOT / "examples" / "mappings" / "police110.yaml"
    expected = list(open_source(export, mapping))
    good = [i.record.id for i in expected if i.record is not None]
    bad = [i.error.reason for i in expected if i.error is not None]
    assert good and bad, "the sample export has good and bad rows"
    data = tmp_path / "data"
    res = _run("run", "--input", str(export), "--mapping", str(mapping), "--speed", "0",
               "--exit-when-done", "--port", "0", "--data-dir", str(data))
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["records"] == len(good) and summary["rejects"] == len(bad)
    stored = read_store(data, f"sorted(r['id'] for r in store.get_records({good!r}))")
    assert stored == sorted(good)
    body = read_store(data, f"store.get_records([{good[0]!r}])[0]")
    assert body["body"]["line"] == "110" and body["body"]["caller"]["role"] == "caller"  # constants
    assert body["case_id"].startswith("C-"), "a mapped call is linked to a case"


def test_run_writes_to_a_real_clickhouse_server(tmp_path, clickhouse_server, fresh_db):
    from sinks.clickhouse_server import ServerStore

    from .test_pipeline import call, grid
    lines = [grid("g1"), call("a", 0, "扬言报复"), call("b", 1, "拿刀要砍人,同归于尽"),
             call("c", 2, "又来砸门"), call("d", 3, "又来了"), '{"broken": ']
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = _run("run", "--input", str(src), "--store", clickhouse_server.url(fresh_db), "--speed", "0",
               "--exit-when-done", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    store = ServerStore(clickhouse_server.url(fresh_db))
    try:
        counts = store.counts()
        assert counts["records"] == summary["records"] == 5
        assert store.reject_counts() == {"malformed_json": 1}
        warnings = store.latest_warnings(10)
        assert len(warnings) == 1 and warnings[0]["version"] == summary["warnings"]
    finally:
        store.close()


def test_graph_patterns_when_switched_on_and_explain_reads_the_saved_graph(tmp_path):
    cfg = tmp_path / "yujing.yaml"
    cfg.write_text("graph_patterns: true\n", encoding="utf-8")
    data = tmp_path / "data"
    res = _run("run", "--config", str(cfg), "--days", "8", "--scale", "0.3", "--speed", "0",
               "--exit-when-done", "--port", "0", "--data-dir", str(data))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (data / "graph.json").is_file(), "the graph is saved at stop"
    sql = ("SELECT case_id, rule_id FROM yujing.signals FINAL "
           "WHERE startsWith(rule_id, 'graph_') ORDER BY id LIMIT 1")
    rows = read_store(data, f"store.query({sql!r})")
    assert rows, "a week of a small city raises at least one graph pattern"
    case_id = rows[0]["case_id"]
    out = _run("graph", "explain", case_id, "--snapshot", str(data / "graph.json"))
    assert out.returncode == 0, out.stderr
    assert case_id in out.stdout and "某" in out.stdout  # masked names only
