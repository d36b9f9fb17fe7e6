"""Keyed hashing (streams/privacy.py): links people without their clear values."""
from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from streams.privacy import Hasher


def test_keyed_hash_is_hmac_sha256_for_any_key_length():
    """``Hasher`` computes HMAC with precomputed pads: it must equal the standard library's HMAC
    for keys shorter than, equal to and longer than SHA-256's 64-byte block."""
    rnd = random.Random(5)
    for n in (16, 32, 63, 64, 65, 129):
        key = bytes(rnd.randrange(256) for _ in range(n))
        h = Hasher(key)
        for v in ("", "13800138000", "张三|620102199001011234", "x" * 300):
            assert h(v) == hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[:16], (n, v)


def test_a_hasher_is_reusable_and_keys_differ():
    a, b = Hasher(b"a" * 32), Hasher(b"b" * 32)
    first = a("13800138000")
    assert a("13800138001") != first and a("13800138000") == first   # (state copied, not shared)
    assert b("13800138000") != first


def test_short_keys_are_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        Hasher(b"short")
