"""The routing policy: who gets which warning, 督办 targets, 分流 hints, line-numbered errors."""
from __future__ import annotations

import pytest

from sinks.routing import Centre, load, parse
from streams.errors import ConfigError

CODE = "629901001004"  # a community: province 62, city 6299, district 629901, subdistrict 629901001

POLICY = """\
levels:
  红: [区县, 街道]
  orange: [district]
  黄: [街道, 社区]
  blue: [community]
units: [公安, 司法, 人社]
departments:
  wages: [人社, 司法]
  default: [司法]
sla: {红: 10m, orange: 30m, 黄: 2h, blue: 1d}
webhooks:
  - {name: 区中心, url: "http://127.0.0.1:1/h", secret: "0123456789abcdef", centre: "629901000000"}
  - {name: 街道, url: "http://127.0.0.1:1/h", secret: "0123456789abcdef", centre: "629901001000"}
"""


@pytest.mark.parametrize("level, code, want", [
    ("red", CODE, [("district", "629901000000"), ("subdistrict", "629901001000")]),
    ("orange", CODE, [("district", "629901000000")]),
    ("yellow", CODE, [("subdistrict", "629901001000"), ("community", CODE)]),
    ("blue", CODE, [("community", CODE)]),
    # a warning placed only at subdistrict level has no 社区 to go to
    ("yellow", "629901001000", [("subdistrict", "629901001000")]),
    ("blue", "629901001000", []),
])
def test_centres_per_level(level, code, want):
    assert parse(POLICY).centres(level, code) == [Centre(lv, c) for lv, c in want]


@pytest.mark.parametrize("level, want", [
    ("red", [("city", "629900000000")]),        # highest receiver is the district: the city above
    ("yellow", [("district", "629901000000")]),
    ("blue", [("subdistrict", "629901001000")]),
])
def test_escalation_goes_one_level_above_the_highest_receiver(level, want):
    assert parse(POLICY).escalation(level, CODE) == [Centre(lv, c) for lv, c in want]


def test_webhooks_and_departments_and_sla():
    p = parse(POLICY)
    assert [w.name for w in p.webhooks_for(p.centres("orange", CODE))] == ["区中心"]
    assert [w.name for w in p.webhooks_for(p.centres("red", CODE))] == ["区中心", "街道"]
    assert p.webhooks_for(p.centres("blue", CODE)) == []
    assert p.suggest("wages") == ["人社", "司法"]
    assert p.suggest("neighbour") == ["司法"] and p.suggest(None) == ["司法"]
    assert p.sla == {"red": 600, "orange": 1800, "yellow": 7200, "blue": 86400}


def test_default_policy_loads_and_covers_every_colour():
    p = load()
    assert set(p.levels) == {"red", "orange", "yellow", "blue"}
    assert set(p.sla) == {"red", "orange", "yellow", "blue"} and p.sla["red"] == 600
    assert p.centres("red", CODE)[0].level == "district"
    assert "公安" in p.units and p.suggest("wages")[0] == "人社"


@pytest.mark.parametrize("bad, line, words", [
    (POLICY.replace("  黄: [街道, 社区]", "  紫: [街道]"), 4, "unknown warning level"),
    (POLICY.replace("[区县, 街道]", "[区县, 乡政府]"), 2, "unknown centre level"),
    (POLICY.replace("wages: [人社, 司法]", "wages: [人社, 消防]"), 8, "not in units"),
    (POLICY.replace("  wages:", "  salaries:"), 8, "unknown dispute kind"),
    (POLICY.replace("黄: 2h", "黄: soon"), 10, "bad duration"),
    (POLICY.replace('centre: "629901000000"', 'centre: "6299"'), 12, "12-digit"),
    (POLICY.replace('"0123456789abcdef", centre: "629901001000"', '"short", centre: "629901001000"'),
     13, "at least 16"),
    (POLICY + "colours: {}\n", 14, "unknown key"),
    (POLICY.replace("units: [公安, 司法, 人社]", "units: [公安, 司法, 人社"), None, "not valid YAML"),
])
def test_bad_policy_is_a_config_error_with_its_line(bad, line, words, tmp_path):
    f = tmp_path / "routing.yaml"
    f.write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(f)
    assert words in str(err.value)
    assert str(f) in str(err.value)
    if line is not None:
        assert err.value.line == line, str(err.value)


def test_missing_file_and_secret_from_environment(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.yaml")
    text = POLICY.replace('secret: "0123456789abcdef", centre: "629901000000"',
                          'secret: "env:YJ_TEST_HOOK", centre: "629901000000"')
    with pytest.raises(ConfigError, match="YJ_TEST_HOOK"):
        parse(text)
    monkeypatch.setenv("YJ_TEST_HOOK", "s" * 20)
    assert parse(text).webhooks[0].secret == "s" * 20
