"""The default packs: they load, every rule's inline tests pass (one test per rule), the
commands report errors with exit codes, and the default detectors run at city speed."""
from __future__ import annotations

import time

import pytest

from engine import cli_rules
from rules.builtin import default_detectors
from rules.packs import DEFAULT_DIR, load_packs
from rules.testing import run_tests

PACKS = load_packs(DEFAULT_DIR)


def test_default_packs_load_without_errors():
    assert PACKS.errors == []
    assert len(PACKS.specs) >= 15
    packs = {s.pack for s in PACKS.specs}
    assert {"min_zhuan_xing", "qun_ti_xing", "xiao_yuan", "fang_ni_shui", "zhao_shi_zhao_huo",
            "dian_zha"} <= packs
    assert {"match", "threshold", "sequence", "absence", "spike"} <= {s.kind for s in PACKS.specs}


@pytest.mark.parametrize("spec", PACKS.specs, ids=lambda s: s.id)
def test_inline_tests(spec):
    results = run_tests(spec)
    assert any(t.get("fire") is True or t.get("fires", 0) > 0 for t in spec.tests), "needs a firing case"
    assert any(t.get("fire") is False for t in spec.tests) or spec.kind == "spike" or \
        any(t.get("fires") == 0 for t in spec.tests), "needs a non-firing case"
    bad = [f"{r.name}: {r.message}" for r in results if not r.ok]
    assert not bad, bad


def test_an_inline_test_can_fail(tmp_path):
    src = (DEFAULT_DIR / "min_zhuan_xing.yaml").read_text(encoding="utf-8")
    (tmp_path / "p.yaml").write_text(src.replace("records: [{text: 对方扬言要杀了他}]\n        fire: true",
                                                 "records: [{text: 对方扬言要杀了他}]\n        fire: false"),
                                     encoding="utf-8")
    ps = load_packs(tmp_path)
    spec = next(s for s in ps.specs if s.id == "threat_words")
    assert [r.ok for r in run_tests(spec)].count(False) == 1


def test_rules_commands(tmp_path, capsys):
    assert cli_rules.main(["lint"]) == 0
    assert cli_rules.main(["test"]) == 0
    assert "0 failed" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("pack: bad\nrules:\n  - id: r1\n    title: 坏\n    description: 坏\n"
                                       "    score: 0.2\n    streams: [call]\n    when: text contains 刀\n"
                                       "    tests: [{records: [{text: a}], fire: false}]\n", encoding="utf-8")
    assert cli_rules.main(["lint", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.yaml'}:8:25: unexpected character '刀'" in err
    assert cli_rules.main(["test", str(tmp_path)]) == 1
    (tmp_path / "bad.yaml").unlink()
    assert cli_rules.main(["lint", str(tmp_path)]) == 1      # no packs at all is an error too


def test_shadow_rules_present_and_marked():
    shadow = [s for s in PACKS.specs if s.shadow]
    assert shadow, "校园周边 runs as shadow until the graph issue provides graph.near_school"
    for s in shadow:
        fired = [sig for r in run_tests(s) for sig in r.signals]
        assert fired and all(sig.evidence.get("shadow") is True for sig in fired)


def test_default_packs_speed_on_the_city():
    """Records/s of the default packs alone (linking excluded) on one core: printed, not asserted."""
    from engine.pipeline import Pipeline
    from streams.privacy import Hasher
    from streams.simulate import SimConfig, simulate
    from streams.sources import decode_lines

    lines = [ln for ln, _ in simulate(SimConfig(days=4, seed=3, scale=0.5)) if ln is not None]
    calls = []

    class Recorder:
        name = "recorder"

        def detect(self, record, case):
            calls.append((record, case))
            return []

        def snapshot(self):
            return {}

        def restore(self, state):
            pass

    p = Pipeline(Hasher(b"speed-key-000000"), [Recorder()])
    items = list(decode_lines(lines))
    for i in range(0, len(items), 500):
        p.process(items[i:i + 500])
    (det,) = default_detectors()
    t = time.perf_counter()
    signals = sum(len(det.detect(r, c)) for r, c in calls)
    dt = time.perf_counter() - t
    print(f"\ndefault packs: {len(calls):,} linked records, {signals:,} signals, "
          f"{len(calls) / dt:,.0f} records/s")
    assert signals > 0
