"""Sources: where records come from. Each yields ``Item``s in arrival order.

A source never raises for one bad record: it yields an ``Item`` whose ``error`` says
why, so the runner can dead-letter it and go on. ``SourceError`` is only for a
source that cannot be read at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

from .codec import decode
from .errors import RecordRejected, SourceError


@dataclass(slots=True)
class Item:
    """One arrival: the raw text, and either the record or why it was rejected."""

    line: int
    raw: str
    record: object | None = None
    error: RecordRejected | None = None
    source: str = ""


class Source(Protocol):
    name: str

    def __iter__(self) -> Iterator[Item]: ...


def decode_lines(lines: Iterable[str], *, source: str = "", start: int = 1) -> Iterator[Item]:
    """JSON lines → items; blank lines are skipped (but still counted for line numbers)."""
    for n, line in enumerate(lines, start):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            yield Item(n, raw, decode(raw, line=n), None, source)
        except RecordRejected as exc:
            yield Item(n, raw, None, exc, source)


class JsonlFile:
    """A JSON Lines file of yujing records (the simulator's output, an export already in our form)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise SourceError(f"input file not found: {self.path}")

    def __iter__(self) -> Iterator[Item]:
        # errors="replace": a broken byte becomes U+FFFD and the line still gets a verdict
        with self.path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            yield from decode_lines(fh, source=self.name)


def open_source(path: str | Path, mapping=None, *, source_name: str | None = None) -> Source:
    """The reader for ``path`` by its suffix. Without a mapping: ``.jsonl``/``.ndjson`` (and
    ``.json`` arrays) of yujing records. With one (a ``streams.mapping.Mapping`` or the path of
    a mapping file): another system's ``.csv``/``.json``/``.jsonl`` export through it."""
    from .tabular import JsonArrayFile, MappedReader  # tabular imports this module

    p = Path(path)
    if mapping is not None:
        return MappedReader(p, mapping, source_name)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return JsonlFile(p)
    if suffix == ".json":
        return JsonArrayFile(p)
    raise SourceError(f"{p.name}: a {suffix or 'suffix-less'} file needs a mapping file (see docs/mapping.md)")
