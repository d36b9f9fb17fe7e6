"""``yujing run`` as a user runs it: a real process, real chDB, real HTTP."""
from __future__ import annotations

import json
import re
from collections import Counter

import httpx

from .engine_proc import read_store, stop, wait_for, yujing_run
from .test_pipeline import call, grid, idn


def _metric(text: str, name: str, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.compile(rf"^{name}\{{{re.escape(want)}\}} (\S+)$" if want else rf"^{name} (\S+)$", re.M)
    m = pat.search(text)
    return float(m.group(1)) if m else 0.0


def _records_in(base: str) -> float:
    text = httpx.get(base + "/metrics").text
    return sum(float(v) for v in re.findall(r'^yujing_records_in_total\{stream="[a-z_]+"\} (\S+)$', text, re.M))


def test_run_serves_console_with_live_warnings_and_keeps_data(tmp_path):
    data = tmp_path / "data"
    with yujing_run(data, "--days", "6", "--scale", "0.3", "--speed", "20000") as (base, proc):
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "charset=utf-8" in page.headers["content-type"]
        assert "综治中心风险预警台" in page.text
        first = wait_for(lambda: _records_in(base), 30, "records counted in /metrics")
        wait_for(lambda: _records_in(base) > first, 30, "the records counter to move")
        rows = wait_for(lambda: httpx.get(base + "/api/warnings").json(), 60, "a warning")
        assert {"id", "version", "level", "explanation", "title"} <= set(rows[0])
        assert re.search("[\u4e00-\u9fff]", rows[0]["explanation"])
        hist = httpx.get(base + f"/api/warnings/{rows[0]['id']}").json()["versions"]
        assert [v["version"] for v in hist] == sorted(v["version"] for v in hist)
        assert httpx.get(base + "/api/warnings/W-nope").status_code == 404
        assert httpx.get(base + "/api/warnings?limit=abc").status_code == 422
        code, summary = stop(proc)
    assert code == 0, "Ctrl-C must stop the run cleanly"
    stored = read_store(data, "store.counts()")
    assert stored["records"] >= summary["records"] > 0
    n_warnings = len(read_store(data, "store.latest_warnings(5000)"))
    assert n_warnings > 0
    # a second run finds the earlier data before it has played much of anything
    with yujing_run(data, "--days", "6", "--scale", "0.3", "--speed", "1") as (base, proc):
        again = httpx.get(base + "/api/warnings?limit=5000").json()
        assert len(again) >= n_warnings


def test_bad_input_is_rejected_counted_dead_lettered_and_the_run_goes_on(tmp_path):
    good = [grid("g1"), call("a", 0, "扬言报复"), call("b", 1, "拿刀砍人"), call("c", 2, "吵架")]
    bad_id = idn(7)[:-1] + ("0" if idn(7)[-1] != "0" else "1")
    bad = {
        "malformed_json": '{"kind": "call", "id": "m1", ',
        "missing_field": json.dumps({"kind": "call", "id": "m2", "line": "110"}),
        "bad_type": call("m3", 3).replace('"text": "邻里吵架"', '"text": [1, 2]'),
        "bad_id_number": call("m4", 4, parties=[{"role": "party", "id_number": bad_id}]),
        "unknown_category": call("m5", 5).replace('"call_type": "dispute"', '"call_type": "ufo"'),
        "unknown_region": call("m6", 6, region="629901009009"),
        "bad_region_code": call("m7", 7, region="12345"),
    }
    lines = good[:2] + list(bad.values())[:4] + good[2:] + list(bad.values())[4:] + ["\x00\xff garbage"]
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = tmp_path / "data"
    with yujing_run(data, "--input", str(src), "--speed", "0") as (base, proc):
        status = wait_for(lambda: (s := httpx.get(base + "/api/status").json())["done"] and s, 60,
                          "the file to be played")
        metrics = httpx.get(base + "/metrics").text
        code, _ = stop(proc)
    assert code == 0
    assert status["records"] == len(good)
    assert status["rejects"] == len(bad) + 1
    expected = Counter(list(bad) + ["malformed_json"])  # the garbage line is malformed too
    for reason, n in expected.items():
        assert _metric(metrics, "yujing_rejects_total", reason=reason) == n, reason
    stored = read_store(data, "[store.counts(), store.reject_counts(), "
                              "sorted(r['id'] for r in store.get_records(['g1','a','b','c']))]")
    counts, by_reason, ids = stored
    assert ids == ["a", "b", "c", "g1"], "every good record must be stored"
    assert by_reason == dict(expected)
    dead = (data / "dead-letters" / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert Counter(json.loads(d)["reason"] for d in dead) == expected
    assert all(json.loads(d)["line"] for d in dead), "each dead letter names its line"


def test_edited_rule_pack_is_reloaded_on_a_running_engine_and_a_broken_one_refused(tmp_path):
    import shutil

    from .engine_proc import ROOT
    packs = tmp_path / "packs"
    shutil.copytree(ROOT / "rules" / "packs", packs)
    cfg = tmp_path / "yujing.yaml"
    cfg.write_text(f"rules_dir: {packs}\nrules_poll_seconds: 0.2\n", encoding="utf-8")
    pack = packs / "fang_ni_shui.yaml"

    def version(base):
        return _metric(httpx.get(base + "/metrics").text, "yujing_rule_pack_version", pack="fang_ni_shui")

    with yujing_run(tmp_path / "data", "--config", str(cfg), "--days", "2", "--scale", "0.2",
                    "--speed", "1") as (base, proc):
        assert version(base) == 1
        text = pack.read_text(encoding="utf-8")
        pack.write_text(text.replace("pack: fang_ni_shui\n", "pack: fang_ni_shui\nversion: 2\n", 1),
                        encoding="utf-8")
        wait_for(lambda: version(base) == 2, 20, "the edited pack's version in /metrics")
        pack.write_text(text.replace("when: alert_type", "when: alert_typo", 1), encoding="utf-8")
        import time
        time.sleep(2)
        assert version(base) == 2, "a pack failing lint is refused; the running one stays"
        code, _ = stop(proc)
    log = next(tmp_path.glob("yujing-*.log")).read_text(encoding="utf-8")
    assert "fang_ni_shui.yaml:" in log and "alert_typo" in log, "the refusal names file and line"
    assert code == 0
