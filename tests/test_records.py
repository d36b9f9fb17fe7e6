"""Records: round trips, and corrupted records rejected with the right reason and field."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import decode, encode
from streams.errors import RecordRejected
from streams.ident import check_id_number, check_region_code, id_check_digit

from .strategies import calls, id_numbers, records


@given(records)
@settings(max_examples=200, deadline=None)
def test_record_round_trip(rec):
    back = decode(encode(rec))
    assert back == rec
    assert back.occurred_at.utcoffset() is not None


def _other_digit(c: str) -> str:
    return "0" if c != "0" else "1"


CORRUPTIONS = {
    # name: (how to corrupt the JSON object, expected reason, expected field)
    "drop_time": (lambda d: d.pop("occurred_at"), "missing_field", "occurred_at"),
    "drop_kind_target": (lambda d: d.pop("call_type"), "missing_field", "call_type"),
    "unknown_call_type": (lambda d: d.__setitem__("call_type", "纠纷类xx"), "unknown_category", "call_type"),
    "unknown_line": (lambda d: d.__setitem__("line", "119"), "unknown_category", "line"),
    "bad_province": (lambda d: d["place"].__setitem__("region_code", "990101001001"),
                     "bad_region_code", "place.region_code"),
    "short_region": (lambda d: d["place"].__setitem__("region_code", "6201"),
                     "bad_region_code", "place.region_code"),
    "time_not_time": (lambda d: d.__setitem__("occurred_at", "昨天下午"), "bad_type", "occurred_at"),
    "text_not_text": (lambda d: d.__setitem__("text", {"a": 1}), "bad_type", "text"),
    "extra_field": (lambda d: d.__setitem__("callr", {}), "unknown_field", "callr"),
    "bad_kind": (lambda d: d.__setitem__("kind", "fax"), "unknown_kind", "kind"),
    "bad_phone": (lambda d: d["caller"].__setitem__("phone", "12345"), "bad_phone", "caller.phone"),
}


@given(calls, st.sampled_from(sorted(CORRUPTIONS)))
@settings(max_examples=200, deadline=None)
def test_corrupted_record_rejected_naming_field(rec, name):
    obj = json.loads(encode(rec))
    corrupt, reason, field = CORRUPTIONS[name]
    corrupt(obj)
    with pytest.raises(RecordRejected) as info:
        decode(json.dumps(obj, ensure_ascii=False))
    assert info.value.reason == reason
    assert info.value.field == field
    assert field in str(info.value)


@given(calls, id_numbers(), st.integers(0, 17))
@settings(max_examples=200, deadline=None)
def test_any_single_digit_change_in_id_is_caught(rec, idn, pos):
    """GB 11643's check digit catches every single-character substitution."""
    bad = idn[:pos] + (_other_digit(idn[pos]) if idn[pos] != "X" else "0") + idn[pos + 1:]
    obj = json.loads(encode(rec))
    obj["caller"]["id_number"] = bad
    with pytest.raises(RecordRejected) as info:
        decode(json.dumps(obj))
    assert info.value.reason == "bad_id_number"
    assert info.value.field == "caller.id_number"


@given(calls)
@settings(max_examples=50, deadline=None)
def test_truncated_json_is_malformed(rec):
    line = encode(rec)
    with pytest.raises(RecordRejected) as info:
        decode(line[: len(line) // 2], line=12)
    assert info.value.reason == "malformed_json"
    assert "line 12" in str(info.value)


def test_known_real_world_id_numbers():
    # published GB 11643 examples (the standard's own and a commonly cited one)
    assert check_id_number("11010519491231002X") == "11010519491231002X"
    assert check_id_number("34052419800101001x") == "34052419800101001X"
    assert id_check_digit("34052419800101001") == "X"
    with pytest.raises(ValueError, match="check digit"):
        check_id_number("110105194912310021")
    with pytest.raises(ValueError, match="birth date"):
        check_id_number("110105194902310023")


def test_region_code_levels():
    assert check_region_code("620102") == "620102000000"  # a bare GB/T 2260 county code
    with pytest.raises(ValueError, match="lower level"):
        check_region_code("620000001001")


def test_naive_time_is_shanghai():
    rec = decode('{"kind":"camera","id":"k1","occurred_at":"2026-01-01 08:00:00","camera_id":"cam1",'
                 '"place":{"region_code":"620102003004"}}')
    assert rec.occurred_at.isoformat() == "2026-01-01T08:00:00+08:00"
