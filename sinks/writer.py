"""Writing well: retries with backoff, a spool while the sink is down, batching by size and time.

``Delivery`` moves *blocks* (``{table: {column: [values]}}``, JSON-able: times as epoch millis)
to an ``insert`` function. A block is tried a few times with exponential backoff; if the sink
stays down it is appended to a ``Spool`` (durable, bounded) and ``put`` returns: the data is
safe on disk. From then on, new blocks queue behind the spooled ones (order matters:
ReplacingMergeTree without a version keeps the last row inserted for an id), and a background
thread drains the spool oldest first, backing off exponentially between failed attempts. Once
the spool is full, ``put`` raises ``SpoolFull`` (a ``SinkUnavailable``): back-pressure, never
loss. Without a spool, ``put`` raises ``SinkUnavailable`` after the retries.

Crash mid-drain: a spool entry leaves the spool only after its insert returned, so after a crash
the entry being drained is inserted again on restart. That is harmless because every table is a
ReplacingMergeTree on deterministic ids and every read uses FINAL / LIMIT 1 BY; likewise for a
block whose insert reached the server but whose acknowledgement was lost and was retried.
A spooled block the server *refuses* (not unreachable: a schema error) stops the drain with a
logged error and a ``SinkError`` from ``put``/``flush``, rather than skipping data silently.

``BatchingStore`` wraps any ``Store`` to group small writes into one insert per ``max_rows``
rows or ``max_wait`` seconds, whichever comes first (each insert has a fixed cost).
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
import zlib
from typing import Any, Callable, Sequence

from streams.errors import SinkError, SinkUnavailable

from .spool import Spool
from .store import Store, StoreBatch

log = logging.getLogger(__name__)
Block = dict[str, dict[str, list]]


def _text(value: Any) -> str:
    # record bodies travel as UTF-8 bytes (sinks.store._body); on disk they are JSON strings
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    raise TypeError(f"cannot spool a {type(value).__name__}")


def encode_block(block: Block) -> bytes:
    """A block as spool bytes. Bytes values come back as ``str``, which every sink takes too.

    >>> decode_block(encode_block({"records": {"id": ["a"], "body": ['{"x":"张"}'.encode()]}}))
    {'records': {'id': ['a'], 'body': ['{"x":"张"}']}}
    """
    return zlib.compress(json.dumps(block, ensure_ascii=False, separators=(",", ":"),
                                    default=_text).encode("utf-8"), 1)


def decode_block(data: bytes) -> Block:
    return json.loads(zlib.decompress(data))


class Delivery:
    """Retry, spool and drain for one sink. ``insert`` raises ``SinkUnavailable`` when the sink
    is unreachable (worth retrying) and any other ``SinkError`` when the data is refused."""

    def __init__(self, insert: Callable[[Block], None], spool: Spool | None = None, *,
                 retries: int = 4, base_delay: float = 0.05, max_delay: float = 5.0,
                 name: str = "sink"):
        self.insert, self.spool, self.name = insert, spool, name
        self.retries, self.base_delay, self.max_delay = retries, base_delay, max_delay
        self._lock = threading.RLock()
        self._next_try = 0.0       # monotonic time before which a down sink is not tried again
        self._down_delay = base_delay
        self._stop = threading.Event()
        self._drainer: threading.Thread | None = None
        self.spooled = self.drained = 0  # blocks, for metrics and tests
        if spool is not None and len(spool):
            self._start_drainer()   # left over from an earlier run

    def _delay(self, attempt: int) -> float:
        # full jitter: many writers coming back at once do not hammer the server in step
        return random.uniform(0.5, 1.0) * min(self.max_delay, self.base_delay * 2 ** attempt)

    def _try(self, block: Block, attempts: int) -> None:
        for attempt in range(attempts):
            try:
                self.insert(block)
                self._down_delay = self.base_delay
                return
            except SinkUnavailable:
                if attempt == attempts - 1:
                    raise
                time.sleep(self._delay(attempt))

    def put(self, block: Block) -> None:
        with self._lock:
            if self.spool is not None and len(self.spool):
                if time.monotonic() >= self._next_try:
                    self.drain()
                if len(self.spool):
                    self._to_spool(block)
                    return
            try:
                self._try(block, self.retries)
            except SinkUnavailable as exc:
                if self.spool is None:
                    raise SinkUnavailable(f"{self.name} is down after {self.retries} tries: {exc}") from None
                self._mark_down()
                log.warning("%s is down (%s): spooling to %s", self.name, exc, self.spool.folder)
                self._to_spool(block)

    def _to_spool(self, block: Block) -> None:
        self.spool.append(encode_block(block))  # SpoolFull propagates: back-pressure
        self.spooled += 1
        self._start_drainer()

    def _mark_down(self) -> None:
        self._next_try = time.monotonic() + self._down_delay
        self._down_delay = min(self.max_delay, self._down_delay * 2)

    def drain(self) -> bool:
        """Deliver spooled blocks oldest first, one try each; True when the spool is empty."""
        if self.spool is None:
            return True
        with self._lock:
            while (data := self.spool.peek()) is not None:
                try:
                    self.insert(decode_block(data))
                except SinkUnavailable:
                    self._mark_down()
                    return False
                self.spool.pop()  # only after the insert: a crash here means a replay, not a loss
                self.drained += 1
            self._down_delay = self.base_delay
            return True

    def flush(self) -> None:
        """Drain the spool, retrying; raises ``SinkUnavailable`` if the sink stays down."""
        for attempt in range(self.retries):
            if self.drain():
                return
            time.sleep(self._delay(attempt))
        if not self.drain():
            raise SinkUnavailable(f"{self.name} is down; {len(self.spool)} batches wait in "
                                  f"{self.spool.folder}")

    def _start_drainer(self) -> None:
        if self._drainer is None or not self._drainer.is_alive():
            self._drainer = threading.Thread(target=self._drain_loop, daemon=True,
                                             name=f"{self.name}-drain")
            self._drainer.start()

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(max(0.0, self._next_try - time.monotonic()) or self.base_delay)
            if self._stop.is_set():
                return
            try:
                if self.drain():
                    return
            except SinkError as exc:  # refused data: stop draining loudly, keep it on disk
                log.error("%s refuses a spooled batch, draining stopped: %s", self.name, exc)
                return

    def close(self) -> None:
        """Stop draining; what is still spooled stays on disk for the next run."""
        self._stop.set()
        if self._drainer is not None:
            self._drainer.join(timeout=30)
        if self.spool is not None:
            self.spool.close()


def merge(batches: Sequence[StoreBatch]) -> StoreBatch:
    out = StoreBatch()
    for b in batches:
        out.records += b.records
        out.signals += b.signals
        out.warnings += b.warnings
        out.rejects += b.rejects
        out.audit += b.audit
        out.merged += b.merged
        out.record_cases.update(b.record_cases)
        out.bodies.update(b.bodies)
    return out


class BatchingStore:
    """A ``Store`` that groups writes: one inner write per ``max_rows`` rows or ``max_wait``
    seconds. ``write`` returning means buffered, ``flush`` means stored. If the inner store
    pushes back, at most about ``2 * max_rows`` rows wait in memory, then ``write`` raises."""

    def __init__(self, store: Store, *, max_rows: int = 20_000, max_wait: float = 1.0):
        self.store, self.max_rows, self.max_wait = store, max_rows, max_wait
        self._lock = threading.RLock()
        self._pending: list[StoreBatch] = []
        self._rows, self._since = 0, 0.0
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, daemon=True, name="batching-store")
        self._timer.start()

    def write(self, batch: StoreBatch) -> None:
        with self._lock:
            if self._rows >= 2 * self.max_rows:
                self._write_pending()  # raises while the inner store pushes back
            if not self._pending:
                self._since = time.monotonic()
            self._pending.append(batch)
            self._rows += len(batch)
            if self._rows >= self.max_rows:
                try:
                    self._write_pending()
                except SinkUnavailable:
                    pass  # kept; the timer and the next writes try again

    def _write_pending(self) -> None:
        if self._pending:
            self.store.write(merge(self._pending))
            self._pending, self._rows = [], 0

    def _tick(self) -> None:
        while not self._stop.wait(self.max_wait / 4):
            with self._lock:
                if self._pending and time.monotonic() - self._since >= self.max_wait:
                    try:
                        self._write_pending()
                    except SinkError as exc:
                        log.warning("batched write failed, kept for the next try: %s", exc)

    def flush(self) -> None:
        with self._lock:
            self._write_pending()
            self.store.flush()

    def close(self) -> None:
        self._stop.set()
        self._timer.join(timeout=10)
        try:
            self.flush()
        finally:
            self.store.close()

    def __getattr__(self, name: str) -> Any:
        # reads (latest_warnings, query, ...) go to the inner store as they are
        return getattr(self.store, name)
