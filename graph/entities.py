"""People as the linker sees them: the keys of one party (身份证号, phone) and a name signature
that tolerates a call taker's typos without holding the name in clear.

A name signature is a tuple of per-character tokens (keyed hashes of single characters, which
are not personal data by themselves; a whole name is never stored).  A title such as 先生 /
女士 keeps only the surname and a marker.  Two signatures are *similar* when they are equal,
differ in one character of the same length (a homophone: 张伟 / 张玮), one is the other cut
short (张家鑫 / 张家), or one is "surname + title" with the other's surname (张先生 / 张伟).  A
two-character name may differ in its given name only (张伟 / 张玮, not 张伟 / 李伟):

>>> from streams.privacy import Hasher
>>> names = NameSigner(Hasher(b"doctest-key-0123456"))
>>> s = names.sign
>>> [similar(s("张伟"), s(n)) for n in ("张玮", "张先生", "张伟强", "李伟", "王芳")]
[True, True, True, False, False]
>>> similar(s("张家鑫"), s("张家")), similar(s("张家鑫"), s("章家鑫")), similar(s("张家鑫"), s("张国鑫"))
(True, True, True)
>>> similar(s("张家鑫"), s("李国鑫"))
False
"""
from __future__ import annotations

from sys import intern
from typing import Any, Iterable, NamedTuple

from streams.privacy import Hasher

TITLES = ("先生", "女士", "小姐", "老师", "师傅", "大爷", "大妈", "阿姨")
TITLE = "~"  # marks "surname + title": the given name is unknown

NameSig = tuple[str, ...]


class NameSigner:
    """Name → signature; per-character tokens are cached (a few thousand characters at most)."""

    __slots__ = ("_hash", "_tok")

    def __init__(self, hasher: Hasher):
        self._hash = hasher
        self._tok: dict[str, str] = {}

    def _token(self, ch: str) -> str:
        t = self._tok.get(ch)
        if t is None:
            if len(self._tok) > 50_000:
                self._tok.clear()
            t = self._tok[ch] = self._hash("name-char:" + ch)[:6]
        return t

    def sign(self, name: str | None) -> NameSig | None:
        if not name:
            return None
        n = "".join(name.split())
        if n.endswith(TITLES) and len(n) > 2:
            return (self._token(n[0]), TITLE)
        if len(n) < 2:
            return None
        tok = self._tok
        try:
            return tuple([tok[c] for c in n])
        except KeyError:
            return tuple([self._token(c) for c in n])


def similar(a: NameSig | None, b: NameSig | None) -> bool:
    """Could ``a`` and ``b`` be the same person's name as typed by two people? (see module doc)"""
    if a is None or b is None:
        return True  # no name on one side: no evidence against
    if a == b:
        return True
    if a[-1] == TITLE or b[-1] == TITLE:
        return a[0] == b[0]
    la, lb = len(a), len(b)
    if la == lb:  # one character off; in a two-character name only the given name may be
        return sum(x != y for x, y in zip(a, b)) <= 1 and (la > 2 or a[0] == b[0])
    short, long_ = (a, b) if la < lb else (b, a)
    return len(short) >= 2 and long_[:len(short)] == short and len(long_) - len(short) == 1


class PersonRef(NamedTuple):
    """One party of one record: its link keys, the key detectors know it by, its name.

    (A named tuple: made for every party of every record, in a third of the time of a frozen
    dataclass.)
    """

    keys: tuple[str, ...]      # "id:<hash>", "ph:<hash>"
    person_key: str | None     # id hash, or "ph:<hash>" without an ID number (CaseContext keys)
    name: NameSig | None
    phone_key: str | None


def people_of(parties: Iterable[Any], hasher: Hasher, names: NameSigner) -> list[PersonRef]:
    """The PersonRefs of a record's parties (duplicates by key collapsed)."""
    out: list[PersonRef] = []
    seen: set[str] = set()
    for p in parties:
        if p is None:
            continue
        keys: list[str] = []
        pkey = ph = None
        # interned: a key is kept by every case that names the person and by the linker's
        # index; one string each instead of a copy per record (-5 % of the linker's memory at
        # 250 k people, bench_graph_scale link)
        if p.id_number:
            pkey = intern(hasher(p.id_number))
            keys.append(intern("id:" + pkey))
        if p.phone:
            ph = intern("ph:" + hasher(p.phone))
            keys.append(ph)
            pkey = pkey or ph
        sig = names.sign(p.name)
        if not keys and sig is None:
            continue
        if keys and keys[0] in seen:
            continue
        seen.update(keys)
        out.append(PersonRef(tuple(keys), pkey, sig, ph))
    return out
