"""词库 (keyword lists) kept as text files, one concept a line with its synonyms.

File format (UTF-8; ``#`` starts a comment)::

    刀 = 菜刀, 砍刀, 尖刀, 匕首      # the canonical word, then synonyms
    汽油

A lexicon matches any surface form as a substring and reports canonical words, so the
evidence reads 刀 whether the text said 菜刀 or 匕首.

>>> lx = Lexicon.parse("weapons", "刀 = 菜刀, 匕首\\n汽油\\n")
>>> lx.find("他拿着菜刀,还带了汽油"), lx.search("吵架")
(['刀', '汽油'], False)
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import LangError

MAX_WORDS = 2000      # surface forms in one lexicon
MAX_WORD = 32         # characters in one word
MAX_FILE = 256 * 1024


class Lexicon:
    def __init__(self, name: str, forms: dict[str, str], source: str = ""):
        if not forms:
            raise LangError(f"词库 {name} is empty")
        self.name, self.forms, self.source = name, forms, source
        alts = sorted(forms, key=lambda w: (-len(w), w))
        self.pattern = re.compile("|".join(map(re.escape, alts)))
        self.search = lambda text, _s=self.pattern.search: _s(text) is not None

    def find(self, text: str) -> list[str]:
        """Canonical words found, in order of first appearance, each once."""
        seen: dict[str, None] = {}
        for m in self.pattern.finditer(text):
            seen.setdefault(self.forms[m.group()], None)
        return list(seen)

    @classmethod
    def parse(cls, name: str, text: str, source: str = "") -> "Lexicon":
        """Read the file format; errors name the line."""
        forms: dict[str, str] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            head, _, rest = line.partition("=")
            canon = head.strip()
            words = [canon] + [w.strip() for w in re.split(r"[,,、]", rest) if w.strip()]
            for w in words:
                if not w or len(w) > MAX_WORD or any(c.isspace() for c in w):
                    raise LangError(f"{source or name}:{n}: bad word {w!r} (1-{MAX_WORD} characters, "
                                    "no spaces)")
                forms.setdefault(w, canon)
            if len(forms) > MAX_WORDS:
                raise LangError(f"{source or name}:{n}: 词库 {name} has more than {MAX_WORDS} words")
        return cls(name, forms, source)

    @classmethod
    def from_list(cls, name: str, words: list, source: str = "") -> "Lexicon":
        """An inline lexicon from a pack: ``["刀", "菜刀=刀"]`` style entries or plain words."""
        if len(words) > MAX_WORDS:
            raise LangError(f"词库 {name} has more than {MAX_WORDS} words")
        lines = []
        for w in words:
            if not isinstance(w, str):
                raise LangError(f"词库 {name}: every entry must be a string")
            lines.append(w)
        return cls.parse(name, "\n".join(lines), source)


def load_dir(path: Path) -> dict[str, Lexicon]:
    """Every ``*.txt`` in ``path``, by file stem."""
    out: dict[str, Lexicon] = {}
    if not path.is_dir():
        return out
    for f in sorted(path.glob("*.txt")):
        if f.stat().st_size > MAX_FILE:
            raise LangError(f"{f}: 词库 file over {MAX_FILE} bytes")
        out[f.stem] = Lexicon.parse(f.stem, f.read_text(encoding="utf-8"), str(f))
    return out
