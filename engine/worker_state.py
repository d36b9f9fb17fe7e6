"""Partition snapshots: a worker that gets a partition resumes from its newest snapshot and
replays only the records after it, instead of the whole partition from offset 0 (issue #7).

A snapshot is everything a partition's detectors need to continue, at an offset: the
``Pipeline``'s own state (watermark, seen record ids, registry knowledge), the case linker
(``CaseLinker.snapshot``), the warning book with its open warnings (``WarningBook.snapshot``),
every detector's ``snapshot()`` (rule windows and timers, graph, models) and the partition's act
state (``engine.worker_acts.ActState``). The pipeline is deterministic for a given log, so the
state after offsets [0, X) is the same whichever worker computed it: a snapshot at X is valid
for any worker that resumes at an offset >= X. A worker may save a snapshot past what the group
committed (a crash before the commit): ``load`` takes the newest one at or below the resume
offset, so a few are kept (``KEEP``).

Where: ``DIR/<topic>/<partition>/<offset>.snap`` (DIR = ``DATA_DIR/snapshots`` or
``--snapshot-dir``; a directory shared by the workers lets any worker resume any partition's
snapshot; otherwise a worker only finds the snapshots it made itself and replays from 0 the
rest). A file is written to a temporary name then renamed (a crash mid-write leaves the older
ones), mode 0600: it holds what the pipeline holds (keyed hashes, addresses as written, the case
entries' text), like the store and the spool in the same folder.

Format (``VERSION`` 4; 4 since cases pickle by their fields, the same compiled or not, see
streams/native.py; 3 since the case linker's index holds tuples and ``CaseEntry`` is a named
tuple): a header line ``yujing-snapshot v4``, then the 32-byte HMAC-SHA256 of
header and payload, keyed by a key derived from the deployment's hash key (engine/config.py
``hash_key``), then the payload: a pickle of ``{"format", "version", "fingerprint", "topic",
"partition", "offset", "state"}``. Pickle because the state is the engine's own objects
(warnings, cases, deques); unpickling runs code, so ``load`` checks the header and the MAC first
and unpickles only a file written with this deployment's key: a file of another version, another
key, or altered after it was written is refused (logged; the partition is rebuilt by replaying
the log instead), never loaded. The MAC proves who wrote a file, not that it is new: the offset
in its name and in the payload must agree. ``fingerprint`` covers ``VERSION``, the settings that shape state
(hash key through a keyed probe, lateness, retention, level cuts, fusion) and each detector's
class and rule versions: a snapshot of other settings or rules is ignored (full replay), never
half-restored. A file that does not load (corrupt, older format) is skipped with a warning.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("yujing.worker")

FORMAT = "yujing.worker.snapshot"
VERSION = 4
HEADER = b"yujing-snapshot v%d\n"
MAC_BYTES = 32


class SnapshotRefused(ValueError):
    """A snapshot file that is not loaded: other version, wrong MAC (another key, or altered)."""


def snapshot_key(hash_key: bytes) -> bytes:
    """The snapshots' MAC key, derived from the deployment's hash key (one secret to keep, used
    for one purpose each)."""
    return hmac.new(hash_key, b"yujing.worker.snapshot.mac", hashlib.sha256).digest()


def seal(key: bytes, payload: bytes, version: int = VERSION) -> bytes:
    """Header, MAC, payload. ``key``: ``snapshot_key(hash_key)``.

    >>> k = snapshot_key(b"k" * 32)
    >>> unseal(k, seal(k, b"state")) == b"state"
    True
    >>> unseal(snapshot_key(b"x" * 32), seal(k, b"state"))
    Traceback (most recent call last):
    ...
    engine.worker_state.SnapshotRefused: MAC does not match: written with another key, or altered
    """
    head = HEADER % version
    return head + hmac.new(key, head + payload, hashlib.sha256).digest() + payload


def unseal(key: bytes, data: bytes) -> bytes:
    """The payload of a sealed snapshot, or ``SnapshotRefused`` (nothing of it unpickled)."""
    nl = data.find(b"\n", 0, 64)
    head = data[:nl + 1] if nl >= 0 else b""
    if head != HEADER % VERSION:
        raise SnapshotRefused(f"not a version {VERSION} snapshot (header {data[:min(24, max(nl, 0) or 24)]!r})")
    mac, payload = data[len(head):len(head) + MAC_BYTES], data[len(head) + MAC_BYTES:]
    if not hmac.compare_digest(mac, hmac.new(key, head + payload, hashlib.sha256).digest()):
        raise SnapshotRefused("MAC does not match: written with another key, or altered")
    return payload
KEEP = 3   # snapshots kept per partition (the newest may be past the committed offset)
# Pipeline attributes that are configuration or saved by their own owner, not state
_PIPELINE_CONFIG = frozenset({"hasher", "detectors", "_timed", "_learners", "book", "linker",
                              "lateness", "retention"})


def fingerprint(pipeline: Any) -> str:
    """What a snapshot's state depends on besides the log (no secret in it: the hash key enters
    only through a keyed hash of a fixed probe)."""
    rules = []
    for d in pipeline.detectors:
        specs = getattr(d, "rules", None) or []
        rules.append((type(d).__name__, sorted((r.spec.id, r.spec.version) for r in specs
                                               if hasattr(r, "spec"))))
    book = pipeline.book
    parts = [FORMAT, VERSION, pipeline.hasher("yujing-snapshot-probe"), pipeline.lateness,
             pipeline.retention, repr(book.cuts), repr(book.fusion), book.horizon, rules]
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def capture(pipeline: Any, acts: Any) -> dict[str, Any]:
    """The partition's state, by reference (``dump`` copies it)."""
    return {"pipeline": {k: v for k, v in vars(pipeline).items() if k not in _PIPELINE_CONFIG},
            "linker": pipeline.linker.snapshot(), "book": pipeline.book.snapshot(),
            "detectors": [[type(d).__name__, d.snapshot()] for d in pipeline.detectors],
            "acts": acts}


def apply(pipeline: Any, state: dict[str, Any]) -> Any:
    """Restore ``state`` into a freshly built ``pipeline`` (same settings); returns the acts."""
    names = [type(d).__name__ for d in pipeline.detectors]
    if names != [n for n, _ in state["detectors"]]:
        raise ValueError(f"snapshot detectors {[n for n, _ in state['detectors']]} are not {names}")
    vars(pipeline).update(state["pipeline"])
    pipeline.linker.restore(state["linker"])
    pipeline.book.restore(state["book"])
    for d, (_, s) in zip(pipeline.detectors, state["detectors"]):
        d.restore(s)
    return state["acts"]


def dump(pipeline: Any, acts: Any, *, topic: str, partition: int, offset: int) -> bytes:
    """The snapshot as bytes (a deep copy: the pipeline may go on at once)."""
    return pickle.dumps({"format": FORMAT, "version": VERSION, "fingerprint": fingerprint(pipeline),
                         "topic": topic, "partition": partition, "offset": offset,
                         "at": time.time(), "state": capture(pipeline, acts)},
                        protocol=pickle.HIGHEST_PROTOCOL)


class Snapshots:
    """The snapshot folder of one events topic; ``hash_key``: the deployment's (engine/config.py
    ``hash_key``), from which the files' MAC key is derived."""

    def __init__(self, root: str | Path, topic: str, *, hash_key: bytes, keep: int = KEEP):
        self.root, self.topic, self.keep = Path(root), topic, keep
        self._key = snapshot_key(hash_key)
        self.refused = 0   # files not loaded because of their header or MAC

    def seal(self, payload: bytes) -> bytes:
        return seal(self._key, payload)

    def folder(self, partition: int) -> Path:
        return self.root / self.topic / str(partition)

    def offsets(self, partition: int) -> list[int]:
        """Offsets of the snapshots on disk, newest first."""
        d = self.folder(partition)
        if not d.is_dir():
            return []
        return sorted((int(f.stem) for f in d.glob("*.snap") if f.stem.isdigit()), reverse=True)

    def write(self, partition: int, offset: int, data: bytes) -> Path:
        """Seal ``data`` (a ``dump``), write it atomically, then keep only the ``keep`` newest
        (blocking: run in a thread)."""
        data = self.seal(data)
        d = self.folder(partition)
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{offset:015d}.snap"
        tmp = d / f".{offset:015d}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        for old in self.offsets(partition)[self.keep:]:
            (d / f"{old:015d}.snap").unlink(missing_ok=True)
        return path

    def load(self, build: Callable[[], Any], partition: int,
             before: int) -> tuple[int, Any, Any] | None:
        """The newest usable snapshot at an offset <= ``before``, restored into a pipeline made by
        ``build()``: (its offset, the pipeline, the acts state), or None (replay from 0)."""
        want = None
        for off in self.offsets(partition):
            if off > before:
                continue
            path = self.folder(partition) / f"{off:015d}.snap"
            try:
                try:
                    payload = unseal(self._key, path.read_bytes())
                except SnapshotRefused as exc:
                    self.refused += 1
                    log.warning("snapshot %s refused, not loaded: %s; trying an older one "
                                "(none: the partition is rebuilt from the log)", path, exc)
                    continue
                doc = pickle.loads(payload)
                if doc.get("format") != FORMAT or doc.get("version") != VERSION:
                    raise ValueError(f"format {doc.get('format')!r} version {doc.get('version')!r}")
                if (doc.get("topic"), doc.get("partition"), doc.get("offset")) != (self.topic, partition, off):
                    raise ValueError(f"file says {doc.get('topic')}[{doc.get('partition')}]@"
                                     f"{doc.get('offset')}, its place {self.topic}[{partition}]@{off}")
                pipeline = build()   # fresh for each try: a failed restore leaves nothing behind
                want = want or fingerprint(pipeline)
                if doc["fingerprint"] != want:
                    log.warning("snapshot %s: other settings or rules; not used", path)
                    continue
                return off, pipeline, apply(pipeline, doc["state"])
            except Exception as exc:  # noqa: BLE001 - a bad file costs a longer replay, not the worker
                log.warning("snapshot %s not loaded (%r); trying an older one", path, exc)
        return None
