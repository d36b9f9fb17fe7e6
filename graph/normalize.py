"""Normalising Chinese addresses for linking: one household, one key, however it was typed.

What varies between a grid worker's app, a 110 operator and a 12345 agent for the same door:
full-width characters, Chinese numerals, the province/city/district prefix, and the forms of
building, entrance and room (3号楼 / 3栋 / 3幢 / 三栋; 2单元 / 二单元; 301室 / 301 / 3-2-301).

>>> normalise_address("甘肃省兰州市城关区 张掖路１２号 ３号楼二单元３０１室")
'张掖路12号3栋2单元301'
>>> normalise_address("城关区张掖路十二号3-2-301")
'张掖路12号3栋2单元301'
>>> normalise_address("张掖路12号3幢2单元301房")
'张掖路12号3栋2单元301'
>>> normalise_address("安宁县上川镇王家湾村十二组41号")
'上川镇王家湾村12组41号'
>>> normalise_address("甘肃省安宁县龙泉镇超市") == normalise_address("安宁县龙泉镇超市") == "龙泉镇超市"
True
>>> normalise_address("兰州市城关区张掖路菜市场")
'张掖路菜市场'
>>> normalise_address("  Room 1203,  Tower B ")
'room 1203, tower b'
"""
from __future__ import annotations

import re
import unicodedata

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9}
_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=[号栋幢楼单元室组层户排巷弄村]|$|-)")
# the administrative prefix down to the county: 省, 自治区, 市, 州, 盟, 区, 县, 旗
# (小区, 社区, 园区, 校区, 景区, 厂区, 矿区 end in 区 but are places, not counties)
# (a 市 or 区 after a 镇, 街, 路 or 号 is a shop or an estate: 龙泉镇超市, 张掖路菜市)
_PREFIX = re.compile(r"^(?:[^省]{2,8}?(?:省|自治区))?(?:[^市州盟镇乡街路号]{1,8}?(?:市|自治州|州|盟))?"
                     r"(?:[^区县旗镇乡街路号]{1,8}?(?<![小社园校景厂矿])(?:区|县|旗))?")
# (the forms already canonical, 3栋 and 2单元, are left out: rewriting them to themselves cost
# a Python call per match, and each pattern runs only when a character it needs is there)
_BUILDING = re.compile(r"(\d+)(?:号楼|幢|座|号栋)")
_UNIT_RE = re.compile(r"(\d+)门")
_ROOM = re.compile(r"(\d+)(?:室|房|户)$")
_DASHED = re.compile(r"(\d+)号(\d+)-(\d+)-(\d+)$")  # 12号3-2-301 = building 3, entrance 2, room 301
_HAN = re.compile("[\u4e00-\u9fff]")


def chinese_number(text: str) -> int:
    """十二 → 12, 二十 → 20, 一百零五 → 105, 三零一 → 301 (digit by digit when no unit)."""
    if not any(c in _UNIT for c in text):
        return int("".join(str(_DIGIT[c]) for c in text))
    total, current = 0, 0
    for c in text:
        if c in _DIGIT:
            current = _DIGIT[c]
        else:
            total += (current or 1) * _UNIT[c]
            current = 0
    return total + current


def normalise_address(address: str) -> str:
    a = unicodedata.normalize("NFKC", address).strip()
    if not _HAN.search(a):
        return " ".join(a.split()).casefold()  # a foreign address: case and spacing only
    a = "".join(a.split())
    a = _CN_NUM.sub(lambda m: str(chinese_number(m.group(0))), a)
    stripped = _PREFIX.sub("", a, count=1)
    if len(stripped) >= 4:  # never strip an address down to nothing useful
        a = stripped
    if "-" in a:
        a = _DASHED.sub(r"\1号\2栋\3单元\4", a)
    if "楼" in a or "幢" in a or "座" in a or "号栋" in a:
        a = _BUILDING.sub(r"\1栋", a)
    if "门" in a:
        a = _UNIT_RE.sub(r"\1单元", a)
    if a[-1] in "室房户":
        a = _ROOM.sub(r"\1", a)
    return a.casefold()
