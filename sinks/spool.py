"""A bounded on-disk FIFO of encoded batches: where writes wait while ClickHouse is down.

Layout under the folder: ``seg-000000001.spool``, ``seg-000000002.spool`` ... append-only
segment files of entries ``[length u32][crc32 u32][payload]``, and ``cursor`` ("segment offset"
of the oldest undelivered entry, replaced atomically). Appends go to the newest segment (a new
one every ``segment_bytes``); a segment is deleted once drained past; when the whole spool is
drained every file goes.

Bounded: ``append`` raises ``SpoolFull`` (a ``SinkUnavailable``: back-pressure, the caller keeps
its data and retries later) when the files would pass ``max_bytes``. Nothing is ever dropped.

Crashes:
 * mid-append: the torn tail entry (short, or bad crc) of the newest segment is cut off on open.
   The batch it held was never acknowledged (``append`` had not returned), so the caller still
   has it.
 * mid-drain: the cursor moves only after the entry has been delivered, so an entry delivered
   just before a crash is delivered again on restart. Deliveries must therefore be idempotent:
   the ClickHouse tables are ReplacingMergeTree on deterministic ids, read with FINAL /
   LIMIT 1 BY, so a second copy of a batch changes nothing as read. Order is kept: the replay
   comes before every later entry.

>>> import tempfile
>>> s = Spool(tempfile.mkdtemp(), max_bytes=64)
>>> s.append(b"one"); s.append(b"two"); len(s)
2
>>> s.peek()
b'one'
>>> s.pop(); s.peek(), len(s)
(b'two', 1)
>>> s.append(b"x" * 60)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
sinks.spool.SpoolFull: spool ... is full (22 of 64 bytes used, entry of 68 bytes); the sink is down, writes wait
"""
from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from pathlib import Path

from streams.errors import SinkError, SinkUnavailable

log = logging.getLogger(__name__)
_HEAD = struct.Struct("<II")
DEFAULT_MAX_BYTES = 1 << 30


class SpoolFull(SinkUnavailable):
    """The spool holds ``max_bytes``: the sink has been down long enough to push back."""


class Spool:
    """FIFO of byte payloads on disk. Thread-safe. ``fsync`` makes each append durable before it
    returns (the default: a spooled batch is as good as a stored one)."""

    def __init__(self, folder: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 segment_bytes: int | None = None, fsync: bool = True):
        if max_bytes < _HEAD.size + 1:
            raise ValueError("max_bytes too small")
        self.folder = Path(folder)
        self.max_bytes, self.fsync = max_bytes, fsync
        # small enough that drained space comes back long before the whole spool is empty
        self.segment_bytes = segment_bytes or max(4096, min(max_bytes // 16, 64 << 20))
        self._lock = threading.RLock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create spool folder {self.folder}: {exc}") from None
        self._open()

    # ---- opening ----------------------------------------------------------------------------
    def _seg_path(self, n: int) -> Path:
        return self.folder / f"seg-{n:09d}.spool"

    def _open(self) -> None:
        segs = sorted(int(p.name[4:13]) for p in self.folder.glob("seg-*.spool"))
        self._segs = segs
        self._next = (segs[-1] + 1) if segs else 1
        if segs:
            self._repair_tail(segs[-1])
        seg, off = self._read_cursor()
        if not segs or seg not in segs:
            # the cursor's segment was deleted (drained) just before a crash: start at the next
            seg, off = (segs[0], 0) if segs else (0, 0)
        for n in [n for n in segs if n < seg]:  # drained, its delete cut short by a crash
            self._seg_path(n).unlink(missing_ok=True)
            segs.remove(n)
        self._cur_seg, self._cur_off = seg, off
        self._sizes = {n: self._seg_path(n).stat().st_size for n in segs}
        self._count = sum(1 for _ in self._entries_from(seg, off)) if segs else 0
        self._fh = None
        if not self._count:
            self._clear()

    def _repair_tail(self, n: int) -> None:
        path = self._seg_path(n)
        good = 0
        with open(path, "rb") as fh:
            while True:
                head = fh.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    break
                size, crc = _HEAD.unpack(head)
                body = fh.read(size)
                if len(body) < size or zlib.crc32(body) != crc:
                    break
                good = fh.tell()
        if good != path.stat().st_size:
            log.warning("spool %s: cutting a torn entry at byte %d (crash mid-append)", path, good)
            os.truncate(path, good)

    def _read_cursor(self) -> tuple[int, int]:
        try:
            seg, off = (self.folder / "cursor").read_text().split()
            return int(seg), int(off)
        except (OSError, ValueError):
            return 0, 0

    def _write_cursor(self) -> None:
        tmp = self.folder / "cursor.tmp"
        tmp.write_text(f"{self._cur_seg} {self._cur_off}\n")
        os.replace(tmp, self.folder / "cursor")

    def _entries_from(self, seg: int, off: int):
        """(segment, offset, payload-length) of every entry from a position on (headers only)."""
        for n in [s for s in self._segs if s >= seg]:
            with open(self._seg_path(n), "rb") as fh:
                fh.seek(off if n == seg else 0)
                while (head := fh.read(_HEAD.size)) and len(head) == _HEAD.size:
                    size, _ = _HEAD.unpack(head)
                    yield n, fh.tell() - _HEAD.size, size
                    fh.seek(size, os.SEEK_CUR)

    # ---- the queue ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        """Bytes on disk (drained entries of a segment still count until it is deleted)."""
        return sum(self._sizes.values())

    def append(self, payload: bytes) -> None:
        entry = _HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self.bytes + len(entry) > self.max_bytes:
                raise SpoolFull(f"spool {self.folder} is full ({self.bytes} of {self.max_bytes} "
                                f"bytes used, entry of {len(entry)} bytes); the sink is down, "
                                f"writes wait")
            if not self._segs or self._sizes[self._segs[-1]] >= self.segment_bytes:
                self._roll()
            last = self._segs[-1]
            if self._fh is None:  # reopened with entries pending: go on in the newest segment
                self._fh = open(self._seg_path(last), "ab")
            try:
                self._fh.write(entry)
                self._fh.flush()
                if self.fsync:
                    os.fsync(self._fh.fileno())
            except OSError as exc:
                raise SinkError(f"cannot write spool {self._seg_path(last)}: {exc}") from None
            self._sizes[last] += len(entry)
            self._count += 1
            if len(self._segs) == 1 and self._count == 1:
                self._cur_seg, self._cur_off = last, self._sizes[last] - len(entry)

    def _roll(self) -> None:
        if self._fh is not None:
            self._fh.close()
        n = self._next
        self._next += 1
        self._fh = open(self._seg_path(n), "ab")
        self._segs.append(n)
        self._sizes[n] = 0
        if len(self._segs) == 1:
            self._cur_seg, self._cur_off = n, 0
        if self.fsync:
            # the new file's name must be durable before anything in it is acknowledged
            dfd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def peek(self) -> bytes | None:
        """The oldest undelivered payload, or None when empty."""
        with self._lock:
            if not self._count:
                return None
            self._skip_drained_segment()
            with open(self._seg_path(self._cur_seg), "rb") as fh:
                fh.seek(self._cur_off)
                size, crc = _HEAD.unpack(fh.read(_HEAD.size))
                body = fh.read(size)
            if len(body) != size or zlib.crc32(body) != crc:
                raise SinkError(f"spool {self._seg_path(self._cur_seg)} is corrupt at byte "
                                f"{self._cur_off}; move the file aside to go on")
            return body

    def pop(self) -> None:
        """Mark the entry ``peek`` returned as delivered."""
        with self._lock:
            if not self._count:
                return
            self._skip_drained_segment()
            with open(self._seg_path(self._cur_seg), "rb") as fh:
                fh.seek(self._cur_off)
                size, _ = _HEAD.unpack(fh.read(_HEAD.size))
            self._cur_off += _HEAD.size + size
            self._count -= 1
            if not self._count:
                self._clear()
            else:
                self._write_cursor()
                self._skip_drained_segment()  # give its space back at once

    def _skip_drained_segment(self) -> None:
        # at the end of a full older segment: delete it and move to the next one
        while self._cur_off >= self._sizes[self._cur_seg] and self._cur_seg != self._segs[-1]:
            done = self._cur_seg
            self._cur_seg, self._cur_off = self._segs[self._segs.index(done) + 1], 0
            self._write_cursor()  # before the delete: a crash in between is harmless (see _open)
            self._seg_path(done).unlink(missing_ok=True)
            self._segs.remove(done)
            del self._sizes[done]

    def _clear(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for n in self._segs:
            self._seg_path(n).unlink(missing_ok=True)
        self._segs, self._sizes = [], {}
        (self.folder / "cursor").unlink(missing_ok=True)
        self._cur_seg, self._cur_off = 0, 0

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
