"""Masking and keyed hashing of personal data (names, phones, 身份证 numbers).

Clear values live only in the records store and before an authorised user; every
other place (signals, warnings, pushes, logs, metric labels) uses these.

>>> mask_name("张三丰")
'张某某'
>>> mask_name("欧阳娜娜")
'欧阳某某'
>>> mask_phone("13800138000")
'138****8000'
>>> mask_id("11010519491231002X")
'110105********002X'
>>> h = Hasher(b"k" * 32)
>>> h("13800138000") == h("13800138000") != Hasher(b"j" * 32)("13800138000")
True
>>> len(h("13800138000"))
16
"""
from __future__ import annotations

import hashlib
import re

_HAN = re.compile("[\u4e00-\u9fff]")
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木".split()
)


def mask_name(name: str | None) -> str:
    """Keep the surname, replace each given-name character by 某 (张三 → 张某)."""
    if not name:
        return ""
    n = name.strip()
    if not n:
        return ""
    if not ("\u4e00" <= n[0] <= "\u9fff" or _HAN.search(n)):   # (the usual: a Han first)
        return n[0] + "***"  # a non-Chinese name: first letter only
    cut = 2 if n[:2] in _COMPOUND_SURNAMES and len(n) > 2 else 1
    return n[:cut] + "某" * max(1, len(n) - cut)


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id(id_number: str | None) -> str:
    if not id_number:
        return ""
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


class Hasher:
    """Keyed hash (HMAC-SHA256, 64 bits shown) so linking works without clear values."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("hash key must be at least 16 bytes")
        # RFC 2104 with the keyed pads hashed once: a call copies two SHA-256 states instead of
        # building an ``hmac.HMAC`` (1.3 µs against 3.2; it runs for every person of every record)
        k = hashlib.sha256(key).digest() if len(key) > 64 else key
        k = k.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(x ^ 0x36 for x in k))
        self._outer = hashlib.sha256(bytes(x ^ 0x5C for x in k))

    def __call__(self, value: str) -> str:
        """HMAC-SHA256 of ``value``'s UTF-8, the first 16 hex digits.

        >>> import hmac, hashlib
        >>> h = Hasher(b"k" * 80)
        >>> h("13800138000") == hmac.new(b"k" * 80, b"13800138000", hashlib.sha256).hexdigest()[:16]
        True
        """
        i = self._inner.copy()
        i.update(value.encode("utf-8"))
        o = self._outer.copy()
        o.update(i.digest())
        return o.digest()[:8].hex()   # = hexdigest()[:16], without the other 48 digits
