"""Identifiers: 身份证 numbers (GB 11643), phone numbers, 统计用区划代码 region codes.

Each ``check_*`` returns the normalised value or raises ``ValueError`` whose text
says what is wrong; record models turn those into field-named errors.

>>> check_id_number("11010519491231002x")
'11010519491231002X'
>>> id_check_digit("11010519491231002")
'X'
>>> check_phone("+86 138-0013-8000")
'13800138000'
>>> check_region_code("620102003004")
'620102003004'
>>> region_prefixes("620102003004")
['620000000000', '620100000000', '620102000000', '620102003000', '620102003004']
"""
from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")

# GB/T 2260 province-level prefixes (two digits).
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def check_id_number(value: str) -> str:
    v = value.strip().upper()
    if not _ID_RE.match(v):
        raise ValueError("身份证号 must be 17 digits followed by a digit or X")
    if v[:2] not in PROVINCES:
        raise ValueError(f"身份证号 starts with unknown province code {v[:2]}")
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError("身份证号 has an impossible birth date") from None
    if born.year < 1900:
        raise ValueError("身份证号 has an impossible birth date")
    expected = id_check_digit(v[:17])
    if v[17] != expected:
        raise ValueError(f"身份证号 check digit is {v[17]}, GB 11643 gives {expected}")
    return v


_PHONE_STRIP = re.compile(r"[\s\-()（）]")


def check_phone(value: str) -> str:
    """Normalise a mainland phone: drop +86/0086, separators; mobile or landline."""
    v = _PHONE_STRIP.sub("", value.strip())
    for prefix in ("+86", "0086"):
        if v.startswith(prefix):
            v = v[len(prefix):]
    if re.fullmatch(r"1[3-9]\d{9}", v):
        return v
    if re.fullmatch(r"0\d{9,11}", v):  # landline with area code
        return v
    raise ValueError("phone must be an 11-digit mobile number or a landline with area code")


_REGION_RE = re.compile(r"^\d{12}$")


def check_region_code(value: str) -> str:
    """Validate the form of a 12-digit 统计用区划代码 (province, city, county, township, village)."""
    v = value.strip()
    if len(v) == 6 and v.isdigit():  # a bare GB/T 2260 code names a county-level region
        v = v + "000000"
    if not _REGION_RE.match(v):
        raise ValueError("region code must be 12 digits (统计用区划代码)")
    if v[:2] not in PROVINCES:
        raise ValueError(f"region code starts with unknown province {v[:2]}")
    # a level may be zero only if every level below it is zero too
    parts = (v[2:4], v[4:6], v[6:9], v[9:12])
    seen_zero = False
    for p in parts:
        if int(p) == 0:
            seen_zero = True
        elif seen_zero:
            raise ValueError("region code has a lower level set under an empty higher level")
    return v


def region_prefixes(code: str) -> list[str]:
    """The code of every enclosing level, from province down to the code itself."""
    cuts = (2, 4, 6, 9, 12)
    out = []
    for c in cuts:
        if c > 2 and int(code[cuts[cuts.index(c) - 1]:c]) == 0:
            break
        out.append(code[:c].ljust(12, "0"))
    return out


def region_level(code: str) -> str:
    """'province' | 'city' | 'district' | 'subdistrict' | 'community' for a 12-digit code."""
    names = ("province", "city", "district", "subdistrict", "community")
    return names[len(region_prefixes(code)) - 1]


def subdistrict_of(code: str) -> str:
    """The 街道/乡镇 code enclosing ``code`` (the Kafka partition key)."""
    return code[:9] + "000"
