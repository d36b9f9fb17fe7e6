"""A real ``yujing run``: the escalation model's checkpoint is written at stop and loaded at start."""
from __future__ import annotations

import json
import os
import subprocess

from .engine_proc import ROOT, YUJING, free_port, stop, yujing_run


def _checkpoint(data):
    doc = json.loads((data / "models" / "learning.json").read_text(encoding="utf-8"))
    assert doc["format"] == "yujing.learning.checkpoint"
    return doc["detectors"]["learning.escalation"]


def test_checkpoint_written_at_stop_is_loaded_by_the_next_start(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "YUJING_AUTH": "false"}
    first = subprocess.run([*YUJING, "run", "--data-dir", str(data), "--port", str(free_port()),
                            "--days", "12", "--scale", "0.3", "--speed", "0", "--exit-when-done"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    learned = _checkpoint(data)
    assert learned["updates"] > 0 and learned["weights"], "the model learned nothing from the feedback"
    # the next start: one event second a wall second, so it plays (and learns) almost nothing;
    # what it saves at stop is what it loaded
    with yujing_run(data, "--days", "12", "--scale", "0.3", "--speed", "1") as (base, proc):
        code, _ = stop(proc)
    assert code == 0
    again = _checkpoint(data)
    assert again["updates"] >= learned["updates"]
    assert again["weights"] == learned["weights"] and again["intercept"] == learned["intercept"]
    log = next(tmp_path.glob("yujing-*.log")).read_text(encoding="utf-8")
    assert "learning: loaded learning.escalation" in log


def test_learning_off_runs_no_model(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "YUJING_AUTH": "false", "YUJING_LEARNING": "false"}
    res = subprocess.run([*YUJING, "run", "--data-dir", str(data), "--port", str(free_port()),
                          "--days", "3", "--scale", "0.2", "--speed", "0", "--exit-when-done"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not (data / "models" / "learning.json").exists()
