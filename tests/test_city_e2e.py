"""The whole in-process pipeline on a small synthetic city, checked against its ground truth."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from engine.pipeline import Pipeline
from rules.builtin import default_detectors
from streams.codes import LEVEL_RANK, Level
from streams.privacy import Hasher
from streams.simulate import SimConfig, generate, simulate
from streams.sources import decode_lines


@pytest.fixture(scope="module")
def city():
    cfg = SimConfig(days=20, seed=11, scale=0.6, malformed_rate=0.01)
    lines, truth = [], []
    for line, entry in simulate(cfg):
        (lines.append(line) if line is not None else truth.append(entry))
    pipeline = Pipeline(Hasher(b"e2e-test-key-123"), default_detectors())
    items = list(decode_lines(lines))
    outs = [pipeline.process(items[i:i + 400]) for i in range(0, len(items), 400)]
    return lines, truth, pipeline, outs


def test_every_line_is_accepted_rejected_or_a_counted_duplicate(city):
    lines, truth, _, outs = city
    accepted = sum(len(o.records) for o in outs)
    rejects = [r for o in outs for r in o.rejects]
    dups = sum(o.duplicates for o in outs)
    assert accepted + len(rejects) + dups == len(lines)
    malformed = [t for t in truth if t["kind"] == "malformed"]
    assert Counter(r.reason for r in rejects) == Counter(m["reason"] for m in malformed)
    assert sorted(r.line for r in rejects) == sorted(m["line"] for m in malformed)
    assert dups == sum(len(t["record_ids"]) for t in truth if t["kind"] == "duplicate")


def test_one_open_warning_per_case_with_gapless_versions(city):
    *_, outs = city
    versions = defaultdict(list)
    open_by_case: dict[str, str] = {}
    for w in (w for o in outs for w in o.warnings):
        versions[w.id].append(w.version)
        if w.state == "closed":
            open_by_case.pop(w.case_id, None)
        else:
            assert open_by_case.setdefault(w.case_id, w.id) == w.id, "a second open warning"
    assert versions, "a city this size must raise warnings"
    for wid, vs in versions.items():
        assert vs == list(range(1, len(vs) + 1)), wid


def test_escalating_cases_are_warned_first_far_more_often_than_others(city):
    _, truth, pipeline, outs = city
    case_of = {k: v for o in outs for k, v in o.case_of.items()}
    first_warned: dict[str, datetime] = {}   # first time a case was warned orange or red
    for w in (w for o in outs for w in o.warnings):
        if LEVEL_RANK[w.level] >= LEVEL_RANK[Level.ORANGE]:
            first_warned.setdefault(w.case_id, w.updated_at)
    cases = [t for t in truth if t["kind"] == "case"]
    esc = [t for t in cases if t["escalates"]]
    calm = [t for t in cases if not t["escalates"] and not t["escalates_later"]]
    assert len(esc) >= 5

    def warned_before(t, until):
        ours = {case_of.get(r) for r in t["record_ids"]} - {None}
        return any(c in first_warned and (until is None or first_warned[c] < until) for c in ours)

    hit = sum(warned_before(t, datetime.fromisoformat(t["escalated_at"])) for t in esc) / len(esc)
    false = sum(warned_before(t, None) for t in calm) / len(calm)
    assert hit > 0.4, f"only {hit:.0%} of escalations were warned orange or red beforehand"
    assert hit > 3 * false, f"warned {hit:.0%} of escalations but {false:.0%} of calm cases"


def test_retention_keeps_memory_flat_without_changing_what_is_said():
    cfg = SimConfig(days=60, seed=3, scale=0.2, malformed_rate=0)
    items = list(decode_lines(generate(cfg)))

    def play(retention):
        p = Pipeline(Hasher(b"e2e-test-key-123"), default_detectors(), retention=retention)
        held, warnings = [], []
        for i in range(0, len(items), 500):
            out = p.process(items[i:i + 500])
            warnings += [(w.id, w.version, w.level, w.score) for w in out.warnings]
            held.append(len(p.linker.cases))
        return p, held, warnings

    kept, held_all, said_all = play(None)
    pruned, held, said = play(timedelta(days=35))
    assert said == said_all, "pruning past the idle time must not change any warning"
    # every case still held was active within the retention (checked at the last prune)
    cutoff = pruned._pruned_at - timedelta(days=35)
    assert all(c.last_at >= cutoff for c in pruned.linker.cases.values())
    assert held[-1] < 0.9 * held_all[-1]
    assert len(pruned._seen) < len(kept._seen)
    live, warned = set(pruned.linker.cases), pruned.book.open_cases()
    assert all(cid in live or cid in warned for cid in pruned._parked), \
        "old record ids are kept only for cases still held or still warned"
