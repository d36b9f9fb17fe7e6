"""The rule language: what it accepts, what it computes, and hostile input refused with places."""
from __future__ import annotations

import textwrap

import pytest

from rules.lang.compiler import compile_condition
from rules.lang.errors import LangError
from rules.lang.lexicon import Lexicon
from rules.lang.names import Env
from rules.lang.syntax import MAX_DEPTH, parse
from rules.packs import load_packs
from rules.testing import build_record
from streams.detect import CaseContext, KeyPersonInfo

LEX = {"weapons": Lexicon.parse("weapons", "刀 = 菜刀, 匕首\n汽油\n")}


def ev(src, streams=("call",), case=None, **rec):
    cond = compile_condition(src, streams, LEX)
    r, _, _ = build_record(1, rec or {"kind": streams[0]})
    c = case or CaseContext("C", [], frozenset(), frozenset(), frozenset())
    return cond.fn(Env(r, c))


@pytest.mark.parametrize("src,rec,want", [
    ('call_type == "threat"', {"call_type": "threat"}, True),
    ('call_type != "threat"', {"call_type": "threat"}, False),
    ('call_type in ["threat", "violence"]', {"call_type": "violence"}, True),
    ('call_type not in ["threat", "violence"]', {"call_type": "violence"}, False),
    ('text contains "刀"', {"text": "拿刀"}, True),
    ('text mentions @weapons', {"text": "拿着匕首"}, True),
    ('text mentions @weapons', {"text": "拿着锤子"}, False),
    ('hits(text, @weapons) >= 2', {"text": "菜刀和汽油"}, True),
    ('text matches "掐.{0,3}脖"', {"text": "掐住脖子"}, True),
    ('text matches "掐.{0,3}脖"', {"text": "掐了一下他的脖子"}, False),
    ('region startswith "629901"', {}, True),
    ('region startswith ["1101", "3101"]', {}, False),
    ('hour >= 9 and hour < 10', {"at": "2026-05-01T09:30:00+08:00"}, True),
    ('time_between("22:00", "06:00")', {"at": "2026-05-01T23:59:00+08:00"}, True),
    ('time_between("22:00", "06:00")', {"at": "2026-05-01T06:00:00+08:00"}, False),
    ('time_between("07:00", "18:00")', {"at": "2026-05-01T07:00:00+08:00"}, True),
    ('not (line == "12345") and len(text) > 1', {"text": "吵架"}, True),
    ('line == "110" or 1 == 2', {}, True),
])
def test_operators(src, rec, want):
    assert ev(src, **{"kind": "call", **rec}) is want


def test_case_features():
    c = CaseContext("C", [], frozenset({"a", "b"}), frozenset({"b"}), frozenset({"b"}),
                    {"b": KeyPersonInfo("severe_mental", 3)})
    assert ev('"severe_mental" in case.new_key_person_categories and case.max_risk_level >= 3',
              case=c, kind="call")
    assert ev("case.parties == 2 and case.new_key_persons == 1", case=c, kind="call")
    assert not ev("graph.near_school", case=c, kind="call")  # absent features read false


class _CountingFeatures:
    """``case.features`` that counts how often a graph feature is asked for."""

    def __init__(self, value):
        self.value, self.asked = value, 0

    def get(self, key, default=None):
        self.asked += 1
        return self.value


def _case(n_records, feats):
    from datetime import datetime

    from streams.detect import CaseEntry
    at = datetime(2026, 5, 1, 9, 0)
    ents = [CaseEntry(f"r{i}", "call", at, "dispute") for i in range(n_records)]
    return CaseContext("C", ents, frozenset(), frozenset(), frozenset(), features=feats)


@pytest.mark.parametrize("src,true_when", [
    ("graph.incidents_nearby >= 1 and case.records >= 2", lambda n, k: n >= 1 and k >= 2),
    ("case.records >= 2 and graph.incidents_nearby >= 1", lambda n, k: n >= 1 and k >= 2),
    ("graph.incidents_nearby < 1 or case.records < 2", lambda n, k: n < 1 or k < 2),
])
def test_costly_side_runs_only_when_the_cheap_side_leaves_it_open(src, true_when):
    for records, nearby in [(1, 3), (1, 0), (2, 3), (2, 0)]:
        feats = _CountingFeatures(nearby)
        got = ev(src, case=_case(records, feats), kind="call")
        assert got is true_when(nearby, records), (records, nearby)
        # a one-record case settles the answer without searching the map
        assert feats.asked == (0 if records == 1 else 1), (records, nearby)


@pytest.mark.parametrize("src,msg,col", [
    ('call_type == 3', "compares str with num", 10),
    ('head_count > 3', "only on streams ['video_alert']", 0),
    ('txet contains "刀"', "unknown name 'txet'", 0),
    ('text.__class__ == "x"', "names starting with '_'", 5),
    ('__import__("os")', "names starting with '_'", 0),
    ('eval("1")', "unknown function 'eval'", 0),
    ('text mentions @nope', "unknown 词库 @nope", 14),
    ('text matches "(a+)+b"', "backtrack catastrophically", 14),
    ('text matches "(a|aa)*"', "backtrack catastrophically", 14),
    ('text matches "(x)\\\\1"', "back-references", 14),
    ('text matches "a{1,1000}"', "over 50", 14),
    ('text matches "(?=a)"', "look-around", 14),
    ('call_type', "must be true/false", 0),
    ('a == 1 == 2', "do not chain", 7),
    ('text contains 刀', "strings need quotes", 14),
    ('hour >= 1 and', "expected a value", 13),
    ('call_type in [1, "a"]', "mixes", 17),
])
def test_errors_name_the_column(src, msg, col):
    with pytest.raises(LangError) as e:
        compile_condition(src, ["call"], LEX)
    assert msg in e.value.message
    assert e.value.pos == col


def test_limits():
    deep = "(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(LangError, match="nested deeper"):
        parse(deep)
    with pytest.raises(LangError, match="nested deeper"):
        parse("not " * 40 + "true")
    with pytest.raises(LangError, match="longer than"):
        parse("true or " * 400 + "true")
    with pytest.raises(LangError, match="list longer"):
        parse("x in [" + ",".join(['"a"'] * 260) + "]")
    with pytest.raises(LangError, match="more than"):
        Lexicon.from_list("big", [f"词{i}" for i in range(3000)])


def pack(tmp_path, body: str, name="p.yaml"):
    (tmp_path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return load_packs(tmp_path)


RULE = """\
pack: hostile
rules:
  - id: r1
    title: 测试
    description: 测试规则
    score: 0.3
    streams: [call]
    when: {when}
    tests: [{{records: [{{text: a}}], fire: false}}]
"""


def test_yaml_errors_point_into_the_expression(tmp_path):
    ps = pack(tmp_path, RULE.format(when='text contains "刀" and call_tpye == "x"'))
    (e,) = ps.errors
    assert (e.line, e.col) == (8, 33), str(e)   # the 'c' of call_tpye, inside the YAML line
    assert "unknown name 'call_tpye'" in e.message
    ps = pack(tmp_path, RULE.format(when="|\n      text contains \"刀\"\n        and bogus > 1"))
    (e,) = ps.errors
    assert (e.line, e.col) == (10, 13), str(e)


@pytest.mark.parametrize("body,msg", [
    (RULE.format(when="'text * 1'"), "unexpected character '*'"),
    (RULE.format(when="x") + "    extra: 1\n", "unknown rule field 'extra'"),
    ("pack: aa\nx: &a [1]\ny: *a\nrules: []\n", "anchors and aliases"),
    ("pack: aa\nrules:\n" + "  " + "[" * 30 + "]" * 30 + "\n", "nested deeper"),
    (RULE.format(when="true").replace("score: 0.3", "score: 7"), "score:"),
    (RULE.format(when="true").replace("tests: [{records: [{text: a}], fire: false}]", "tests: []"), "tests:"),
    (RULE.format(when="true").replace("    streams: [call]\n", "    streams: [call]\n    reason: '{words.__class__}'\n"), "placeholder"),
    ("rules: [", "YAML"),
])
def test_hostile_files_refused_cleanly(tmp_path, body, msg):
    ps = pack(tmp_path, body)
    assert ps.errors and msg in str(ps.errors[0]), ps.errors
    assert not ps.specs
    assert str(ps.errors[0]).startswith(str(tmp_path / "p.yaml") + ":")


def test_huge_lexicon_and_file_refused(tmp_path):
    words = "\n".join(f"    - 词{i}" for i in range(2500))
    ps = pack(tmp_path, f"pack: big\nlexicons:\n  big:\n{words}\nrules: []\n")
    assert any("more than 2000 words" in str(e) for e in ps.errors)
    (tmp_path / "p.yaml").write_text("pack: big\n# " + "x" * 600_000 + "\n", encoding="utf-8")
    assert "larger than" in str(load_packs(tmp_path).errors[0])
