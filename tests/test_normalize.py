"""Address normalisation on forms seen in real exports: each pair must give one key."""
from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from graph import normalize
from graph.normalize import chinese_number, normalise_address

SAME = [
    ("甘肃省兰州市城关区张掖路12号3栋2单元301室", "张掖路12号3栋2单元301"),
    ("兰州市城关区张掖路１２号３号楼２单元３０１", "张掖路十二号三栋二单元三零一室"),
    ("城关区张掖路12号3-2-301", "张掖路12号3幢2单元301房"),
    ("阳光小区3栋1单元502室", "阳光小区三号楼一单元502"),
    ("新疆维吾尔自治区乌鲁木齐市天山区解放北路8号", "天山区解放北路八号"),
    ("内蒙古自治区呼和浩特市赛罕区大学西街5号", "大学西街5号"),
    ("安宁县上川镇王家湾村十二组41号", "上川镇王家湾村12组41号"),
    ("东岗区 南滨河路 154号 万象公寓 7栋 3单元 902室", "南滨河路154号万象公寓7栋3单元902"),
]
DIFFERENT = [
    ("张掖路12号3栋2单元301室", "张掖路12号3栋2单元302室"),
    ("张掖路12号3栋2单元301室", "张掖路12号2栋3单元301室"),
    ("阳光小区3栋1单元502室", "阳光花园3栋1单元502室"),
    ("上川镇王家湾村12组41号", "上川镇王家湾村2组41号"),
]


@pytest.mark.parametrize("a,b", SAME)
def test_forms_of_one_address_give_one_key(a, b):
    assert normalise_address(a) == normalise_address(b)


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_different_households_stay_apart(a, b):
    assert normalise_address(a) != normalise_address(b)


def test_place_names_ending_in_qu_are_not_taken_for_a_county():
    assert normalise_address("阳光小区3栋").startswith("阳光小区")
    assert normalise_address("幸福社区服务站").startswith("幸福社区")


@pytest.mark.parametrize("text,value", [("十二", 12), ("二十", 20), ("一百零五", 105), ("三零一", 301),
                                        ("十", 10), ("两千", 2000)])
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


def test_foreign_address_only_case_and_spacing():
    assert normalise_address("  12 Baker  Street ") == normalise_address("12 baker street")
    assert normalise_address("12 Baker Street") != normalise_address("12BakerStreet")


def _every_rewrite(address: str) -> str:
    """The normaliser without its shortcuts: every rewrite tried on every address, the canonical
    forms (3栋, 2单元) rewritten to themselves."""
    a = unicodedata.normalize("NFKC", address).strip()
    if not any("\u4e00" <= c <= "\u9fff" for c in a):
        return " ".join(a.split()).casefold()
    a = "".join(a.split())
    a = normalize._CN_NUM.sub(lambda m: str(chinese_number(m.group(0))), a)
    stripped = normalize._PREFIX.sub("", a, count=1)
    a = stripped if len(stripped) >= 4 else a
    a = re.sub(r"(\d+)号(\d+)-(\d+)-(\d+)$", r"\1号\2栋\3单元\4", a)
    a = re.sub(r"(\d+)(?:号楼|幢|栋|座|号栋)", r"\1栋", a)
    a = re.sub(r"(\d+)(?:单元|门)", r"\1单元", a)
    a = re.sub(r"(\d+)(?:室|房|户)$", r"\1", a)
    return a.casefold()


PARTS = ["甘肃省", "兰州市", "城关区", "安宁县", "张掖路", "十二号", "12号", "3号楼", "3幢", "3栋", "三栋",
         "二单元", "2门", "2单元", "301室", "301房", "301户", "3-2-301", "-", "楼", "座", "号栋", "门",
         "室", "小区", "社区", "镇", "街", "Room 12", " ", "１２", "号", "7", "B座"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PARTS), min_size=1, max_size=8))
def test_the_shortcuts_change_no_result(parts):
    """Each rewrite runs only when a character it needs is present: the same keys as running
    them all, on addresses built from the forms the rewrites look for."""
    address = "".join(parts)
    assert normalise_address(address) == _every_rewrite(address)
