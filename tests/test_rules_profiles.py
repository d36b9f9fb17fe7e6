"""Profiles (平时/战时/...) and per-region overrides: precedence, firing, lint places, the CLI,
and a running ``yujing run`` switched with ``yujing rules profile``."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from engine import backtest as bt
from engine.cli_rules import main as rules_main
from rules.detector import PackDetector
from rules.packs import DEFAULT_DIR, load_packs
from rules.testing import T0, build_record, run_profile_tests
from rules.tuning import Profile
from streams.detect import CaseContext

from .engine_proc import ROOT, wait_for, yujing_run

PACK = """\
pack: demo
title: 演示
defaults: {streams: [call]}
rules:
  - id: repeat3
    version: 1
    title: 三次来电
    description: 同一案件7天内来电3次。
    score: 0.3
    kind: threshold
    when: "true"
    count: 3
    window: 7d
    tests:
      - records: [{}, {at: 1h}, {at: 2h}]
        fire: true
  - id: knife
    version: 1
    title: 凶器
    description: 出现刀。
    score: 0.4
    when: text contains "刀"
    suppress: 6h
    tests:
      - records: [{text: 拿刀}]
        fire: true
  - id: petrol
    version: 1
    title: 汽油
    description: 出现汽油(平时关闭)。
    score: 0.4
    enabled: false
    when: text contains "汽油"
    tests:
      - records: [{text: 买汽油}]
        fire: true
  - id: no_visit
    version: 1
    title: 未回访
    description: 调解失败后3天未回访。
    score: 0.25
    kind: absence
    start: text contains "失败"
    expect: text contains "回访"
    window: 3d
    tests:
      - records: [{text: 调解失败}]
        advance: 4d
        fire: true
overrides:
  - region: "629901"
    rules: {repeat3: {count: 4}, knife: {score: 0.5}}
  - region: "629901001"
    rules: {knife: {score: 0.6}}
"""

WAR = """\
profile: 战时
title: 战时
description: 降低阈值。
packs: {demo: {score: x1.5}}
rules:
  repeat3: {count: 2}
  petrol: {enabled: true}
  no_visit: {window: 1d}
overrides:
  - region: "629902"
    rules: {knife: {shadow: true}}
  - region: "629901001"
    rules: {repeat3: {count: 3}}
tests:
  - {rule: repeat3, records: [{}, {at: 1h}], fire: true}
"""

R1, R1S, R2, R9 = "629901001002", "629901002003", "629902001001", "620102003004"


def folder(tmp_path, war=WAR, pack=PACK):
    (tmp_path / "profiles").mkdir(exist_ok=True)
    (tmp_path / "demo.yaml").write_text(pack, encoding="utf-8")
    (tmp_path / "profiles" / "战时.yaml").write_text(war, encoding="utf-8")
    return tmp_path


def feed(det, recs):
    """[(text, hour, region, case)] through the detector as the pipeline does → signals."""
    out = []
    for i, (text, h, region, case) in enumerate(recs, 1):
        rec, _, _ = build_record(i, {"kind": "call", "text": text, "at": f"{h}h", "region": region})
        out += det.advance(rec.occurred_at - timedelta(hours=6))
        out += det.detect(rec, CaseContext(case, [], frozenset(), frozenset(), frozenset()))
    return out


def detector(tmp_path, profile=None):
    ps = load_packs(folder(tmp_path))
    assert ps.errors == []
    return PackDetector(ps.specs, tuning=ps.tuning(profile))


def test_region_override_most_specific_prefix_wins_outside_uses_base(tmp_path):
    det = detector(tmp_path)
    sig = feed(det, [("拿刀", 0, R1, "A"), ("拿刀", 0, R1S, "B"), ("拿刀", 0, R9, "C")])
    assert [(s.case_id, s.score) for s in sig] == [("A", 0.6), ("B", 0.5), ("C", 0.4)]
    assert [s.evidence.get("region_override") for s in sig] == ["629901001", "629901", None]
    assert all("profile" not in s.evidence for s in sig)      # 平时: nothing to say
    # threshold: 629901 needs 4 records, elsewhere 3 (the rule as written)
    det = detector(tmp_path)
    inside = feed(det, [("吵", h, R1, "A") for h in range(4)])
    outside = feed(det, [("吵", h, R9, "C") for h in range(4)])
    assert [s.record_id for s in inside] == ["t4"] and [s.record_id for s in outside] == ["t3"]


def test_profile_changes_firing_of_hand_made_sequence(tmp_path):
    seq = [("吵", 0, R9, "A"), ("吵", 1, R9, "A"), ("买汽油", 2, R9, "A"), ("吵", 3, R9, "A")]
    calm = feed(detector(tmp_path), seq)
    war = feed(detector(tmp_path, "战时"), seq)
    assert [(s.rule_id, s.record_id) for s in calm] == [("repeat3", "t3")]
    assert [(s.rule_id, s.record_id) for s in war] == [("repeat3", "t2"), ("petrol", "t3"), ("repeat3", "t4")]
    assert war[0].score == pytest.approx(0.45) and calm[0].score == pytest.approx(0.3)
    assert war[0].evidence["profile"] == "战时" and war[0].reason.startswith("【战时】")
    # profile region layers beat the standing override (629901 count 4) and the profile's own
    # rule-wide count 2, most specific first: 629901001 → 3; 629902 knife → shadow
    sig = feed(detector(tmp_path, "战时"), [("吵", h, R1, "B") for h in range(3)] + [("拿刀", 4, R2, "C")])
    assert [(s.rule_id, s.record_id, s.evidence.get("shadow")) for s in sig] == \
        [("repeat3", "t3", None), ("knife", "t4", True)]


def test_absence_timer_fires_with_its_regions_window(tmp_path):
    det = detector(tmp_path, "战时")                # no_visit window 1d instead of 3d
    feed(det, [("调解失败", 0, R9, "A")])
    assert det.advance(T0 + timedelta(hours=23)) == []
    sig = det.advance(T0 + timedelta(hours=25))
    assert [(s.rule_id, s.at) for s in sig] == [("no_visit", T0 + timedelta(days=1))]
    assert sig[0].evidence["profile"] == "战时" and sig[0].evidence["window_hours"] == 24


def test_unknown_profile_is_refused_listing_known(tmp_path):
    ps = load_packs(folder(tmp_path))
    with pytest.raises(ValueError, match=r"unknown rules profile '战备'; known: 平时, 战时"):
        ps.tuning("战备")


BAD = {
    "unknown rule id": ("  repeat3: {count: 2}\n", "  repaet3: {count: 2}\n", "repaet3",
                        r"unknown rule 'repaet3'; did you mean repeat3"),
    "unknown field": ("  repeat3: {count: 2}\n", "  repeat3: {cuont: 2}\n", "cuont",
                      r"unknown field 'cuont' for rule repeat3"),
    "field not of the kind": ("  repeat3: {count: 2}\n", "  knife: {count: 2}\n", "count",
                              r"count: does not apply to knife, a match rule"),
    "bad prefix": ('  - region: "629902"\n', '  - region: "62990"\n', '"62990"',
                   r"region: a quoted region-code prefix"),
    "prefix not quoted": ('  - region: "629902"\n', '  - region: 629902\n', "629902",
                          r"region: a quoted region-code prefix"),
    "bad score": ("  petrol: {enabled: true}\n", "  petrol: {score: 1.5}\n", "1.5", r"score: a number in"),
    "unknown pack": ("packs: {demo: {score: x1.5}}\n", "packs: {demoo: {score: x1.5}}\n", "demoo",
                     r"unknown pack 'demoo'"),
    "unknown test rule": ("  - {rule: repeat3,", "  - {rule: nope,", "nope", r"test rule: unknown rule 'nope'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_profile_lint_errors_name_file_line_col(tmp_path, case):
    old, new, token, message = BAD[case]
    assert old in WAR
    folder(tmp_path, war=WAR.replace(old, new))
    ps = load_packs(tmp_path)
    assert len(ps.errors) == 1, ps.errors
    m = re.match(r"(.+战时\.yaml):(\d+):(\d+): (.*)", str(ps.errors[0]))
    assert m and re.search(message, m.group(4)), ps.errors
    line = (tmp_path / "profiles" / "战时.yaml").read_text(encoding="utf-8").splitlines()[int(m.group(2)) - 1]
    assert line[int(m.group(3)) - 1:].startswith(token), (line, m.group(3))
    assert "战时" not in ps.profiles                  # a broken profile is not offered


def test_pack_overrides_lint_with_place(tmp_path):
    folder(tmp_path, pack=PACK.replace("rules: {knife: {score: 0.6}}", "rules: {knief: {score: 0.6}}"))
    ps = load_packs(tmp_path)
    assert [str(e).split(": ", 1)[1] for e in ps.errors] == ["unknown rule 'knief'; did you mean knife?"]
    f, line, col = str(ps.errors[0]).split(":")[:3]
    assert f.endswith("demo.yaml")
    text = (tmp_path / "demo.yaml").read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert text[int(col) - 1:].startswith("knief")


def test_profile_name_must_match_file(tmp_path):
    folder(tmp_path, war=WAR.replace("profile: 战时", "profile: 节假日"))
    errs = [str(e) for e in load_packs(tmp_path).errors]
    assert len(errs) == 1 and re.search(r"战时\.yaml:1:10: profile: '节假日' differs from the file name", errs[0])


def test_shipped_profiles_lint_and_their_tests_pass_and_fail_without_them():
    ps = load_packs(DEFAULT_DIR)
    assert ps.errors == [] and {"平时", "战时", "节假日", "月度主题-养老诈骗"} <= set(ps.profiles)
    for name in ps.profiles:
        res = run_profile_tests(ps, name)
        assert all(r.ok for r in res), [(r.rule_id, r.name, r.message) for r in res if not r.ok]
    # the same tests played under 平时 mostly fail: they test what the profile changes
    for name in ("战时", "节假日", "月度主题-养老诈骗"):
        ps.profiles[name + "?"] = Profile(name + "?", tests=ps.profiles[name].tests)
        res = run_profile_tests(ps, name + "?")
        assert sum(not r.ok for r in res) >= len(res) - 1, name
    assert rules_main(["lint"]) == 0 and rules_main(["test"]) == 0


def test_cli_profile_switch_writes_file_and_refuses_unknown(tmp_path, capsys):
    data = tmp_path / "data"
    assert rules_main(["profile", "战备", "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "unknown rules profile '战备'; known: 平时, 战时, 月度主题-养老诈骗, 节假日" in err
    assert not (data / "rules-profile").exists()
    assert rules_main(["profile", "战时", "--data-dir", str(data)]) == 0
    assert (data / "rules-profile").read_text(encoding="utf-8") == "战时\n"
    assert rules_main(["profile", "--data-dir", str(data)]) == 0
    assert "* 战时" in capsys.readouterr().out


def test_backtest_profile_option_tunes_the_rules():
    specs, det = bt.load_rules(DEFAULT_DIR, "战时")
    by = {s.id: s for s in specs}
    assert by["repeat_contact"].count == 2 and by["threat_words"].score == pytest.approx(0.455)
    calm, _ = bt.load_rules(DEFAULT_DIR)
    assert {s.id: s for s in calm}["repeat_contact"].count == 3
    specs, _ = bt.load_rules(DEFAULT_DIR, "月度主题-养老诈骗")
    assert "elderly_fraud_cluster" in {s.id for s in specs} and "elderly_fraud_cluster" not in {s.id for s in calm}
    with pytest.raises(ValueError, match="known: 平时"):
        bt.load_rules(DEFAULT_DIR, "战备")


def _profile_metric(base: str) -> dict[str, float]:
    text = httpx.get(base + "/metrics").text
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'^yujing_rule_profile_active\{profile="([^"]+)"\} (\S+)$', text, re.M)}


def test_running_engine_switches_profile_within_seconds(tmp_path):
    data = tmp_path / "data"
    with yujing_run(data, "--days", "1", "--scale", "0.1", "--speed", "0") as (base, proc):
        assert _profile_metric(base) == {"平时": 1.0, "战时": 0.0, "节假日": 0.0, "月度主题-养老诈骗": 0.0}
        assert httpx.get(base + "/api/analyst/profile").json() == {"active": "平时"}
        res = subprocess.run([sys.executable, "-m", "engine.cli", "rules", "profile", "战时",
                              "--data-dir", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        wait_for(lambda: _profile_metric(base).get("战时") == 1.0, 15, "the profile metric to switch")
        assert _profile_metric(base)["平时"] == 0.0
        assert httpx.get(base + "/api/analyst/profile").json() == {"active": "战时"}  # the analysts' page
        log = next(tmp_path.glob("yujing-*.log"))
        wait_for(lambda: "profile switched 平时 -> 战时" in log.read_text(encoding="utf-8"), 10,
                 "the switch in the log")
        (data / "rules-profile").write_text("战备\n", encoding="utf-8")   # by hand, bypassing the CLI
        wait_for(lambda: "unknown rules profile '战备'" in log.read_text(encoding="utf-8"), 15,
                 "the refusal in the log")
        assert _profile_metric(base)["战时"] == 1.0                        # 战时 keeps running
