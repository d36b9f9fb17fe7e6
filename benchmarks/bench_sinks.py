"""Insert throughput of the store back ends (rows per second, wall clock), beside the limit.

    python benchmarks/bench_sinks.py [--rows 200000] [--batch 10000] [--reps 3]

Figures (each the median of ``--reps`` runs, each run into empty tables; within a run the raw
and the sink insert take turns batch by batch, so a busy machine hurts both alike):
- raw_insert_rows_per_s: clickhouse-driver's columnar insert of ready-made columns (times
  already split as the 18.16 schema wants, bodies already JSON) into the records table of a
  real ClickHouse server (Debian's 18.16, started privately by scripts/clickhouse.sh): the
  limit for anything written in Python through the native protocol;
- sink_rows_per_s_server: ``ServerStore.write`` of the same rows as the pipeline hands them
  over, ``StoreBatch`` objects of pydantic records: column building, JSON bodies, time
  conversion, the insert, with its spool configured (the whole cost a user pays);
- sink_vs_raw_server: the ratio of the two (issue #6 asks for >= 0.5);
- sink_rows_per_s_server_bodies_given: the same writes with ``StoreBatch.bodies`` filled, the
  records' JSON as a Kafka worker receives it from ``yujing ingest`` and passes it on
  (``yujing worker``; ``yujing run`` serialises its records itself);
- build_rows_per_s: the column building alone (``block_of``), no I/O: where the rest goes;
- body_rows_per_s: of that, the records' JSON bodies alone (pydantic's serializer, ``_body``):
  the floor of the sink's own work unless bodies are given; when it is below the raw insert
  rate the sink cannot reach half the raw rate however cheap the rest is;
- raw_insert_rows_per_s_chdb / sink_rows_per_s_chdb: the same on the embedded chDB store
  (raw: ready Arrow tables through ``INSERT ... SELECT FROM Python(tbl)``; sink:
  ``ChdbStore.write`` of the same ``StoreBatch`` objects);
- sink_rows_per_s_chdb_bodies_given / sink_vs_raw_chdb_bodies_given: ``ChdbStore.write`` with
  ``StoreBatch.bodies`` filled with the Kafka messages' values, as ``yujing worker`` passes
  them (engine/worker_engine.py, ``decode_batch``); the raw leg is timed anew beside it.
Writes benchmarks/results/sinks.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
from clickhouse_driver import Client  # noqa: E402

from benchmarks.common import save  # noqa: E402
from sinks import schema  # noqa: E402
from sinks.chdb_store import ARROW_SCHEMAS, ChdbStore, _epoch_ms  # noqa: E402
from sinks.clickhouse_server import ServerStore, block_of  # noqa: E402
from sinks.store import StoreBatch, _body, record_columns  # noqa: E402
from streams.codec import encode  # noqa: E402
from streams.records import TZ, GridEvent  # noqa: E402

T0 = datetime(2026, 5, 1, 9, 30, tzinfo=TZ)


def make_records(n: int) -> list[GridEvent]:
    return [GridEvent(id=f"g{i:08d}", occurred_at=T0 + timedelta(seconds=i, milliseconds=i % 1000),
                      place={"region_code": f"6201020030{i % 90 + 10:02d}",
                             "address": f"城关区张掖路{i % 500}号"},
                      grid_id=f"G-{i % 50}", dispute_kind="neighbour",
                      parties=[{"role": "complainant", "name": "张三", "phone": "13800138000"}],
                      text="邻居噪音纠纷,多次协商未果") for i in range(n)]


def chunks(seq: list, size: int) -> list[list]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def rate(rows: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return rows / (time.perf_counter() - t)


def interleaved(batches: list, *legs) -> list[float]:
    """Rows/s of each ``leg(i)`` over every batch, taking turns batch by batch: a neighbour's
    load on this shared machine lands on every figure alike."""
    spent = [0.0] * len(legs)
    for i in range(len(batches)):
        for k, leg in enumerate(legs):
            t = time.perf_counter()
            leg(i)
            spent[k] += time.perf_counter() - t
    rows = sum(len(b) for b in batches)
    return [rows / s for s in spent]


def bench_server(tmp: str, batches: list[list], rows: int, reps: int) -> dict:
    script = ROOT / "scripts" / "clickhouse.sh"
    port = int(subprocess.run(["bash", str(script), "start", f"{tmp}/ch"], check=True,
                              capture_output=True, text=True).stdout.split()[0])
    try:
        probe = ServerStore(port=port, database="bench_probe")
        version, caps = probe.server_version, probe.caps
        probe.close()
        table = schema.tables()["records"]
        cols = schema.physical(table, caps, written_only=True)

        def raw_columns(block: dict) -> list[list]:
            out = []
            for c in table.columns:
                if not c.written:
                    continue
                v = block[c.name]
                if c.is_time and not caps.modern:
                    out += [[x // 1000 for x in v], [x % 1000 for x in v]]
                else:
                    out.append(v)
            return out

        # the raw insert gets the very rows the sink sends, ready as columns (not timed)
        ready = [raw_columns(block_of(StoreBatch(records=b))["records"]) for b in batches]
        # what a Kafka worker hands over: each message's text, written by `yujing ingest`
        texts = [{r.id: encode(r) for r in b} for b in batches]
        client = Client(host="127.0.0.1", port=port)
        raw_runs, sink_runs, given_runs = [], [], []
        for rep in range(reps):
            raw_db = ServerStore(port=port, database=f"bench_raw{rep}")  # same DDL, empty
            sql = f"INSERT INTO bench_raw{rep}.records ({', '.join(cols)}) VALUES"
            store = ServerStore(port=port, database=f"bench_sink{rep}", spool_dir=f"{tmp}/spool{rep}")
            given = ServerStore(port=port, database=f"bench_given{rep}", spool_dir=f"{tmp}/spg{rep}")
            raw, sink, with_text = interleaved(
                batches, lambda i: client.execute(sql, ready[i], columnar=True),
                lambda i: store.write(StoreBatch(records=batches[i])),
                lambda i: given.write(StoreBatch(records=batches[i], bodies=texts[i])))
            raw_runs.append(raw), sink_runs.append(sink), given_runs.append(with_text)
            # every row arrived, in each, and the sinks' bodies and times are the records'
            for s in (store, given, raw_db):
                assert s.counts()["records"] == rows
            last = batches[-1][-1]
            for s in (store, given):
                got = s.get_records([last.id])[0]
                assert got["body"] == last.model_dump(mode="json", exclude_none=True)
                assert got["occurred_at"] == last.occurred_at and s.spooled == 0
            store.close(), given.close(), raw_db.close()
        client.disconnect()
    finally:
        subprocess.run(["bash", str(script), "kill", f"{tmp}/ch"], check=False)
    return {"server": f"ClickHouse {version} (clickhouse-driver, native protocol)",
            "raw": raw_runs, "sink": sink_runs, "given": given_runs}


def bench_chdb(tmp: str, batches: list[list], rows: int, reps: int) -> dict:
    chdb = ChdbStore(f"{tmp}/chdb")
    chdb.execute("CREATE DATABASE IF NOT EXISTS bench_raw")
    chdb.execute(f"CREATE TABLE IF NOT EXISTS bench_raw.records AS {schema.DB}.records")
    arrow = ARROW_SCHEMAS["records"]
    names = ", ".join(arrow.names)

    def arrow_table(b: list) -> pa.Table:
        cols = record_columns(b, {})
        return pa.Table.from_arrays(
            [_epoch_ms(cols[f.name]) if f.name == "occurred_at" else pa.array(cols[f.name], f.type)
             for f in arrow], schema=arrow)

    tables = [arrow_table(b) for b in batches]  # ready for the raw runs (not timed)
    sess = chdb._sess()

    def raw_insert(i: int) -> None:
        tbl = tables[i]  # noqa: F841 -- Python(tbl) finds it among this frame's locals
        sess.query(f"INSERT INTO bench_raw.records ({names}) SELECT {names} FROM Python(tbl)")

    # what a Kafka worker hands over: each message's value as `yujing ingest` wrote it
    texts = [{r.id: encode(r).encode() for r in b} for b in batches]
    raw_runs, sink_runs, given_runs = [], [], []
    for _ in range(reps):
        for leg, runs in (("sink", sink_runs), ("given", given_runs)):   # one pass each
            chdb.execute(f"TRUNCATE TABLE {schema.DB}.records")
            chdb.execute("TRUNCATE TABLE bench_raw.records")
            raw, sink = interleaved(batches, raw_insert, (
                (lambda i: chdb.write(StoreBatch(records=batches[i]))) if leg == "sink" else
                (lambda i: chdb.write(StoreBatch(records=batches[i], bodies=texts[i])))))
            raw_runs.append(raw), runs.append(sink)
            assert chdb.counts()["records"] == rows
            assert chdb.query("SELECT count() AS n FROM bench_raw.records FINAL")[0]["n"] == rows
            last = batches[-1][-1]
            got = chdb.get_records([last.id])[0]
            assert got["body"] == last.model_dump(mode="json", exclude_none=True), leg
    chdb.close()
    return {"raw": raw_runs, "sink": sink_runs, "given": given_runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]  # neighbours' load moves every figure: say how busy it was
    recs = make_records(args.rows)
    batches = chunks(recs, args.batch)
    build = statistics.median(rate(args.rows, lambda: [block_of(StoreBatch(records=b))
                                                       for b in batches])
                              for _ in range(args.reps))
    body = statistics.median(rate(args.rows, lambda: [[_body(r) for r in b] for b in batches])
                             for _ in range(args.reps))
    with tempfile.TemporaryDirectory(prefix="bench-sinks-") as tmp:
        srv = bench_server(tmp, batches, args.rows, args.reps)
        emb = bench_chdb(tmp, batches, args.rows, args.reps)
    med = statistics.median
    raw, sink = med(srv["raw"]), med(srv["sink"])
    raw_c, sink_c = med(emb["raw"]), med(emb["sink"])
    save("sinks", {
        "input": {"rows": args.rows, "batch_rows": args.batch, "runs (median)": args.reps},
        "table": "records (grid events)",
        "server": srv["server"],
        "raw_insert_rows_per_s": round(raw),
        "sink_rows_per_s_server": round(sink),
        "sink_vs_raw_server": round(sink / raw, 2),
        "sink_rows_per_s_server_bodies_given": round(med(srv["given"])),
        "build_rows_per_s": round(build),
        "body_rows_per_s": round(body),
        "raw_insert_rows_per_s_chdb": round(raw_c),
        "sink_rows_per_s_chdb": round(sink_c),
        "sink_vs_raw_chdb": round(sink_c / raw_c, 2),
        "sink_rows_per_s_chdb_bodies_given": round(med(emb["given"])),
        "sink_vs_raw_chdb_bodies_given": round(med(emb["given"]) / raw_c, 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "runs": {"raw_server": [round(x) for x in srv["raw"]],
                 "sink_server": [round(x) for x in srv["sink"]],
                 "sink_server_bodies_given": [round(x) for x in srv["given"]],
                 "raw_chdb": [round(x) for x in emb["raw"]],
                 "sink_chdb": [round(x) for x in emb["sink"]],
                 "sink_chdb_bodies_given": [round(x) for x in emb["given"]]},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
