"""Drive the simulation: registries first, then day by day the events in arrival order.

``simulate(cfg)`` yields ``(line, None)`` for every output line and ``(None, truth)`` for
every ground-truth entry, interleaved, so one pass gives both; ``generate``, ``truth`` and
``write`` are thin views of it. Each component has its own ``random.Random`` seeded from a
string (``"7:cases"``), so the output is a pure function of the config (no wall clock, no
hash-seed-dependent iteration).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Iterator

from . import build
from .cases import CaseMaker, CaseTruth
from .config import DAY, WARMUP_DAYS, Clock, SimConfig
from .corrupt import corrupt
from .geography import build_city
from .noise import NoiseMaker
from .population import build_population, party
from .schedule import DUP, LATE, Scheduler, dumps

CHUNK = 1000


def _chunks(kind: str, ids: list[str], **extra) -> Iterator[dict]:
    for i in range(0, len(ids), CHUNK):
        yield {"kind": kind, **extra, "record_ids": ids[i:i + CHUNK]}


def _case_truth(t: CaseTruth, clock: Clock) -> dict:
    return {"kind": "case", "case_id": t.case_id, "dispute_kind": t.kind, "region_code": t.region_code,
            "address": t.address, "started_at": clock.iso(t.started_at),
            "record_ids": list(dict.fromkeys(t.record_ids)), "feedback_record_ids": t.feedback_ids,
            "escalates": t.escalates,
            "escalated_at": clock.iso(t.escalated_at) if t.escalated_at is not None else None,
            "escalation_record_id": t.escalation_record_id, "escalates_later": t.escalates_later,
            "latent_risk": t.latent_risk, "style": t.style, "factors": t.factors,
            "party_id_numbers": t.party_ids}


def _registries(cfg, city, pop, clock) -> Iterator[str]:
    at = clock.iso(0)
    coms = city.communities
    for gid, name, c in city.grids:
        com = coms[c]
        d = build.grid("GRID-" + gid, gid, name, com.code, f"{com.district}{com.sub}综治中心")
        d["occurred_at"] = at
        yield dumps(d)
    for i in pop.key_persons:
        p = pop.people[i]
        d = build.key_person(f"KP-{p.idx:07d}", party(p, "subject"), p.kp, p.kp_level,
                             {"region_code": coms[p.community].code, "address": p.address,
                              "lat": p.lat, "lon": p.lon})
        d["occurred_at"] = at
        yield dumps(d)
    for cam_id, c, lat, lon, addr in city.cameras:
        d = build.camera("REG-" + cam_id, cam_id, {"region_code": coms[c].code, "address": addr,
                                                   "lat": lat, "lon": lon})
        d["occurred_at"] = at
        yield dumps(d)
    for s in city.sites:
        d = build.site("SITE-" + s.site_id, s.site_id, s.site_type, s.name,
                       {"region_code": coms[s.community].code, "address": s.address,
                        "lat": s.lat, "lon": s.lon}, s.radius_m)
        d["occurred_at"] = at
        yield dumps(d)


def simulate(cfg: SimConfig) -> Iterator[tuple[str | None, dict | None]]:
    """Output lines and truth entries, interleaved: ``(line, None)`` or ``(None, truth)``."""
    def rng(name: str) -> random.Random:
        return random.Random(f"{cfg.seed}:{name}")

    city = build_city(cfg, rng("geo"))
    pop = build_population(cfg, city, rng("people"))
    clock = Clock(cfg.start, cfg.days + 120)
    sched = Scheduler(cfg, clock, rng("arrival"))
    cases = CaseMaker(cfg, city, pop, sched, rng("cases"))
    noise = NoiseMaker(cfg, city, pop, sched, rng("noise"))
    bad_rng = rng("malformed")
    yield None, {"kind": "header", "format": 1, "config": cfg.as_dict(),
                 "city": {"districts": len(city.district_codes), "communities": len(city.communities),
                          "grids": len(city.grids), "people": len(pop.people),
                          "key_persons": len(pop.key_persons), "cameras": len(city.cameras),
                          "sites": len(city.sites)}}
    n = 0
    reg_ids = []
    for line in _registries(cfg, city, pop, clock):
        n += 1
        reg_ids.append(line[line.index('"id":"') + 6:line.index('"', line.index('"id":"') + 6)])
        yield line, None
    for tr in _chunks("registry", reg_ids):
        yield None, tr
    stats = {"registry": len(reg_ids), "events": 0, "feedback": 0, "duplicates": 0, "late": 0,
             "malformed": 0, "noise": 0, "cases": 0, "escalated": 0, "escalates_later": 0}
    by_kind: dict[str, int] = {}
    mal_rate = cfg.malformed_rate
    rand = bad_rng.random
    for day in range(-WARMUP_DAYS, cfg.days):
        for t in cases.start_day(day):
            if t.record_ids:
                stats["cases"] += 1
                stats["escalated"] += t.escalates
                stats["escalates_later"] += t.escalates_later
                yield None, _case_truth(t, clock)
        if day < 0:
            continue
        noise.day(day)
        late, dups, quiet = [], [], []
        for _arr, _seq, line, rid, flag, is_noise in sched.flush(day):
            n += 1
            yield line, None
            k = line[9:line.index('"', 9)]
            by_kind[k] = by_kind.get(k, 0) + 1
            if flag == DUP:
                dups.append(rid)
                continue
            if flag == LATE:
                late.append(rid)
            if is_noise:
                quiet.append(rid)
            if k != "feedback" and rand() < mal_rate:
                bad, reason, bad_id = corrupt(line, bad_rng)
                n += 1
                stats["malformed"] += 1
                yield bad, None
                yield None, {"kind": "malformed", "line": n, "reason": reason, "record_id": bad_id,
                             "decodes": reason == "unknown_region", "corrupts": rid}
        stats["duplicates"] += len(dups)
        stats["late"] += len(late)
        stats["noise"] += len(quiet)
        d = clock.day(day * DAY)
        for kind, ids in (("noise", quiet), ("late", late), ("duplicate", dups)):
            yield from ((None, tr) for tr in _chunks(kind, ids, day=d))
    stats["lines"] = n
    stats["by_kind"] = dict(sorted(by_kind.items()))
    stats["events"] = sum(v for k, v in by_kind.items() if k != "feedback") - stats["duplicates"]
    stats["feedback"] = by_kind.get("feedback", 0)
    yield None, {"kind": "summary", **stats}


def generate(cfg: SimConfig) -> Iterator[str]:
    """The city's JSON lines (without newline) in arrival order."""
    for line, _ in simulate(cfg):
        if line is not None:
            yield line


def truth(cfg: SimConfig) -> Iterator[dict]:
    """The ground-truth entries (header, registry, case, noise, late, duplicate, malformed, summary)."""
    for _, tr in simulate(cfg):
        if tr is not None:
            yield tr


def write(cfg: SimConfig, out_path: str | Path, truth_path: str | Path | None = None,
          progress: Callable[[int], None] | None = None) -> dict:
    """Write ``city.jsonl`` and its truth file (default ``<out>.truth.jsonl``); return the summary."""
    out_path = Path(out_path)
    if truth_path is None:
        truth_path = out_path.with_suffix(".truth.jsonl") if out_path.suffix == ".jsonl" \
            else Path(str(out_path) + ".truth.jsonl")
    summary: dict = {}
    buf: list[str] = []
    lines = 0
    with open(out_path, "w", encoding="utf-8") as out, open(truth_path, "w", encoding="utf-8") as tf:
        for line, tr in simulate(cfg):
            if line is not None:
                buf.append(line)
                if len(buf) >= 20000:
                    lines += len(buf)
                    out.write("\n".join(buf) + "\n")
                    buf.clear()
                    if progress:
                        progress(lines)
            else:
                tf.write(dumps(tr) + "\n")
                if tr["kind"] == "summary":
                    summary = tr
        if buf:
            lines += len(buf)
            out.write("\n".join(buf) + "\n")
            if progress:
                progress(lines)
    return {**summary, "out": str(out_path), "truth": str(truth_path)}
