"""Features of a case as it stands when a record arrives, and their names in Chinese.

Everything comes from the ``CaseContext`` the pipeline hands over (the records that have
arrived, never later ones) and from the current record.  History: counts by stream and window,
categories (violence calls, fights, failed mediation), dispute kind, hours since first contact,
repeat-contact gaps, key persons among the parties, group size.  Text: character 2- and 3-grams
of the case's latest texts hashed (crc32, not Python's salted ``hash``) into ``2**bits`` slots,
and hits of the analysts' word lists (``rules/lexicons/*.txt``, read here, not imported).
"""
from __future__ import annotations

import bisect
import math
import re
import zlib
from collections import _count_elements  # type: ignore[attr-defined]  (Counter's C loop)
from datetime import datetime  # noqa: F401 (doctest)
from functools import lru_cache
from operator import add, mul
from pathlib import Path
from typing import Any, Callable

from streams.codes import LABELS
from streams.detect import CaseContext, CaseEntry  # noqa: F401 (doctest)

from .case_state import CaseStates

LEXICON_DIR = Path(__file__).resolve().parents[1] / "rules" / "lexicons"
STREAM_WORD = {"grid_event": "网格事件", "call": "来电", "video_alert": "视频告警"}
WINDOWS = (("1d", 86400.0, "24小时内"), ("7d", 7 * 86400.0, "7天内"), ("all", math.inf, "累计"))
CATEGORY_WORD = {"violence": "暴力警情", "threat": "威胁警情", "domestic": "家暴警情",
                 "fight": "打架告警", "gathering": "聚集告警", "face_match": "重点人员人脸比中",
                 "mediation_failed": "调解失败", "resolved": "已化解", "mediating": "调解中",
                 "wages": "欠薪来电", "dispute": "纠纷"}


@lru_cache(maxsize=4)
def load_lexicons(directory: str = str(LEXICON_DIR)) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(group, Chinese label, words) per ``*.txt``: ``word = synonym, ...`` a line, ``#`` comments;
    the first comment's text before ``:`` names the group."""
    out = []
    for path in sorted(Path(directory).glob("*.txt")):
        label, words = path.stem, []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            line = line.strip()
            if line.startswith("#"):
                if n == 0:
                    label = line.lstrip("# ").split(":")[0].split(":")[0].strip() or label
                continue
            for part in line.replace("=", ",").split(","):
                if part.strip():
                    words.append(part.strip())
        out.append((path.stem, label, tuple(dict.fromkeys(words))))
    return tuple(out)


class Featurizer:
    """``features(record, case)`` → (x, texts): x a sparse dict, texts the case texts its n-gram
    slots came from (for explanations, see ``name``).

    What is paid per record is kept small (issue #5's cost aim): an entry's n-grams are hashed
    once (and a given n-gram's slot once, memoised); the last texts' vector is counted in C
    (``Counter``'s loop); feature names are memoised.  Nothing long-lived is allocated per record
    beyond the model's kept snapshot: surviving containers cost the garbage collector more than
    the work they would save (a per-case cache of the n-gram vector measured slower, and it
    missed on nearly every record, since each record is itself the case's newest entry).
    """

    MEMO_MAX = 200_000   # n-gram → slot memo entries before it is cleared (~30 MB at most)

    def __init__(self, bits: int = 16, texts: int = 3, lexicon_dir: str = str(LEXICON_DIR)):
        self.mask = (1 << bits) - 1
        self.texts = texts
        self.lexicons = load_lexicons(lexicon_dir)
        self._lex_grams = {w[i:i + n] for _, _, ws in self.lexicons for w in ws
                           for n in (2, 3) for i in range(len(w) - n + 1)}
        # (slot key → the word-list n-grams hashed there: the only n-grams an explanation names)
        self._lex_slots: dict[str, tuple[str, ...]] = {}
        for g in sorted(self._lex_grams):
            k = f"h{zlib.crc32(g.encode()) & self.mask}"
            self._lex_slots[k] = (*self._lex_slots.get(k, ()), g)
        self.group_label = {g: lab for g, lab, _ in self.lexicons}
        self._lex_rx = [(g, re.compile("|".join(map(re.escape, ws)))) for g, _, ws in self.lexicons if ws]
        self._hits: dict[str, tuple[str, ...]] = {}   # record id -> lexicon groups hit (a memo)
        self.states = CaseStates(self._entry)   # per case, kept up to date record by record
        self._wkeys: dict[str, tuple[str, str, str]] = {}
        self._slots: dict[str, str] = {}         # n-gram -> its slot key (a memo)
        self._names: dict[str, str] = {}         # non-text feature key -> Chinese name (a memo)
        self._rattrs: dict[type, tuple[bool, tuple[str, ...]]] = {}   # record class -> fields read

    def slot(self, gram: str) -> str:
        """The hashed slot key of an n-gram: ``h`` + crc32 of its UTF-8 masked to ``bits``.

        >>> f = Featurizer(bits=4)
        >>> f.slot("打人"), f.slot("打人") == "h%d" % (zlib.crc32("打人".encode()) & 15)
        ('h9', True)
        """
        k = self._slots.get(gram)
        if k is None:
            if len(self._slots) > self.MEMO_MAX:
                self._slots.clear()
            k = self._slots[gram] = f"h{zlib.crc32(gram.encode()) & self.mask}"
        return k

    def lex_hits(self, record_id: str, text: str) -> tuple[str, ...]:
        got = self._hits.get(record_id)
        if got is None:
            got = tuple(g for g, rx in self._lex_rx if rx.search(text)) if text else ()
            if len(self._hits) > 200_000:
                self._hits.clear()
            self._hits[record_id] = got
        return got

    def _entry(self, e: Any) -> tuple:
        """What one case entry contributes: (timestamp, stream, category, word-list groups,
        hashed n-gram slots: one per 2-gram then per 3-gram, repeats kept); computed once per
        entry."""
        t = e.text
        if t and len(t) > 1:
            # (the n-grams by concatenation and their memoised slots by ``map``: loops in C)
            two = list(map(add, t, t[1:]))
            grams = [*two, *map(add, two, t[2:])]
            slots = list(map(self._slots.get, grams))
            if None in slots:
                slots = [k or self.slot(g) for k, g in zip(slots, grams)]
            grams = tuple(slots)
        else:
            grams = ()
        # (tuples: a tuple of strings leaves the garbage collector's watch, and there is one of
        # these per entry of every case in memory)
        return (e.at.timestamp(), e.kind, e.category if e.category in CATEGORY_WORD else None,
                self.lex_hits(e.record_id, t), grams)

    def _keys(self, kind: str) -> tuple[str, str, str]:
        got = self._wkeys.get(kind)
        if got is None:
            got = self._wkeys[kind] = tuple(f"n:{kind}:{w}" for w, _, _ in WINDOWS)
        return got

    def _record_attrs(self, record: Any) -> tuple[bool, tuple[str, ...]]:
        """(has ``text``, which of call_type/alert_type/status it has) per record class: a
        missing attribute on a pydantic model is a slow ``__getattr__`` miss."""
        cls = type(record)
        got = self._rattrs.get(cls)
        if got is None:
            fields = getattr(cls, "model_fields", None)
            cur = ("call_type", "alert_type", "status")
            if fields is None:
                got = (True, cur)
            else:
                got = ("text" in fields, tuple(a for a in cur if a in fields))
            self._rattrs[cls] = got
        return got

    def features(self, record: Any, case: CaseContext) -> tuple[dict[str, float], list[str]]:
        now = record.occurred_at.timestamp()
        x: dict[str, float] = {f"kind:{record.kind}": 1.0}
        st = self.states.get(case.case_id, case.entries)
        log1p, bl, br = math.log1p, bisect.bisect_left, bisect.bisect_right
        for kind, ts in st.by_kind.items():
            # (a record up to an hour "ahead" counts: clock skew)
            k1, k7, kall = self._keys(kind)
            hi = br(ts, now + 3600.0)
            if hi:
                x[kall] = log1p(hi)
                c = hi - bl(ts, now - 604800.0)
                if c > 0:
                    x[k7] = log1p(c)
                    c = hi - bl(ts, now - 86400.0)
                    if c > 0:
                        x[k1] = log1p(c)
        for k, v in st.cats.items():
            x["cat:" + k] = log1p(v)
        for g, v in st.lex.items():
            x["lex:" + g] = log1p(v)
        times = st.times
        relapse = bool(st.resolved) and len(times) - bl(times, st.resolved[0]) > 1
        has_text, cur_attrs = self._record_attrs(record)
        text = (getattr(record, "text", "") or "") if has_text else ""
        for g in self.lex_hits(record.id, text):
            x["lexnow:" + g] = 1.0
        if relapse:
            x["relapse"] = 1.0
        cur = None
        for a in cur_attrs:
            cur = getattr(record, a, None)
            if cur:
                break
        if cur is not None:
            x[f"now:{cur.value}"] = 1.0
        if case.dispute_kind:
            x[f"dk:{case.dispute_kind}"] = 1.0
        if times:
            x["age_h"] = math.log1p(max(0.0, now - times[0]) / 3600) / 4
            tail = times[-6:]
            gaps = [b - a for a, b in zip(tail, tail[1:])]
            if gaps:
                x["gap_min"] = 1.0 / (1.0 + min(gaps) / 86400)
                x["gap_last"] = 1.0 / (1.0 + gaps[-1] / 86400)
                if len(gaps) > 1 and gaps[-1] < gaps[-2]:
                    x["gap_shrinking"] = 1.0
        if case.key_persons:
            kp = [case.key_persons[k] for k in case.party_keys if k in case.key_persons]
            if kp:
                x["kp_n"] = math.log1p(len(kp))
                x["kp_level"] = max(k.risk_level for k in kp) / 5
                for k in kp:
                    x[f"kp:{k.category}"] = 1.0
        if case.party_keys:
            x["parties"] = math.log1p(len(case.party_keys))
        if case.new_party_keys:
            x["new_party"] = 1.0
        last = zip(st.infos[-self.texts:], case.entries[-self.texts:])   # (the state is the entries)
        _, names = self._ngrams([(i[4], e.text) for i, e in last if i[4]], into=x)
        return x, names

    def _ngrams(self, texts: list[tuple[tuple, str]],
                into: dict[str, float] | None = None) -> tuple[dict[str, float], list[str]]:
        """The L2-normalised n-gram counts of ``texts`` ((slots, text) pairs), the last text's
        slots first, added to ``into`` (a new dict if none: one copy fewer per record), and the
        texts themselves (what an explanation names n-grams from).

        >>> f = Featurizer(bits=4)
        >>> e = [f._entry(CaseEntry(i, "call", datetime(2026, 5, 1), "dispute", t))[4]
        ...      for i, t in (("a", "打人了"), ("b", "打人"))]
        >>> e[0]   # 打人, 人了, 打人了
        ('h9', 'h7', 'h11')
        >>> v, _ = f._ngrams([(e[0], "打人了"), (e[1], "打人")])
        >>> {k: round(c, 3) for k, c in v.items()}   # 打人 twice, 人了 and 打人了 once
        {'h9': 0.816, 'h7': 0.408, 'h11': 0.408}
        """
        into = {} if into is None else into
        if not texts:
            return into, []
        # (counted in C, as ``Counter`` does; the concatenation order gives the slots in the order
        # a dict-merge of the last text then the earlier ones would: the same floats, same order)
        grams: dict[str, int] = {}
        _count_elements(grams, texts[-1][0] + sum([s for s, _ in texts[:-1]], ()))
        vals = grams.values()
        norm = 1.0 / math.sqrt(sum(map(mul, vals, vals)))
        into.update(zip(grams, map(norm.__mul__, vals)))   # (slot keys "h…" meet no other key)
        return into, [t for _, t in texts]

    def name(self, key: str, texts: list[str]) -> str:
        """The Chinese name of a feature; a free-text n-gram slot is named only by a word-list
        n-gram hashed there that occurs in ``texts`` (free text may hold names: signals carry
        no personal data).

        >>> f = Featurizer()
        >>> f.name(f.slot("扬言"), ["张伟扬言要打人"]), f.name(f.slot("扬言"), ["无关"]), f.name("parties", [])
        ('文本含「扬言」', '文本特征', '涉及人数')
        >>> f.name(f.slot("张伟"), ["张伟扬言要打人"])   # a name's n-gram is never shown
        '文本特征'
        """
        got = self._names.get(key)
        if got is not None:
            return got
        if key.startswith("h") and ":" not in key:
            for g in self._lex_slots.get(key, ()):
                if any(g in t for t in texts):
                    return f"文本含「{g}」"
            return "文本特征"
        got = self._names[key] = self._name(key)
        return got

    def _name(self, key: str) -> str:
        head, _, rest = key.partition(":")
        if head == "n":
            kind, win = rest.split(":")
            return f"{dict((w, z) for w, _, z in WINDOWS)[win]}{STREAM_WORD.get(kind, kind)}次数"
        if head == "cat":
            return f"出现{CATEGORY_WORD.get(rest, rest)}"
        if head in ("lex", "lexnow"):
            return ("本次" if head == "lexnow" else "案件") + f"出现{self.group_label.get(rest, rest)}类词语"
        if head == "now":
            return f"本条记录为{CATEGORY_WORD.get(rest, LABELS.get(rest, rest))}"
        if head == "dk":
            return f"纠纷类型:{LABELS.get(rest, rest)}"
        if head == "kind":
            return f"本条为{STREAM_WORD.get(rest, rest)}"
        if head == "kp":
            return f"当事人含重点人员({LABELS.get(rest, rest)})"
        return {"age_h": "首次接触至今时长", "gap_min": "重复接触间隔短", "gap_last": "距上次接触时间短",
                "gap_shrinking": "接触间隔缩短", "kp_n": "当事人中重点人员人数", "kp_level": "重点人员风险等级",
                "parties": "涉及人数", "new_party": "出现新当事人", "relapse": "化解后再起"}.get(key, key)
