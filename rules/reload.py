"""Hot reload of rule packs on a running engine.

``PackReloader(directory, detector).poll()`` is cheap when nothing changed (a ``stat`` of each
pack and 词库 file).  When a file's mtime or size moved it hashes the contents; if they really
changed it loads and lints the whole folder and, if that is clean, swaps the rules into the
running ``PackDetector`` (``replace_rules``: rules with the same id and version keep their
window state).  A folder that fails lint is refused: the old rules keep running and the errors
(``file:line:col: message``) come back in the result, once per broken content.

Call ``poll()`` between batches (the pipeline is single-threaded), e.g. every few seconds.

>>> r = PackReloader(DEFAULT_DIR, PackDetector(load_packs(DEFAULT_DIR).specs))
>>> r.poll() is None, r.versions()["min_zhuan_xing"] >= 1
(True, True)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .detector import PackDetector
from .packs import DEFAULT_DIR, _lexicon_dirs, load_packs


@dataclass
class ReloadResult:
    ok: bool                                   # True: the new rules run; False: refused
    errors: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)   # version changed: state restarts
    kept: list[str] = field(default_factory=list)        # same id+version: state kept
    versions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.ok:
            return f"rule packs refused ({len(self.errors)} error(s)); old rules keep running: " + \
                "; ".join(self.errors[:5])
        return (f"rule packs reloaded: {len(self.added)} added, {len(self.removed)} removed, "
                f"{len(self.restarted)} restarted, {len(self.kept)} kept; versions {self.versions}")


class PackReloader:
    def __init__(self, directory: str | Path, detector: PackDetector):
        self.directory = Path(directory)
        self.detector = detector
        self._stat = self._stats()
        self._hash = self._hashes(self._stat)
        self._refused: str | None = None       # digest of the last refused contents
        ps = load_packs(self.directory)
        self._packs = ps.packs if not ps.errors else {}

    # -- what is on disk ---------------------------------------------------------------------
    def _files(self) -> list[Path]:
        d = self.directory
        if d.is_file():
            files, d = [d], d.parent
        else:
            files = [*d.glob("*.yaml"), *d.glob("*.yml")]
        for ld in _lexicon_dirs(d):
            if ld.is_dir():
                files += ld.glob("*.txt")
        return sorted(files)

    def _stats(self) -> dict[str, tuple[int, int]]:
        out = {}
        for f in self._files():
            try:
                st = f.stat()
            except OSError:
                continue
            out[str(f)] = (st.st_mtime_ns, st.st_size)
        return out

    @staticmethod
    def _hashes(stats: dict[str, tuple[int, int]]) -> dict[str, str]:
        out = {}
        for f in stats:
            try:
                out[f] = hashlib.sha256(Path(f).read_bytes()).hexdigest()
            except OSError:
                out[f] = ""
        return out

    # -- the API -------------------------------------------------------------------------------
    def poll(self) -> ReloadResult | None:
        """None if nothing changed (or the same broken contents were already refused)."""
        stat = self._stats()
        if stat == self._stat:
            return None
        hashes = self._hashes(stat)
        self._stat = stat
        changed = sorted(f for f in set(hashes) | set(self._hash) if hashes.get(f) != self._hash.get(f))
        if not changed:
            return None    # touched, not changed
        digest = hashlib.sha256(repr(sorted(hashes.items())).encode()).hexdigest()
        ps = load_packs(self.directory)
        if ps.errors or not ps.specs:
            if digest == self._refused:
                return None
            self._refused = digest
            errs = [str(e) for e in ps.errors] or [f"{self.directory}: no rules"]
            return ReloadResult(False, errs, changed, versions=self.versions())
        res = self.detector.replace_rules(ps.specs)
        self._hash, self._refused, self._packs = hashes, None, ps.packs
        return ReloadResult(True, [], changed, versions=self.versions(), **res)

    def versions(self) -> dict[str, int]:
        """The version in use of each pack (its ``version:``, 1 if not set)."""
        return {name: p["version"] for name, p in sorted(self._packs.items())}

    def digests(self) -> dict[str, str]:
        """A short hash of each pack's file in use (changes on any edit, version or not)."""
        return {name: p["sha"] for name, p in sorted(self._packs.items())}


__all__ = ["PackReloader", "ReloadResult", "DEFAULT_DIR"]
