"""Insert throughput of the store back ends (rows per second, wall clock).

    python benchmarks/bench_sinks.py [--rows 200000] [--batch 10000]

Figures:
- raw_insert_rows_per_s: clickhouse-driver's columnar insert of ready-made columns into the
  records table of a real ClickHouse server (Debian's 18.16, started privately by
  scripts/clickhouse.sh): the limit for anything written in Python through the native protocol;
- sink_rows_per_s_server: ``ServerStore.write`` of the same records as pydantic objects (column
  building, JSON bodies, the insert, with its spool configured);
- sink_rows_per_s_chdb: ``ChdbStore.write`` of the same records (chDB in-process, Arrow).
Writes benchmarks/results/sinks.json.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clickhouse_driver import Client  # noqa: E402

from benchmarks.common import save  # noqa: E402
from sinks import schema  # noqa: E402
from sinks.chdb_store import ChdbStore  # noqa: E402
from sinks.clickhouse_server import ServerStore, block_of  # noqa: E402
from sinks.store import StoreBatch  # noqa: E402
from streams.records import TZ, GridEvent  # noqa: E402

T0 = datetime(2026, 5, 1, 9, 30, tzinfo=TZ)


def make_records(n: int) -> list[GridEvent]:
    return [GridEvent(id=f"g{i:08d}", occurred_at=T0 + timedelta(seconds=i),
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    recs = make_records(args.rows)
    batches = chunks(recs, args.batch)
    script = ROOT / "scripts" / "clickhouse.sh"
    with tempfile.TemporaryDirectory(prefix="bench-sinks-") as tmp:
        port = int(subprocess.run(["bash", str(script), "start", f"{tmp}/ch"], check=True,
                                  capture_output=True, text=True).stdout.split()[0])
        try:
            store = ServerStore(port=port, database="bench_sink", spool_dir=f"{tmp}/spool")
            raw_store = ServerStore(port=port, database="bench_raw")  # same DDL for the raw run
            version = store.server_version
            # the raw insert gets the columns ready-made (times split as the 18.16 schema wants)
            tables = schema.tables()
            blocks = [block_of(StoreBatch(records=b))["records"] for b in batches]
            client = Client(host="127.0.0.1", port=port)
            cols = schema.physical(tables["records"], store.caps, written_only=True)

            def raw_columns(block: dict) -> list[list]:
                out = []
                for c in tables["records"].columns:
                    if not c.written:
                        continue
                    v = block[c.name]
                    if c.is_time and not store.caps.modern:
                        out += [[x // 1000 for x in v], [x % 1000 for x in v]]
                    else:
                        out.append(v)
                return out

            ready = [raw_columns(b) for b in blocks]
            sql = f"INSERT INTO bench_raw.records ({', '.join(cols)}) VALUES"
            raw = rate(args.rows, lambda: [client.execute(sql, d, columnar=True) for d in ready])
            sink = rate(args.rows, lambda: [store.write(StoreBatch(records=b)) for b in batches])
            assert store.counts()["records"] == args.rows == raw_store.counts()["records"]
            store.close(), raw_store.close(), client.disconnect()
        finally:
            subprocess.run(["bash", str(script), "kill", f"{tmp}/ch"], check=False)
        chdb = ChdbStore(f"{tmp}/chdb")
        chdb_rate = rate(args.rows, lambda: [chdb.write(StoreBatch(records=b)) for b in batches])
        assert chdb.counts()["records"] == args.rows
        chdb.close()
    save("sinks", {
        "rows": args.rows, "batch_rows": args.batch, "table": "records (grid events)",
        "server": f"ClickHouse {version} (clickhouse-driver, native protocol)",
        "raw_insert_rows_per_s": round(raw),
        "sink_rows_per_s_server": round(sink),
        "sink_rows_per_s_chdb": round(chdb_rate),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
