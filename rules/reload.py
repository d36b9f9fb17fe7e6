"""Hot reload of rule packs on a running engine.

``PackReloader(directory, detector).poll()`` is cheap when nothing changed (a ``stat`` of each
pack and 词库 file).  When a file's mtime or size moved it hashes the contents; if they really
changed it loads and lints the whole folder and, if that is clean, swaps the rules into the
running ``PackDetector`` (``replace_rules``: rules with the same id and version keep their
window state).  A folder that fails lint is refused: the old rules keep running and the errors
(``file:line:col: message``) come back in the result, once per broken content.

Call ``poll()`` between batches (the pipeline is single-threaded), e.g. every few seconds.

Profiles (``profiles/*.yaml``) are watched the same way, and so is ``profile_file`` (e.g.
``DATA_DIR/rules-profile``, written by ``yujing rules profile NAME``): its one line names the
active profile (empty or missing: 平时).  Switching keeps the window state of every rule that
stays on (same id and version); an unknown name is refused and the old profile keeps running.

>>> r = PackReloader(DEFAULT_DIR, PackDetector(load_packs(DEFAULT_DIR).specs))
>>> r.poll() is None, r.versions()["min_zhuan_xing"] >= 1
(True, True)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .detector import PackDetector
from .packs import DEFAULT_DIR, PackSet, _lexicon_dirs, load_packs
from .tuning import DEFAULT_PROFILE


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
    profile: str = DEFAULT_PROFILE                       # the profile running after this poll
    previous_profile: str = DEFAULT_PROFILE

    def summary(self) -> str:
        if not self.ok:
            return f"rule packs refused ({len(self.errors)} error(s)); old rules and profile " \
                f"{self.profile} keep running: " + "; ".join(self.errors[:5])
        switched = (f"profile switched {self.previous_profile} -> {self.profile}"
                    if self.profile != self.previous_profile else f"profile {self.profile}")
        return (f"rule packs reloaded ({switched}): {len(self.added)} added, {len(self.removed)} "
                f"removed, {len(self.restarted)} restarted, {len(self.kept)} kept; versions {self.versions}")


class PackReloader:
    """Watches ``directory`` (packs, 词库, profiles) and ``profile_file`` for ``detector``.

    On start the detector gets the packs' overrides and the profile the file names (a
    profile named there that does not exist is reported in ``errors`` and 平时 runs).
    """

    def __init__(self, directory: str | Path, detector: PackDetector,
                 profile_file: str | Path | None = None):
        self.directory = Path(directory)
        self.detector = detector
        self.profile_file = Path(profile_file) if profile_file else None
        self._stat = self._stats()
        self._hash = self._hashes(self._stat)
        self._refused: str | None = None       # digest of the last refused contents
        self.errors: list[str] = []            # start-up problems (for the log)
        ps = load_packs(self.directory)
        self._packs = ps.packs if not ps.errors else {}
        self._profiles = sorted(ps.profiles) if not ps.errors else [DEFAULT_PROFILE]
        self._profile = detector.profile
        if not ps.errors:
            want = self.requested()
            if want not in ps.profiles:
                self.errors.append(self._unknown(want, ps))
                want = DEFAULT_PROFILE
            detector.set_tuning(ps.tuning(want))
            self._profile = want

    # -- what is on disk ---------------------------------------------------------------------
    def _files(self) -> list[Path]:
        d = self.directory
        if d.is_file():
            files, d = [d], d.parent
        else:
            files = [*d.glob("*.yaml"), *d.glob("*.yml"), *(d / "profiles").glob("*.y*ml")]
        for ld in _lexicon_dirs(d):
            if ld.is_dir():
                files += ld.glob("*.txt")
        if self.profile_file is not None:
            files.append(self.profile_file)
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
        want = self.requested()
        errs = [str(e) for e in ps.errors] or ([] if ps.specs else [f"{self.directory}: no rules"])
        if not errs and want not in ps.profiles:
            errs = [self._unknown(want, ps)]
        if errs:
            if digest == self._refused:
                return None
            self._refused = digest
            return ReloadResult(False, errs, changed, versions=self.versions(),
                                profile=self._profile, previous_profile=self._profile)
        res = self.detector.replace_rules(ps.specs, ps.tuning(want))
        self._hash, self._refused, self._packs = hashes, None, ps.packs
        self._profiles = sorted(ps.profiles)
        prev, self._profile = self._profile, want
        return ReloadResult(True, [], changed, versions=self.versions(), profile=want,
                            previous_profile=prev, **res)

    def requested(self) -> str:
        """The profile the profile file names (平时 if there is no file or it is empty)."""
        if self.profile_file is None:
            return DEFAULT_PROFILE
        try:
            text = self.profile_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return DEFAULT_PROFILE
        return text.splitlines()[0].strip() if text else DEFAULT_PROFILE

    def _unknown(self, want: str, ps: PackSet) -> str:
        return (f"{self.profile_file}:1:1: unknown rules profile {want!r}; known: "
                f"{', '.join(sorted(ps.profiles))}")

    def profile(self) -> str:
        """The active profile."""
        return self._profile

    def profiles(self) -> list[str]:
        """The known profiles (of the last rules that loaded clean)."""
        return list(self._profiles)

    def versions(self) -> dict[str, int]:
        """The version in use of each pack (its ``version:``, 1 if not set)."""
        return {name: p["version"] for name, p in sorted(self._packs.items())}

    def digests(self) -> dict[str, str]:
        """A short hash of each pack's file in use (changes on any edit, version or not)."""
        return {name: p["sha"] for name, p in sorted(self._packs.items())}


class ProfileMetric:
    """``yujing_rule_profile_active{profile=...}``: 1 for the active profile, 0 for the others,
    on the registry the engine hands in."""

    def __init__(self, registry):
        from prometheus_client import Gauge
        self.gauge = Gauge("yujing_rule_profile_active", "Rules profile in use (1) among the known ones",
                           ["profile"], registry=registry)

    def set(self, active: str, known: list[str]) -> None:
        for name in sorted({*known, active}):
            self.gauge.labels(name).set(1 if name == active else 0)


__all__ = ["PackReloader", "ProfileMetric", "ReloadResult", "DEFAULT_DIR"]
