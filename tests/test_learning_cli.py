"""``yujing evaluate`` through its argparse wiring, on a small city."""
from __future__ import annotations

import argparse
import json

from engine import cli_learning
from engine.evaluate import at_budget, roc_auc
from learning import checkpoint
from streams.simulate import SimConfig, write


def test_metrics():
    assert roc_auc([0.1, 0.2, 0.9], [False, False, True]) == 1.0
    assert roc_auc([0.5, 0.5], [False, True]) == 0.5
    b = at_budget([0.9, 0.5, 0.5, 0.1], [True, True, False, False], 0.5)
    assert b["recall"] == 0.75 and b["precision"] == 0.75


def test_evaluate_command(tmp_path, capsys):
    src = tmp_path / "city.jsonl"
    write(SimConfig(days=5, seed=2, scale=0.2), str(src))
    p = argparse.ArgumentParser()
    cli_learning.add_commands(p.add_subparsers(dest="command"))
    ck = tmp_path / "model.json"
    args = p.parse_args(["evaluate", "--input", str(src), "--truth", str(tmp_path / "city.truth.jsonl"),
                         "--budget", "0.1", "--save-checkpoint", str(ck)])
    assert args.func(args) == 0
    res = json.loads(capsys.readouterr().out)
    for k in ("rules", "model", "fused"):
        assert {"auc", "precision", "recall", "median_lead_hours"} <= set(res[k])
    assert res["warning_budget"] == 0.1 and res["cases"] > 0
    assert json.loads(ck.read_text())["format"] == checkpoint.FORMAT
