"""Run a rule's inline tests: records in, signals out, compared with what the test expects.

A test record is a partial yujing record: ``kind`` and the fields that matter; the rest is
filled in (ids t1, t2, ..., a place, a caller).  Extra keys: ``at`` (``"+2h"`` after
2026-05-01 10:00 Asia/Shanghai, or an ISO time), ``people`` (party keys the record names),
``case`` (case id, default C-test), ``region`` (the place's region code, for overrides).
Test keys: ``case`` (``key_persons``: key → category and
risk level; ``features``: graph features; ``dispute_kind``), ``advance`` (move the watermark
this long past the last record at the end), ``fire``/``fires``, ``fire_on`` (record ids).
The runner plays the pipeline's part: before each record it advances the watermark
(newest time minus lateness), then calls ``detect``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from streams.detect import CaseContext, CaseEntry, KeyPersonInfo
from streams.records import INPUT_ADAPTER, TZ, Signal

from .detector import PackDetector
from .kinds import RuleSpec
from .packs import parse_duration
from .tuning import Tuning

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=TZ)
PLACE = {"region_code": "629901001002", "address": "和平路8号2单元301"}
FILL = {"call": {"line": "110", "caller": {"role": "caller"}, "call_type": "dispute", "place": PLACE},
        "grid_event": {"place": PLACE, "grid_id": "G-1"},
        "video_alert": {"camera_id": "CAM-1", "place": PLACE, "alert_type": "other", "confidence": 0.9}}
LATENESS = timedelta(hours=6)


class _Case(CaseContext):
    """A case context with graph features (``features``), as the graph issue will provide."""


@dataclass
class TestResult:
    rule_id: str
    name: str
    ok: bool
    message: str = ""
    signals: list[Signal] = field(default_factory=list)


def _when(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=TZ)
    s = str(v).strip()
    if s[:1] in "+-" or s[:1].isdigit() and s[-1:] in "smhdw" and "T" not in s:
        sign = -1 if s.startswith("-") else 1
        body = s.lstrip("+-")
        sec = 0.0 if body.rstrip("smhdw") in ("0", "0.0") else parse_duration(body)
        return T0 + sign * timedelta(seconds=sec)
    t = datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=TZ)


def build_record(i: int, raw: dict) -> tuple[Any, set[str], str]:
    """(record, people, case id) from a test's partial record."""
    d = dict(raw)
    at = _when(d.pop("at", "0h"))
    people = set(d.pop("people", []) or [])
    cid = str(d.pop("case", "C-test"))
    kind = d.get("kind", "call")
    region = d.pop("region", None)
    full = {"kind": kind, "id": f"t{i}", "occurred_at": at.isoformat(), **FILL.get(kind, {}), **d}
    if region is not None:
        full["place"] = {**PLACE, "region_code": str(region)}
    return INPUT_ADAPTER.validate_python(full), people, cid


def play(spec_or_specs: Any, records: list[dict], case: dict | None = None,
         advance: str | None = None, tuning: Tuning | None = None) -> list[Signal]:
    """Feed ``records`` to a detector of the given rule(s) as the pipeline would."""
    specs = spec_or_specs if isinstance(spec_or_specs, list) else [spec_or_specs]
    det = PackDetector(specs, lateness=LATENESS, tuning=tuning)
    case = case or {}
    kps = {k: KeyPersonInfo(v.get("category", "unbalanced"), int(v.get("risk_level", 1)))
           for k, v in (case.get("key_persons") or {}).items()}
    cases: dict[str, tuple[list, set]] = {}
    out: list[Signal] = []
    newest = None
    for i, raw in enumerate(records, 1):
        rec, people, cid = build_record(i, raw)
        newest = rec.occurred_at if newest is None else max(newest, rec.occurred_at)
        out += det.advance(newest - LATENESS)
        entries, parties = cases.setdefault(cid, ([], set()))
        cat = {"call": "call_type", "video_alert": "alert_type"}.get(rec.kind, "status")
        entries.append(CaseEntry(rec.id, rec.kind, rec.occurred_at, getattr(rec, cat).value,
                                 getattr(rec, "text", "")))
        entries.sort(key=lambda e: e.at)
        new = people - parties
        parties |= people
        ctx = _Case(cid, list(entries), frozenset(parties), frozenset(people), frozenset(new),
                          kps, PLACE["region_code"], PLACE["address"], case.get("dispute_kind"))
        ctx.features = dict(case.get("features") or {})
        out += det.detect(rec, ctx)
    if advance and newest is not None:
        out += det.advance(newest + timedelta(seconds=parse_duration(advance)))
    return out


def run_tests(spec: RuleSpec, tests: list | None = None, tuning: Tuning | None = None) -> list[TestResult]:
    """Every inline test of ``spec`` (or ``tests``, e.g. a profile's, played under ``tuning``);
    a test that cannot even run is a failed result."""
    results = []
    if tuning is None and not spec.enabled:
        spec = replace(spec, enabled=True)    # a rule kept off is still tested as written
    for n, t in enumerate(spec.tests if tests is None else tests, 1):
        name = str(t.get("name", f"test {n}"))
        try:
            sig = play(spec, list(t["records"]), t.get("case"), t.get("advance"), tuning)
        except Exception as exc:  # a malformed test record: report, do not crash the run
            errs = getattr(exc, "errors", None)
            why = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errs()) if errs else str(exc)
            results.append(TestResult(spec.id, name, False, f"cannot run: {why}"))
            continue
        got = len(sig)
        want = t.get("fires")
        if want is None:
            ok = (got > 0) == t["fire"]
            expect = "to fire" if t["fire"] else "not to fire"
        else:
            ok, expect = got == want, f"{want} signal(s)"
        if ok and t.get("fire_on") is not None:
            ok = [s.record_id for s in sig] == list(t["fire_on"])
            expect += f" on {list(t['fire_on'])}"
        msg = "" if ok else f"expected {expect}, got {got} on {[s.record_id for s in sig]}"
        results.append(TestResult(spec.id, name, ok, msg, sig))
    return results


def run_profile_tests(ps: Any, name: str) -> list[TestResult]:
    """The ``tests:`` of profile ``name`` of a ``PackSet``: each plays its ``rule:`` with the
    profile and the packs' overrides applied."""
    tuning = ps.tuning(name)
    by_id = {s.id: s for s in ps.specs}
    return [r for i, t in enumerate(tuning.profile.tests, 1)
            for r in run_tests(by_id[t["rule"]], [{"name": f"test {i}", **t}], tuning)]


def demo(kind: str, events: list, advance: list | None = None, **kw: Any) -> list:
    """Doctest helper: a hand-made rule over calls whose text is "a"/"b" at hour offsets.

    Returns the indexes of the records that fired, or for ``advance`` the pairs
    (watermark hour, signal hour) of timer firings.
    """
    from .lang.compiler import compile_condition
    a = compile_condition('text == "a"', ["call"])
    b = compile_condition('text == "b"', ["call"])
    spec = RuleSpec(id="demo", version=1, title="示例", pack="demo", kind=kind, score=0.5,
                    streams=("call",), window=kw.get("window", 7 * 86400 if kind == "threshold" else 72 * 3600),
                    count=kw.get("count", 3), when=a if kind != "sequence" else None,
                    steps=[a, b] if kind in ("sequence", "absence") else [])
    det = PackDetector([spec], lateness=timedelta(0))
    out: list = []
    for i, ev in enumerate(events):
        text, h = ev if isinstance(ev, tuple) else ("a", ev)
        rec = INPUT_ADAPTER.validate_python({**FILL["call"], "kind": "call", "id": f"r{i}", "text": text,
                                             "occurred_at": (T0 + timedelta(hours=h)).isoformat()})
        ctx = CaseContext("C", [], frozenset(), frozenset(), frozenset())
        out += [i for _ in det.detect(rec, ctx)]
    for h in advance or []:
        for s in det.advance(T0 + timedelta(hours=h)):
            out.append((h, (s.at - T0).total_seconds() / 3600))
    return out
