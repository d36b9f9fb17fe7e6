"""Reading other systems' exports through mapping files (streams.mapping, streams.tabular).

Expectations are written out by hand from the sample exports in examples/exports, not derived
from the mapping files, so a wrong mapping or a wrong reader fails here.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.codec import decode, encode
from streams.errors import ConfigError, SourceError
from streams.mapping import Mapping
from streams.sources import JsonlFile, open_source
from streams.tabular import MappedReader, detect_encoding, normalise_address, parse_time

ROOT = Path(__file__).resolve().parents[1] / "examples"
MAPS, EXPORTS = ROOT / "mappings", ROOT / "exports"
CST = timezone(timedelta(hours=8))


def read(export: str, mapping: str):
    items = list(MappedReader(EXPORTS / export, MAPS / f"{mapping}.yaml"))
    good = {i.line: i.record for i in items if i.record is not None}
    bad = {i.line: i.error for i in items if i.error is not None}
    assert all((i.record is None) != (i.error is None) for i in items)
    return items, good, bad


def check_bad(bad, expected):
    """expected: line → (yujing field, reason, source column or None)."""
    assert sorted(bad) == sorted(expected)
    for line, (field, reason, column) in expected.items():
        err = bad[line]
        assert (err.line, err.field, err.reason) == (line, field, reason), str(err)
        assert str(err).startswith(f"line {line}: ")
        if column:
            assert column in str(err), str(err)


# ---- the four sample exports ---------------------------------------------------------------

def test_police110_gbk_csv():
    items, good, bad = read("police110_20260502.csv", "police110")
    assert len(items) == 14
    # line → (id, call_type, disposition, region_code, party names)
    expected = {
        2: ("110-J2026050100001", "dispute", "mediated_on_site", "629901001000", ["张伟", "刘洋"]),
        3: ("110-J2026050100002", "domestic", "dispatched", "629901002000", ["李娜", "王强"]),
        4: ("110-J2026050100003", "wages", "referred", "629902001000", []),
        5: ("110-J2026050100004", "other", "recorded", "629921100000", []),
        6: ("110-J2026050100005", "violence", "dispatched", "629901001000", ["陈静", "孙浩"]),
        10: ("110-J2026050200009", "threat", "dispatched", "629901002000", ["周敏", "马超"]),
        12: ("110-J2026050200011", "fraud", "recorded", "629921100000", []),
        13: ("110-J2026050200012", "other", "dispatched", "629902001000", []),
        15: ("110-J2026050200014", "noise", "no_action", "629901002000", []),
    }
    got = {n: (r.id, r.call_type.value, r.disposition.value, r.place.region_code,
               [p.name for p in r.parties]) for n, r in good.items()}
    assert got == expected
    first = good[2]
    assert first.kind == "call" and first.line.value == "110" and first.source == "police110"
    assert first.occurred_at == datetime(2026, 5, 1, 9, 30, tzinfo=CST)
    assert (first.caller.name, first.caller.phone, first.caller.role.value) == ("张伟", "13800138001", "caller")
    assert first.text == "报警人称楼上邻居长期噪音，双方发生口角"        # decoded from GBK
    assert good[3].place.address == "河东区西关街道民主路5号"          # spaces around Chinese dropped
    assert good[4].caller.phone == "09318123456"
    assert {p.role.value for p in good[2].parties} == {"party"}
    # unmapped 警情类别 codes: other, with the raw code kept; mapped ones keep nothing
    assert good[5].raw_codes == {"call_type": "0999"} and good[13].raw_codes == {"call_type": "1203"}
    assert good[2].raw_codes is None
    check_bad(bad, {
        7: ("occurred_at", "bad_type", "接警时间"),
        8: ("caller.phone", "bad_phone", "报警人电话"),
        9: ("disposition", "unknown_category", "处警结果"),    # no other for dispositions
        11: ("place.region_code", "unknown_region", "管辖单位"),
        14: ("occurred_at", "missing_field", "接警时间"),
    })


def test_gbk_is_detected_without_the_encoding_key():
    raw = (EXPORTS / "police110_20260502.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")                                      # the sample really is GBK
    assert detect_encoding(EXPORTS / "police110_20260502.csv") == "gb18030"
    text = (MAPS / "police110.yaml").read_text(encoding="utf-8")
    assert "    encoding: gbk" in text
    no_enc = Mapping.from_text(text.replace("    encoding: gbk", "    # encoding: detect"))
    texts = [i.record.text for i in MappedReader(EXPORTS / "police110_20260502.csv", no_enc) if i.record]
    assert texts[0] == "报警人称楼上邻居长期噪音，双方发生口角"
    assert "深夜KTV噪音扰民" in texts


def test_hotline12345_json_array():
    items, good, bad = read("hotline12345.json", "hotline12345")
    assert len(items) == 12
    expected = {
        2: ("12345-GD202605010001", "noise", "referred", "629901001000"),
        3: ("12345-GD202605010002", "wages", "referred", "629902000000"),
        4: ("12345-GD202605010003", "consult", "recorded", "629902000000"),
        5: ("12345-GD202605010004", "other", "referred", "629901000000"),
        6: ("12345-GD202605010005", "domestic", "recorded", "629921000000"),
        11: ("12345-GD202605020009", "other", "referred", "629902001000"),
        13: ("12345-GD202605020011", "consult", "no_action", "629902000000"),
    }
    got = {n: (r.id, r.call_type.value, r.disposition.value, r.place.region_code)
           for n, r in good.items() if n != 9}
    assert got == expected
    assert good[5].raw_codes == {"call_type": "城市管理"}
    assert good[11].raw_codes == {"call_type": "环境保护"}
    assert good[6].raw_codes == {"disposition": "待回访"}             # the "*" fallback keeps the raw
    assert good[4].place.address == "room 1203, tower b riverside apartments, hexi district"
    assert good[2].occurred_at == datetime(2026, 5, 1, 8, 40, tzinfo=CST)      # epoch millis
    assert good[6].occurred_at == datetime(2026, 5, 1, 14, 20, tzinfo=CST)     # text
    assert good[9].occurred_at == datetime(2026, 5, 2, 8, 0, tzinfo=CST)       # epoch seconds, text
    assert good[9].id.startswith("hotline12345-") and good[9].call_type.value == "dispute"
    assert good[13].caller.phone is None and good[13].caller.name is None
    check_bad(bad, {
        7: ("occurred_at", "bad_type", "来电时间"),
        8: ("caller.phone", "bad_phone", "来电号码"),
        10: ("", "malformed_json", None),                        # a string, not an object
        12: ("place.region_code", "unknown_region", "所属区域"),
    })


def test_grid_disputes_csv_with_bom():
    assert (EXPORTS / "grid_disputes.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert detect_encoding(EXPORTS / "grid_disputes.csv") == "utf-8-sig"
    items, good, bad = read("grid_disputes.csv", "grid_disputes")
    assert len(items) == 12
    # line → (dispute_no, dispute_kind, status, attempts, region)
    expected = {
        2: ("TJ2026-0501", "neighbour", "mediating", 1, "629901001001"),
        3: ("TJ2026-0502", "marriage_family", "mediation_failed", 3, "629901002002"),
        4: ("TJ2026-0503", "homestead_land", "mediating", 2, "629921100201"),
        5: ("TJ2026-0504", "wages", "reported", 0, "629902001003"),
        6: ("TJ2026-0505", "other", "reported", 0, "629921100202"),
        9: ("TJ2026-0508", "property_mgmt", "reported", 0, "629902001003"),
        12: ("TJ2026-0511", "other", "resolved", 1, "629921100201"),
        13: ("TJ2026-0512", "traffic", "resolved", 1, "629902001003"),
    }
    got = {n: (r.dispute_no, r.dispute_kind.value, r.status.value, r.mediation_attempts,
               r.place.region_code) for n, r in good.items()}
    assert got == expected
    assert good[6].raw_codes == {"dispute_kind": "山林权属纠纷"}
    assert good[12].raw_codes == {"dispute_kind": "合同纠纷"}
    assert good[9].raw_codes == {"status": "待分流"}
    r = good[4]
    assert r.kind == "grid_event" and r.grid_id == "G-629921100-07"
    assert r.category.value == "dispute" and r.reporter.value == "grid_worker"
    assert r.occurred_at == datetime(2026, 5, 1, 11, 30, tzinfo=CST)
    assert [(p.role.value, p.name, p.phone) for p in r.parties] == [
        ("complainant", "马大山", "13633334441"), ("respondent", "马二山", None),
        ("respondent", "马小山", None)]
    assert [p.name for p in good[13].parties] == ["彭辉", "曹阳", "蒋欣"]   # full-width comma
    assert [(p.role.value, p.phone) for p in good[6].parties] == [("complainant", None), ("respondent", None)]
    check_bad(bad, {
        7: ("place.region_code", "bad_region_code", "社区代码"),
        8: ("mediation_attempts", "bad_type", "调解次数"),
        10: ("", "malformed_json", None),                        # an unquoted comma: 13 cells
        11: ("occurred_at", "missing_field", "登记时间"),
    })


def test_video_alerts_jsonl():
    items, good, bad = read("video_alerts.ndjson", "video_alerts")
    assert len(items) == 12
    expected = {
        1: ("vid-A20260501000101", "fight", 0.91, 4, "629901001000"),
        2: ("vid-A20260501000102", "gathering", 0.86, 35, "629902001000"),
        3: ("vid-A20260501000103", "near_water", 0.78, 2, "629921000000"),
        4: ("vid-A20260502000104", "face_match", 0.97, 1, "629901002000"),
        5: ("vid-A20260502000105", "loitering", 0.66, 1, "629902001000"),
        6: ("vid-A20260502000106", "other", 0.72, 0, "629901001000"),
        11: ("vid-A20260502000111", "other", 0.88, 0, "629902001000"),
        12: ("vid-A20260502000112", "near_water", 0.82, 3, "629921000000"),   # "82%"
    }
    got = {n: (r.id, r.alert_type.value, pytest.approx(r.confidence), r.head_count,
               r.place.region_code) for n, r in good.items()}
    assert got == expected
    assert good[1].occurred_at == datetime(2026, 5, 1, 21, 5, tzinfo=CST)
    m = good[4].matched
    assert (m.name, m.id_number, m.role.value) == ("马某某", "629901198503121011", "subject")
    assert good[1].matched is None                     # with: only applies when the cell is there
    assert good[5].place.address == "gate 3, riverside park"
    assert good[6].raw_codes == {"alert_type": "SMOKE_FIRE"}
    assert good[11].raw_codes == {"alert_type": "PARKING_VIOLATION"}
    check_bad(bad, {
        7: ("", "malformed_json", None),
        8: ("confidence", "bad_value", "score"),
        9: ("camera_id", "missing_field", "deviceCode"),
        10: ("matched.id_number", "bad_id_number", "target.idCard"),
    })


# ---- ids -----------------------------------------------------------------------------------

def test_ids_are_stable_across_reads_and_file_names(tmp_path):
    ids1 = [i.record.id for i in open_source(EXPORTS / "grid_disputes.csv", MAPS / "grid_disputes.yaml") if i.record]
    ids2 = [i.record.id for i in open_source(EXPORTS / "grid_disputes.csv", MAPS / "grid_disputes.yaml") if i.record]
    assert ids1 == ids2 and len(ids1) == 8 and len(set(ids1)) == 8
    assert all(i.startswith("grid_disputes-") and len(i) == len("grid_disputes-") + 24 for i in ids1)
    copy = tmp_path / "网格纠纷导出_0502.csv"
    shutil.copy(EXPORTS / "grid_disputes.csv", copy)
    assert [i.record.id for i in MappedReader(copy, MAPS / "grid_disputes.yaml") if i.record] == ids1
    # change one cell of one row: only that row's id changes
    text = copy.read_bytes().decode("utf-8-sig").replace("电动车剐蹭赔偿", "电动车剐蹭赔偿纠纷")
    copy.write_bytes(text.encode("utf-8-sig"))
    ids3 = [i.record.id for i in MappedReader(copy, MAPS / "grid_disputes.yaml") if i.record]
    assert ids3[:-1] == ids1[:-1] and ids3[-1] != ids1[-1]


def test_source_ids_keep_their_prefix_and_differ():
    ids = [i.record.id for i in open_source(EXPORTS / "police110_20260502.csv", MAPS / "police110.yaml") if i.record]
    assert len(set(ids)) == len(ids) == 9 and all(i.startswith("110-J2026") for i in ids)


# ---- bad mapping files ---------------------------------------------------------------------

GOOD = """\
version: 1
sources:
  s1:
    kind: call
    columns:
      时间: occurred_at
      电话: caller.phone
      类别: call_type
      区域: place.region_code
    constants:
      line: "110"
    codes:
      call_type:
        "01": violence
    districts:
      东区: "629901000000"
"""


@pytest.mark.parametrize("old, new, line, words", [
    ("      时间: occurred_at", "      时间: occured_at", 6, ["occured_at", "unknown target field"]),
    ("      电话: caller.phone", "      电话: caller.mobile", 7, ["mobile"]),
    ('        "01": violence', '        "01": violent', 14, ["violent", "call_type"]),
    ('      东区: "629901000000"', '      东区: "62990100000"', 16, ["districts", "12 digits"]),
    ('      东区: "629901000000"', '      东区: "629900000001"', 16, ["lower level"]),
    ("    constants:", "    constant:", 10, ["constant", "unknown key"]),
    ('      line: "110"', '      line: "119"', 11, ["119"]),
    ("    kind: call", "    kind: calls", 4, ["calls"]),
    ("      类别: call_type", "      类别: {to: call_type, fromat: x}", 8, ["fromat", "unknown key"]),
    ("      区域: place.region_code", "      区域: [place", 10, ["not valid YAML", "line 9"]),
])
def test_bad_mapping_names_file_and_line(tmp_path, old, new, line, words):
    assert Mapping.from_text(GOOD).source("s1").model.__name__ == "Call"   # the base is fine
    assert old in GOOD
    path = tmp_path / "city.yaml"
    path.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Mapping.load(path)
    assert info.value.file == str(path) and info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")
    for w in words:
        assert w in str(info.value)


def test_bad_mapping_file_without_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Mapping.load(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        Mapping.load(tmp_path / "empty.yaml")


# ---- values --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("  Room 1203,  Tower B\tRiverside  ", "room 1203, tower b riverside"),
    ("12 RUE DE LA PAIX\u00a0 PARIS", "12 rue de la paix paris"),
    ("Straße 5", "strasse 5"),                                   # case-folded, not just lowered
    ("河东区 东关街道 建设路１２号", "河东区东关街道建设路12号"),
    ("河东区 Wanda Plaza 3号楼", "河东区Wanda Plaza 3号楼"),       # Chinese: case kept
])
def test_address_normalisation(raw, expected):
    assert normalise_address(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2026/05/01 09:30:00", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("2026/5/1 9:30", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("20260501093000", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("202605010930", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("2026年05月01日 09:30", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("2026-05-01T01:30:00Z", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    (1777599000, datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
    ("1777599000000", datetime(2026, 5, 1, 9, 30, tzinfo=CST)),
])
def test_times(raw, expected):
    got = parse_time(raw, ZoneInfo("Asia/Shanghai"))
    assert got == expected and got.utcoffset() == timedelta(hours=8)


def test_configured_timezone():
    m = Mapping.from_text(GOOD.replace("    kind: call\n", "    kind: call\n    timezone: UTC\n"))
    r = m.source("s1").to_record({"时间": "2026/05/01 01:30:00", "电话": "13800138000", "类别": "01",
                                  "区域": "东区"}, line=2, content="x")
    assert r.occurred_at == datetime(2026, 5, 1, 9, 30, tzinfo=CST)
    assert r.raw_codes is None and r.call_type.value == "violence"


# ---- sources and the wire form -------------------------------------------------------------

def test_open_source_picks_by_suffix(tmp_path):
    jl = tmp_path / "x.jsonl"
    jl.write_text("", encoding="utf-8")
    assert isinstance(open_source(jl), JsonlFile)
    assert isinstance(open_source(EXPORTS / "hotline12345.json", MAPS / "hotline12345.yaml"), MappedReader)
    with pytest.raises(SourceError, match="mapping"):
        open_source(EXPORTS / "grid_disputes.csv")
    with pytest.raises(SourceError, match="not found"):
        open_source(tmp_path / "nope.csv", MAPS / "grid_disputes.yaml")


def test_source_chosen_by_files_glob(tmp_path):
    two = GOOD + GOOD.split("sources:\n")[1].replace("  s1:", "  s2:").replace(
        "    kind: call\n", "    kind: call\n    files: ['s2_*.csv']\n")
    m = Mapping.from_text(two.replace("    kind: call\n", "    kind: call\n    files: ['s1_*.csv']\n", 1))
    f = tmp_path / "s2_0501.csv"
    f.write_text("时间,电话,类别,区域\n2026/05/01 09:30:00,13800138000,99,东区\n", encoding="utf-8")
    [item] = list(open_source(f, m))
    assert item.source == "s2" and item.record.source == "s2" and item.line == 2
    assert item.record.call_type.value == "other" and item.record.raw_codes == {"call_type": "99"}
    other = tmp_path / "s3_0501.csv"
    other.write_text("时间\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no sources"):
        open_source(other, m)
    assert isinstance(open_source(other, m, source_name="s1"), MappedReader)


def test_raw_codes_survive_the_wire_and_are_absent_when_empty():
    items, good, _ = read("police110_20260502.csv", "police110")
    line = encode(good[5])
    assert '"raw_codes":{"call_type":"0999"}' in line
    assert decode(line) == good[5]
    assert "raw_codes" not in encode(good[2])
