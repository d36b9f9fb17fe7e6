"""Backtest: case-level scoring as defined in engine/backtest.py, a shadow rule reported but
never warning, and --compare showing what a removed rule takes away."""
from __future__ import annotations

import json
import shutil
from datetime import datetime

import pytest

from engine import backtest as bt
from engine.cli_rules import main
from rules.packs import DEFAULT_DIR
from streams.simulate import SimConfig, write
from streams.sources import open_source


def test_score_definitions():
    esc = "2026-05-10T12:00:00+08:00"
    t = datetime.fromisoformat(esc).timestamp()
    truth = bt.Truth({"A": {"escalates": True, "escalated_at": esc},
                      "B": {"escalates": False},
                      "C": {"escalates": False, "escalates_later": True},
                      "D": {"escalates": True, "escalated_at": esc},
                      "E": {"escalates": True, "escalated_at": esc}}, {})
    got = bt._score({"A": t - 36 * 3600, "B": t, "C": t, "D": t + 1, "?noise": t}, truth)
    assert (got["tp"], got["fp"], got["late"], got["later"]) == (1, 2, 1, 1)
    assert got["precision"] == 0.333 and got["recall"] == 0.333 and got["median_lead_hours"] == 36.0
    assert bt._score({"D": t}, truth)["late"] == 1     # warned at the escalation itself: not before


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    d = tmp_path_factory.mktemp("city")
    write(SimConfig(days=8, seed=3, scale=0.3), d / "city.jsonl")  # enough failed mediations to miss
    truth = bt.Truth.load(d / "city.truth.jsonl")
    specs, det = bt.load_rules(DEFAULT_DIR)
    run = bt.run([det], open_source(d / "city.jsonl"), bt.rule_table(specs))
    return d, truth, run


def test_recall_matches_an_independent_count(city):
    d, truth, run = city
    rep = bt.report(run, truth, "red")
    assert rep["input"]["escalations"] == len(truth.escalating) > 0
    # independently: an escalation is caught at red if any of its records' cases was red before it
    caught = 0
    for tc in truth.escalating:
        e = truth.cases[tc]
        at = datetime.fromisoformat(e["escalated_at"]).timestamp()
        cases = {run.case_of.get(r) for r in e["record_ids"]} - {None}
        caught += any(run.first.get((c, 4), at) < at for c in cases)
    assert rep["overall"]["red"]["tp"] == caught
    o = rep["overall"]
    assert o["blue"]["warned_cases"] >= o["yellow"]["warned_cases"] >= o["red"]["warned_cases"] > 0
    assert sum(r["hits"] for r in rep["rules"].values()) == len(run.signals)


def test_shadow_rule_reported_but_never_warns(city, tmp_path):
    d, truth, run = city
    packs = tmp_path / "packs"
    shutil.copytree(DEFAULT_DIR, packs)
    p = packs / "min_zhuan_xing.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(
        "  - id: threat_words\n", "  - id: threat_words\n    shadow: true\n"), encoding="utf-8")
    specs, det = bt.load_rules(packs)
    shadow = bt.run([det], open_source(d / "city.jsonl"), bt.rule_table(specs))
    before, after = bt.report(run, truth)["rules"], bt.report(shadow, truth)["rules"]
    assert after["threat_words"]["shadow"] and before["threat_words"]["hits"] > 0
    assert after["threat_words"]["hits"] == before["threat_words"]["hits"]
    assert after["threat_words"]["precision"] == before["threat_words"]["precision"]
    assert before["threat_words"]["warned_cases"] > 0 == after["threat_words"]["warned_cases"]
    assert not any("threat_words" in r for r in shadow.reasons.values())


def test_compare_removed_rule(city, tmp_path):
    d, truth, run = city
    packs = tmp_path / "packs"
    shutil.copytree(DEFAULT_DIR, packs)
    p = packs / "min_zhuan_xing.yaml"
    text = p.read_text(encoding="utf-8")
    start = text.index("  - id: mediation_failed\n")
    end = text.index("  - id: ", start + 10)
    p.write_text(text[:start] + text[end:], encoding="utf-8")
    specs, det = bt.load_rules(packs)
    new = bt.run([det], open_source(d / "city.jsonl"), bt.rule_table(specs))
    cmp = bt.compare(new, run, truth)
    old_rep = bt.report(run, truth)
    assert cmp["rules"]["mediation_failed"]["status"] == "removed"
    assert cmp["rules"]["mediation_failed"]["hits_removed"] == old_rep["rules"]["mediation_failed"]["hits"]
    assert cmp["appear"] == 0 and cmp["disappear"] > 0   # a rule less only lowers scores
    assert all("mediation_failed" in c["rules"] for c in cmp["disappear_cases"])
    assert cmp["warned_cases"] == [old_rep["overall"]["blue"]["warned_cases"],
                                   bt.report(new, truth)["overall"]["blue"]["warned_cases"]]
    same = bt.compare(run, run, truth)
    assert (same["appear"], same["disappear"], same["rules"]) == (0, 0, {})


def test_cli_writes_json_and_refuses_broken_rules(city, tmp_path, capsys):
    d, truth, run = city
    out = tmp_path / "r.json"
    assert main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(d / "city.jsonl"),
                 "--truth", str(d / "city.truth.jsonl"), "--level", "red", "--out", str(out), "-q"]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["level"] == "red" and rep["overall"]["red"] == bt.report(run, truth, "red")["overall"]["red"]
    printed = capsys.readouterr().out
    assert "repeat_contact" in printed and "precision" in printed
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "p.yaml").write_text("pack: pp\nrules: [{id: x}]\n", encoding="utf-8")
    assert main(["backtest", "--rules", str(bad), "--input", str(d / "city.jsonl"), "-q"]) == 1
    assert "p.yaml:2:" in capsys.readouterr().err
