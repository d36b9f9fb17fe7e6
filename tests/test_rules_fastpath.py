"""The detector's fast paths give the same signals as evaluating every rule the plain way.

``rules.detector`` skips a rule whose condition's guard (``call_type == "fraud" and ...``)
fails, evaluates a single-``when`` rule's condition itself before ``on_match``, and
``ThresholdRule.sweep`` finds stale windows through an index instead of walking them all.
Each is checked here against the plain path over a simulated city.
"""
from __future__ import annotations

import random
from types import SimpleNamespace

from engine.pipeline import Pipeline
from rules.builtin import _default_packs, default_detectors
from rules.detector import PackDetector
from rules.kinds import RuleSpec, ThresholdRule
from rules.lang.compiler import compile_condition, guards
from rules.lang.names import Env, lookup
from rules.lang.syntax import parse
from streams.privacy import Hasher
from streams.simulate import SimConfig, generate
from streams.sources import decode_lines


def _items(days: int = 3, seed: int = 5) -> list:
    return list(decode_lines(generate(SimConfig(days=days, seed=seed, scale=0.4))))


def plain_pack_detector(specs, tuning) -> PackDetector:
    """Every rule of the record's stream through ``on_record``: no guards, no ``on_match``.
    (Its plans rewritten, not a subclass: a compiled class takes none, streams/native.py.)"""
    det = PackDetector(specs, tuning=tuning)
    for plan in det._plans.values():
        plan.rules = [(r, None) for r, _ in plan.rules]
        plan.getters = ()
    return det


def _outputs(detector, items) -> list[str]:
    p = Pipeline(Hasher(b"fastpath-key-0000"), [detector])
    got = []
    for i in range(0, len(items), 300):
        out = p.process(items[i:i + 300])
        got += [s.model_dump_json() for s in out.signals]
        got += [w.model_dump_json() for w in out.warnings]
        got.append(repr(sorted(out.case_of.items())))
    return got


def test_fast_paths_give_the_plain_outputs():
    items = _items()
    ps = _default_packs()
    fast = _outputs(default_detectors()[0], items)
    plain = _outputs(plain_pack_detector(ps.specs, ps.tuning()), items)
    assert sum(1 for x in fast if x.startswith('{"id":"S-')) > 50   # the city makes signals
    assert fast == plain


def test_a_guard_never_rejects_a_record_its_condition_accepts():
    ps = _default_packs()
    guarded = [s for s in ps.specs if s.when is not None and s.when.guards]
    assert len(guarded) >= 5
    checked = 0
    for it in _items(days=2, seed=9):
        rec = it.record
        if rec is None or rec.kind not in ("call", "grid_event", "video_alert"):
            continue
        env = Env(rec, None)
        for s in guarded:
            if rec.kind in s.streams and s.when.fn(env):
                checked += 1
                for name, values in s.when.guards:
                    assert lookup(name)[2](env) in values, (s.id, name)
    assert checked > 20


def test_guards_of_conditions():
    assert guards(parse('status == "a" and mediation_attempts >= 3')) == (("status", frozenset({"a"})),)
    assert guards(parse('not (status == "a")')) == ()
    assert guards(parse('status == "a" or call_type == "b"')) == ()          # two fields: none
    assert guards(parse('text == "a"')) == ()                                # not a code field
    assert guards(parse('status in ["a", "b"] and status == "b"')) == (("status", frozenset({"b"})),)
    c = compile_condition('call_type == "fraud" and hour >= 22', ["call"])
    assert c.guards == (("call_type", frozenset({"fraud"})),)


def test_threshold_sweep_drops_exactly_the_stale_windows():
    spec = RuleSpec(id="t", version=1, title="t", pack="p", kind="threshold", score=0.5,
                    streams=("call",), count=3, window=10.0,
                    when=compile_condition("true", ["call"]))
    rnd = random.Random(4)

    def E(rid):   # an Env of what ThresholdRule reads: the record's id, no case
        return Env(SimpleNamespace(id=rid), None)

    key = {"k": None}
    rule = ThresholdRule(spec, lambda e: [key["k"]])
    t = 0.0
    for i in range(3000):
        t += rnd.random() * 2
        key["k"] = f"k{rnd.randrange(60)}"
        at = t - rnd.random() * 3          # some out of order
        rule.on_match(E(f"r{i}"), at, False)
        if i % 37 == 0:
            wm = t - 3
            expected = {k: w for k, w in rule.win.items() if w and w[-1][0] > wm - spec.window}
            rule.sweep(wm)
            assert rule.win == expected
    rule.sweep(t + 100)
    assert rule.win == {}
