"""Dead letters on disk: every rejected record as one JSON line, rotated by size.

The file is the place of last resort (it works when the store does not), so it keeps the raw
record whole, personal data included; protect the folder like the data folder.

>>> import tempfile, json, pathlib
>>> from streams.codec import Reject
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with DeadLetterFile(d / "rejects.jsonl") as dl:
...     dl.append(Reject("bad_phone", "caller.phone", "not a phone", '{"id": "c1"}'))
>>> json.loads((d / "rejects.jsonl").read_text())["reason"], dl.count
('bad_phone', 1)
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterable

from streams.codec import Reject
from streams.errors import SinkError

DEFAULT_MAX_BYTES = 64 << 20


class DeadLetterFile:
    """Append-only JSONL of rejects; at ``max_bytes`` the file becomes ``.1`` (``.1`` → ``.2`` …).

    ``count`` is the number of rejects appended by this object. ``keep`` rotated files are kept;
    older ones are deleted so a flood of bad input cannot fill the disk.
    """

    def __init__(self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = 10):
        if max_bytes < 1 or keep < 1:
            raise ValueError("max_bytes and keep must be positive")
        self.path = Path(path)
        self.max_bytes, self.keep = max_bytes, keep
        self.count = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create dead-letter folder {self.path.parent}: {exc}") from None
        self._fh = self._open()

    def _open(self):
        try:
            fh = open(self.path, "ab")
        except OSError as exc:
            raise SinkError(f"cannot open dead-letter file {self.path}: {exc}") from None
        self._size = fh.tell()
        return fh

    def _rotate(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        oldest = self.path.with_name(f"{self.path.name}.{self.keep}")
        if oldest.exists():
            oldest.unlink()
        for n in range(self.keep - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{n}")
            if src.exists():
                src.rename(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        self._fh = self._open()

    def append(self, reject: Reject) -> None:
        line = (reject.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fh is None:
                raise SinkError(f"dead-letter file {self.path} is closed")
            # rotate before a line that would cross the limit; a file never starts empty-rotated
            if self._size and self._size + len(line) > self.max_bytes:
                self._rotate()
            try:
                self._fh.write(line)
            except OSError as exc:
                raise SinkError(f"cannot write dead-letter file {self.path}: {exc}") from None
            self._size += len(line)
            self.count += 1

    def extend(self, rejects: Iterable[Reject]) -> None:
        for r in rejects:
            self.append(r)

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None

    def files(self) -> list[Path]:
        """The current file and the rotated ones, newest first."""
        rotated = [self.path.with_name(f"{self.path.name}.{n}") for n in range(1, self.keep + 1)]
        return [p for p in [self.path, *rotated] if p.exists()]

    def __enter__(self) -> "DeadLetterFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
