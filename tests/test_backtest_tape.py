"""Link once, replay many (engine/backtest_tape.py): replaying a recorded tape through the
pipeline gives exactly what a full run gives: every signal, every warning version, every
case merge and timer firing; and ``yujing backtest --compare`` links its input once."""
from __future__ import annotations

import json

import pytest

from engine import backtest as bt
from engine.backtest_tape import record, replay_pipeline
from engine.cli_rules import main
from engine.pipeline import Pipeline
from engine.warning_book import WarningBook
from rules.builtin import default_detectors
from rules.packs import DEFAULT_DIR
from streams.privacy import Hasher
from streams.simulate import SimConfig, write
from streams.sources import open_source


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    d = tmp_path_factory.mktemp("tape")
    write(SimConfig(days=12, seed=5, scale=0.4), d / "city.jsonl")
    return d / "city.jsonl"


def _play(pipe: Pipeline, items: list, batch: int) -> dict:
    got = {"signals": [], "warnings": [], "merged": {}, "case_of": {}, "rejects": 0, "late": 0}
    for i in range(0, len(items), batch):
        out = pipe.process(items[i:i + batch])
        got["signals"] += [s.model_dump() for s in out.signals]
        got["warnings"] += [w.model_dump() for w in out.warnings]
        got["merged"].update(out.merged)
        got["case_of"].update(out.case_of)
        got["rejects"] += len(out.rejects)
        got["late"] += out.late
    return got


def test_replay_gives_what_a_full_run_gives(city):
    items = list(open_source(city))
    full = _play(Pipeline(Hasher(bt.HASH_KEY), default_detectors(), WarningBook()), items, bt.BATCH)
    tape = record(iter(items), bt.HASH_KEY, bt.BATCH)
    assert tape.records == len(items)
    again = _play(replay_pipeline(tape, default_detectors()), tape.items, tape.batch)
    # the city exercises what the replay must reproduce: merges, timers, warnings, feedback
    assert full["merged"], "no case merged in this city: pick another seed"
    assert any(s["evidence"].get("kind") == "absence" for s in full["signals"])
    assert any(w["state"] == "closed" for w in full["warnings"])
    assert len(full["warnings"]) > 20
    for k in full:
        assert again[k] == full[k], k


def test_a_tape_replays_for_other_rules_too(city):
    tape = record(open_source(city), bt.HASH_KEY, bt.BATCH)
    specs, det = bt.load_rules(DEFAULT_DIR, "战时")
    direct = bt.run([bt.load_rules(DEFAULT_DIR, "战时")[1]], open_source(city), bt.rule_table(specs))
    replayed = bt.run([det], tape, bt.rule_table(specs))
    assert replayed.signals == direct.signals and replayed.first == direct.first
    assert replayed.records == direct.records > 0


def test_the_wrong_tape_is_refused(city, tmp_path):
    other = tmp_path / "other.jsonl"
    write(SimConfig(days=2, seed=9, scale=0.2), other)
    tape = record(open_source(other), bt.HASH_KEY, bt.BATCH)
    with pytest.raises(KeyError):   # a record the tape never linked
        _play(replay_pipeline(tape, default_detectors()), list(open_source(city)), bt.BATCH)


def test_compare_links_once(city, capsys, tmp_path):
    out = tmp_path / "rep.json"
    assert main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(city), "--profile", "战时",
                 "--compare", str(DEFAULT_DIR), "--out", str(out), "-q"]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    direct = bt.run([bt.load_rules(DEFAULT_DIR)[1]], open_source(city))
    # the old side of the diff (replayed from the tape) is what a direct run of it gives
    assert rep["compare"]["warned_cases"][0] == len({c for (c, r) in direct.first if r == 1})
    assert rep["compare"]["appear"] + rep["compare"]["disappear"] > 0   # 战时 changes something
    main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(city), "--compare", str(DEFAULT_DIR)])
    assert "decoded and linked once" in capsys.readouterr().err


def test_backtest_uses_the_centres_level_cuts(city, tmp_path, capsys):
    """``--config``: the settings' ``levels`` decide what counts as a warning in the report."""
    base, strict = tmp_path / "base.json", tmp_path / "strict.json"
    cfg = tmp_path / "centre.yaml"
    cfg.write_text("levels: {red: 0.99, orange: 0.98, yellow: 0.97, blue: 0.96}\n", encoding="utf-8")
    assert main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(city), "-q",
                 "--out", str(base)]) == 0
    assert main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(city), "-q",
                 "--config", str(cfg), "--out", str(strict)]) == 0
    b = json.loads(base.read_text(encoding="utf-8"))["overall"]["blue"]["warned_cases"]
    s = json.loads(strict.read_text(encoding="utf-8"))["overall"]["blue"]["warned_cases"]
    assert 0 < s < b
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels: {red: 0.5, blue: 0.9}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["backtest", "--rules", str(DEFAULT_DIR), "--input", str(city), "-q",
                 "--config", str(bad)]) == 2
    assert "levels" in capsys.readouterr().err
