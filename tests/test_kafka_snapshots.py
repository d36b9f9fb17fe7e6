"""Partition snapshots (engine/worker_state.py) without a broker: a pipeline restored from a
snapshot taken mid-stream goes on exactly as the uninterrupted one (warnings, signals, records,
case ids), and the files are chosen, kept and skipped as documented. The broker-level check
(a restarted worker replays fewer records, same warnings) is in test_kafka_worker.py."""
from __future__ import annotations

import logging
import pickle

from engine.app import build_pipeline
from engine.config import load_settings
from engine.worker_acts import ActState
from engine.worker_acts import process as apply_items
from engine.worker_state import HEADER, VERSION, Snapshots, dump, seal, snapshot_key, unseal
from streams.simulate import SimConfig, generate
from streams.sources import decode_lines
from streams.topics import route


KEY = b"k" * 32   # the deployment's hash key (engine/config.py hash_key)


def _city(days=3, scale=0.3):
    items = list(decode_lines(generate(SimConfig(days=days, scale=scale)), source="snap"))
    reg = [i for i in items if i.record is not None and route(i.record) == "registries"]
    return reg, [i for i in items if i not in reg]


def _view(out):
    return ([(w.id, w.version, w.level.value, w.score, w.state, w.model_dump_json()) for w in out.warnings],
            sorted(s.id for s in out.signals), [r.id for r in out.records], sorted(out.case_of.items()),
            [(r.reason, r.line) for r in out.rejects])


def test_restored_pipeline_goes_on_exactly_as_the_uninterrupted_one(tmp_path):
    settings = load_settings(data_dir=tmp_path / "d")
    reg, events = _city()
    cut = len(events) // 2
    whole = build_pipeline(settings)
    whole.process(reg)
    apply_items(whole, ActState(), events[:cut])
    want = _view(apply_items(whole, ActState(), events[cut:]))
    assert len(want[0]) >= 10, "the second half should raise warnings"

    first = build_pipeline(settings)
    first.process(reg)
    acts = ActState()
    apply_items(first, acts, events[:cut])
    snaps = Snapshots(tmp_path / "snaps", "x.events", hash_key=KEY)
    snaps.write(2, cut, dump(first, acts, topic="x.events", partition=2, offset=cut))
    # the snapshot is a copy: the original going on must not change what was saved
    apply_items(first, acts, events[cut:])

    got = snaps.load(lambda: build_pipeline(settings), 2, before=len(events))
    assert got is not None
    off, again, acts2 = got
    assert off == cut
    assert _view(apply_items(again, acts2, events[cut:])) == want


def _snapshotted(tmp_path, offsets, keep):
    """A partition's pipeline snapshotted after each of ``offsets`` (100 records apart)."""
    settings = load_settings(data_dir=tmp_path / "d")
    reg, events = _city(days=1, scale=0.2)
    p = build_pipeline(settings)
    p.process(reg)
    acts = ActState()
    snaps = Snapshots(tmp_path / "snaps", "x.events", hash_key=KEY, keep=keep)
    for off in offsets:
        apply_items(p, acts, events[off - 100:off])
        snaps.write(0, off, dump(p, acts, topic="x.events", partition=0, offset=off))
    return snaps, (lambda: build_pipeline(settings))


def test_newest_usable_snapshot_is_chosen_and_bad_ones_skipped(tmp_path):
    snaps, build = _snapshotted(tmp_path, (100, 200, 300, 400), keep=3)
    assert snaps.offsets(0) == [400, 300, 200]          # the oldest was removed
    assert snaps.load(build, 0, before=350)[0] == 300   # past the resume offset: not usable
    assert snaps.load(build, 0, before=150) is None     # nothing old enough: replay from 0
    assert snaps.load(build, 1, before=10**9) is None   # no snapshot of that partition
    (snaps.folder(0) / f"{300:015d}.snap").write_bytes(b"not a pickle")
    assert snaps.load(build, 0, before=350)[0] == 200   # a corrupt file: the next older one
    # a snapshot made under other settings (here another hash key) is not used
    path = snaps.folder(0) / f"{400:015d}.snap"
    doc = pickle.loads(unseal(snapshot_key(KEY), path.read_bytes()))
    doc["fingerprint"] = "0" * 24
    path.write_bytes(snaps.seal(pickle.dumps(doc)))   # sealed with the right key: MAC ok
    assert snaps.load(build, 0, before=10**9)[0] == 200
    assert oct(path.stat().st_mode & 0o777) in ("0o600", "0o644")
    assert oct((snaps.folder(0) / f"{200:015d}.snap").stat().st_mode & 0o777) == "0o600"


class _Bomb:
    """A pickle that, loaded, creates a file: what a planted snapshot could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_snapshots_with_a_wrong_mac_or_version_are_refused_unloaded(tmp_path, caplog):
    snaps, build = _snapshotted(tmp_path, (100, 200), keep=5)
    assert snaps.load(build, 0, before=10**9)[0] == 200

    # 1. another key (a file planted by someone without the deployment's key): never unpickled
    bomb = tmp_path / "exploded"
    planted = pickle.dumps({"format": "yujing.worker.snapshot", "version": 2, "state": _Bomb(bomb)})
    (snaps.folder(0) / f"{300:015d}.snap").write_bytes(seal(snapshot_key(b"other" * 8), planted))
    # 2. the right key, a payload altered after writing (one byte flipped)
    path = snaps.folder(0) / f"{200:015d}.snap"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="yujing.worker"):
        got = snaps.load(build, 0, before=10**9)
    assert got is not None and got[0] == 100, "both refused, the older good one is used"
    assert not bomb.exists(), "a snapshot with a wrong MAC was unpickled"
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2 and all("MAC does not match" in m for m in refusals)

    # 3. another version: a version 1 file (a bare pickle) and a version 1 header, even with a
    # valid MAC over it, are refused before anything is unpickled
    (snaps.folder(0) / f"{100:015d}.snap").write_bytes(pickle.dumps({"state": _Bomb(bomb)}))
    old = snapshot_key(KEY)
    (snaps.folder(0) / f"{150:015d}.snap").write_bytes(seal(old, pickle.dumps(_Bomb(bomb)), version=1))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="yujing.worker"):
        assert snaps.load(build, 0, before=10**9) is None, "nothing usable: replay from offset 0"
    assert not bomb.exists()
    versions = [r.getMessage() for r in caplog.records if f"not a version {VERSION} snapshot" in r.getMessage()]
    assert len(versions) == 2, caplog.text
    assert snaps.refused == 6 and HEADER % VERSION == b"yujing-snapshot v4\n"
