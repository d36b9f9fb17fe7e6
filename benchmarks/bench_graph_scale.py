"""The relationship graph at city scale, without the simulator: synthetic people, phones,
households, sites and cases at realistic fan-outs, fed as records through the real
``GraphDetector.detect`` (hashing, masking, address normalising, patterns and all).

    .venv/bin/python -m benchmarks.bench_graph_scale build  --people 1000000   # build + snapshot
    .venv/bin/python -m benchmarks.bench_graph_scale stream --days 90 --retention 30
    .venv/bin/python -m benchmarks.bench_graph_scale build --people 1000000 --dump /tmp/g1m.bin
    .venv/bin/python -m benchmarks.bench_graph_scale restore --snapshot /tmp/g1m.bin
    .venv/bin/python -m benchmarks.bench_graph_scale link --people 1000000     # the case linker

``build``: one graph of about ``--people`` people over 30 days (retention longer than that, so
nothing is pruned): build time, records/s, RSS growth, bytes per person / node / edge, feature
query p50/p99, binary snapshot size, dump and restore time, and that the restored graph gives
the same features.  ``stream``: a steady city over ``--days`` with ``--retention`` pruning;
RSS, nodes and edges every 10 simulated days (flat after the retention once it is full).
``link``: the case linker (``graph.linker.CaseLinker``) alone over the same city: records/s and
RSS of the process (the linker's cases and index; no graph). ``restore``: ``GraphDetector.from_bytes`` of a saved binary snapshot in a fresh process (the way a
restarted worker does it: no second graph in memory), wall and CPU time.
Results are merged into ``benchmarks/results/graph.json`` under ``scale_build`` / ``scale_stream``
/ ``scale_restore`` / ``scale_link``.

Fan-outs (per case): 1 party 30 %, 2 parties 50 %, 3 parties 20 %; parties drawn 75 % from the
whole population and 25 % from a frequent 5 % (repeat pairs, busy people); the place is the
first party's household (3 people a household) 70 %, a work site with an organisation 20 %
(wages disputes there), a street corner (hub) 10 %; each case has one 网格事件 with all parties
(身份证号 + phone) and 0–2 calls from a party (phone and name only half of the time).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, Iterator

from benchmarks.common import RESULTS, feature_query_latency, machine, speed_score
from engine.pipeline import GC_THRESHOLD, tune_gc
from graph.detector import GraphDetector
from streams import native
from streams.detect import CaseContext, KeyPersonInfo
from streams.privacy import Hasher
from streams.records import TZ

H = Hasher(b"bench-graph-scale-key-01")
T0 = datetime(2026, 1, 1, tzinfo=TZ)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉"
ROADS = "张掖路 静宁路 庆阳路 酒泉路 武都路 中山路 平凉路 天水路 白银路 定西路".split()


@dataclass(slots=True)
class Party:
    name: str
    phone: str | None
    id_number: str | None


@dataclass(slots=True)
class Place:
    region_code: str
    address: str


@dataclass(slots=True)
class Rec:
    id: str
    kind: str
    occurred_at: datetime
    place: Place
    parties: list = field(default_factory=list)
    caller: Any = None
    matched: Any = None


def person(j: int) -> Party:
    return Party(SURNAMES[j % 20] + GIVEN[(j // 20) % 25] + GIVEN[(j // 500) % 25],
                 f"13{j:09d}", f"62{j:016d}")


def region(j: int) -> str:
    return f"620102{(j % 300):03d}001"


def home(j: int) -> Place:
    h = j // 3
    # one address per household: (road, number, building) spell h out
    return Place(region(h), f"{ROADS[h % 10]}{h // 10 % 997 + 1}号{h // 9970 + 1}栋{h % 6 + 1}单元{h % 20 + 101}")


def site(s: int) -> Place:
    return Place(region(s), f"{ROADS[s % 10]}{s % 500 + 1}号第{s}建筑公司工地")


def corner(s: int) -> Place:
    return Place(region(s), f"{ROADS[s % 10]}与{ROADS[(s // 10) % 10]}交叉口{s}")


def city(pool: int, cases_per_day: int, days: int, seed: int = 11) -> Iterator[tuple[Rec, CaseContext]]:
    """Records with their cases, in event-time order, day by day."""
    rnd = random.Random(seed)
    frequent = max(1, pool // 20)
    n = 0
    for day in range(days):
        todays = []
        for _ in range(cases_per_day):
            n += 1
            cid = f"C-{n}"
            k = rnd.random()
            size = 1 if k < 0.3 else 2 if k < 0.8 else 3
            people = [rnd.randrange(frequent) if rnd.random() < 0.25 else rnd.randrange(pool)
                      for _ in range(size)]
            w = rnd.random()
            place, kind = ((home(people[0]), "neighbour") if w < 0.7 else
                           (site(rnd.randrange(20000)), "wages") if w < 0.9 else
                           (corner(rnd.randrange(500)), "traffic"))
            start = T0 + timedelta(days=day, seconds=rnd.randrange(86400))
            ctx = CaseContext(cid, [], key_persons=KPS, dispute_kind=kind)
            todays.append((Rec(f"R-{n}-0", "grid_event", start, place,
                               [person(j) for j in people]), ctx))
            for c in range(rnd.choice((0, 0, 1, 1, 2))):
                p = person(rnd.choice(people))
                if rnd.random() < 0.5:
                    p.id_number = None
                todays.append((Rec(f"R-{n}-{c + 1}", "call", start + timedelta(hours=2 + 3 * c),
                                   place, caller=p), ctx))
        todays.sort(key=lambda rc: rc[0].occurred_at)
        yield from todays


KPS: dict[str, KeyPersonInfo] = {}


def key_persons(pool: int) -> None:
    KPS.clear()
    for j in range(0, pool, 200):    # 0.5 % of people are 重点人员
        KPS[H(person(j).id_number)] = KeyPersonInfo("community_correction", 2)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def feed(d: GraphDetector, items, on_day=None) -> tuple[int, int, float]:
    """Detect every record (advancing once a day); time spent in the detector only.

    Timed a day at a time: two clock reads per record (``process_time`` is a system call here)
    cost ~14 % of the detector's own time at 1 M people (py-spy), which is not the detector's."""
    n = sig = 0
    spent = cpu = 0.0
    clock, cpu_clock = time.perf_counter, time.process_time
    detect = d.detect
    for day, todays in groupby(items, key=lambda rc: rc[0].occurred_at.date()):
        todays = list(todays)   # made before the clocks start: the generator is not timed
        if on_day:
            on_day(day)
        t, c = clock(), cpu_clock()
        d.advance(todays[0][0].occurred_at)
        for rec, ctx in todays:
            sig += len(detect(rec, ctx))
        spent, cpu = spent + clock() - t, cpu + cpu_clock() - c
        n += len(todays)
    FEED_CPU[0] = cpu
    return n, sig, spent


FEED_CPU = [0.0]   # CPU seconds of the last feed (the wall time counts other processes' turns)


def restore(path: str) -> dict:
    blob = open(path, "rb").read()
    r = GraphDetector(H)
    t, c = time.perf_counter(), time.process_time()
    r.from_bytes(blob)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    st = r.graph.stats()
    return {"snapshot_bytes": len(blob), "people_in_graph": len(r.graph._ids["person"]), **st,
            "restore_s": round(wall, 2), "restore_cpu_s": round(cpu, 2), "rss_bytes": rss()}


DUMP: list[str] = []   # --dump FILE: where build saves its binary snapshot


def build(people: int, days: int = 30) -> dict:
    pool = int(people * 1.3)            # not everyone in the pool gets a case in 30 days
    cases_per_day = round(people * 1.2 / days)
    key_persons(pool)
    rss0 = rss()
    d = GraphDetector(H, retention=timedelta(days=days + 30))
    n, sig, dt = feed(d, city(pool, cases_per_day, days))
    rss1 = rss()
    st = d.graph.stats()
    in_graph = len(d.graph._ids["person"])
    rnd = random.Random(3)
    sample = [f"C-{rnd.randrange(1, cases_per_day * days)}" for _ in range(20000)]
    p50, p99 = feature_query_latency(d, sample)
    t = time.perf_counter()
    blob = d.to_bytes()
    dump_s = time.perf_counter() - t
    if DUMP:
        with open(DUMP[0], "wb") as f:
            f.write(blob)
    r = GraphDetector(H)
    t = time.perf_counter()
    r.from_bytes(blob)
    restore_s = time.perf_counter() - t
    same = all(r.features(c) == d.features(c) for c in sample[:5000]) and r.graph.stats() == st
    grown = rss1 - rss0
    return {"people_in_graph": in_graph, "nodes": st["nodes"], "edges": st["edges"],
            "records": n, "signals": sig, "days": days, "build_s": round(dt, 1),
            "records_per_s": round(n / dt), "records_per_cpu_s": round(n / FEED_CPU[0]),
            "rss_bytes": rss1, "rss_growth_bytes": grown,
            "bytes_per_person": round(grown / in_graph),
            "bytes_per_node_plus_edge": round(grown / (st["nodes"] + st["edges"])),
            "feature_query_p50_ms": p50, "feature_query_p99_ms": p99,
            "snapshot_bytes": len(blob), "snapshot_dump_s": round(dump_s, 2),
            "snapshot_restore_s": round(restore_s, 2), "restored_features_identical": same}


def stream(people: int, days: int, retention: int) -> dict:
    """A steady city: ``people`` is about how many are in the graph once the retention is full."""
    pool = int(people * 1.3)
    cases_per_day = round(people * 1.2 / retention)
    key_persons(pool)
    rss0 = rss()
    d = GraphDetector(H, retention=timedelta(days=retention))
    series = []

    def sample(day) -> None:
        k = (day - T0.date()).days
        if k % 10 == 0 and k:
            st = d.graph.stats()
            series.append({"day": k, "rss_bytes": rss(), "rss_growth_bytes": rss() - rss0,
                           "people": len(d.graph._ids["person"]), **st})
            print(json.dumps(series[-1]), flush=True)

    n, sig, dt = feed(d, city(pool, cases_per_day, days), sample)
    after = [s["rss_growth_bytes"] for s in series if s["day"] > retention]
    return {"days": days, "retention_days": retention, "cases_per_day": cases_per_day,
            "records": n, "records_per_s": round(n / dt),
            "records_per_cpu_s": round(n / FEED_CPU[0]), "series": series,
            "rss_growth_max_over_min_after_retention": round(max(after) / min(after), 3)
            if after else None}


def link(people: int, days: int = 30) -> dict:
    """The case linker (``graph.linker.CaseLinker``: records into cases) on the same city, alone:
    the other half of "records linked" at 1 M people. Timed a day at a time like ``feed``."""
    from types import SimpleNamespace

    from graph.linker import CaseLinker
    from streams.detect import CaseEntry
    pool = int(people * 1.3)
    key_persons(pool)
    rss0 = rss()
    lk = CaseLinker(H)
    dispute = SimpleNamespace(value="dispute")   # a grid event's category, as the linker reads it
    n = made = 0
    spent = cpu = 0.0
    for _, todays in groupby(city(pool, round(people * 1.2 / days), days),
                             key=lambda rc: rc[0].occurred_at.date()):
        # the linker reads a grid event's dispute number and category too (not timed)
        todays = [(SimpleNamespace(id=r.id, kind=r.kind, occurred_at=r.occurred_at, place=r.place,
                                   parties=r.parties, caller=r.caller, matched=r.matched,
                                   dispute_no=None, category=dispute), ctx) for r, ctx in todays]
        t, c = time.perf_counter(), time.process_time()
        for rec, ctx in todays:
            res = lk.link(rec, CaseEntry(rec.id, rec.kind, rec.occurred_at, "dispute"),
                          ctx.dispute_kind)
            made += res is not None and res.created
        lk.prune(todays[0][0].occurred_at - lk.idle)
        spent, cpu = spent + time.perf_counter() - t, cpu + time.process_time() - c
        n += len(todays)
    return {"records": n, "records_per_s": round(n / spent), "records_per_cpu_s": round(n / cpu),
            "cases": len(lk.cases), "cases_opened": made, "rss_bytes": rss(),
            "rss_growth_bytes": rss() - rss0}


def merge(key: str, value: dict) -> None:
    """Into graph.json, keeping bench_graph's figures; a build also fills the headline keys.
    Each entry carries its own machine and date: the figures of one file come from runs on
    different days, and one kind of machine here ran this code 40-47 % slower than another."""
    path = RESULTS / "graph.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    value["machine"], value["date"] = machine(), datetime.now().date().isoformat()
    value["machine_speed"] = speed_score()
    doc[key] = value
    if key == "scale_build":
        people = value["people_in_graph"]
        if people >= 950_000:
            doc["rss_bytes_at_1m_people"] = value["rss_bytes"]
            value["rss_bytes_at_1m_people"] = value["rss_bytes"]
        else:   # honestly labelled: an extrapolation from the largest build reached
            doc["rss_bytes_at_1m_people"] = None
            doc["rss_bytes_at_1m_people_extrapolated"] = value["bytes_per_person"] * 1_000_000
        doc["feature_query_p50_ms"] = value["feature_query_p50_ms"]
        doc["feature_query_p99_ms"] = value["feature_query_p99_ms"]
        doc["graph_records_per_s_at_scale"] = value["records_per_s"]
        doc["scale_reached"] = (f"synthetic build: {people} people, {value['nodes']} nodes, "
                                f"{value['edges']} edges in one process (bench_graph_scale)")
        doc["machine"] = machine()   # (the headline figures' machine)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("build", "stream", "restore", "link"))
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--retention", type=int, default=30)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--dump", default=None, help="build: save the binary snapshot here")
    ap.add_argument("--snapshot", default=None, help="restore: the binary snapshot to load")
    ap.add_argument("--save-as", default=None,
                    help="the graph.json key to save under (default: scale_<mode>)")
    a = ap.parse_args()
    # the collector as the engine sets it for a stream (``yujing run``, ``backtest``, the worker):
    # at Python's default every full pass walks the whole graph, a cost no run of the engine pays
    tune_gc()
    if a.dump:
        DUMP.append(a.dump)
    if a.mode == "restore":
        if not a.snapshot:
            ap.error("restore needs --snapshot FILE (written by build --dump)")
        out = restore(a.snapshot)
    elif a.mode == "build":
        out = build(a.people, a.days or 30)
    elif a.mode == "link":
        out = link(a.people, a.days or 30)
    else:
        out = stream(a.people, a.days or 90, a.retention)
    out["gc_threshold"] = list(GC_THRESHOLD)
    out["linker"] = native.describe()   # compiled or plain Python (streams/native.py)
    with open("/proc/loadavg") as f:
        out["load_average"] = f.read().split()[:3]
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if not a.no_save:
        merge(a.save_as or {"build": "scale_build", "stream": "scale_stream",
                            "restore": "scale_restore", "link": "scale_link"}[a.mode], out)


if __name__ == "__main__":
    main()
