"""The store, on both back ends: every table round-trips, writes are idempotent, warnings keep
their versions, times keep their instant.

The ``store`` fixture (tests/conftest.py) is parametrised: chDB (the embedded default) and
``ServerStore`` on the real ClickHouse server the session starts. chDB lets one process open
one data folder at a time, and only one process per folder: the in-process tests share one
module-scoped store; chDB restart and locking run in subprocesses. The schema per server, its
migrations, the analysts' queries and the server's crash tests are in test_clickhouse_server.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sinks.schema import LATEST
from sinks.store import Store, StoreBatch
from streams.codec import Reject, encode
from streams.codes import Level
from streams.ident import id_check_digit
from streams.records import (
    INPUT_ADAPTER, TZ, Call, Camera, Feedback, Grid, GridEvent, KeyPerson, Signal, Site,
    VideoAlert, Warning,
)

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 5, 1, 9, 30, tzinfo=TZ)


def id_number(seq: int) -> str:
    first17 = f"62010219800101{seq % 1000:03d}"
    return first17 + id_check_digit(first17)


def place(n: int = 0) -> dict:
    return {"region_code": f"6201020030{n % 90 + 10:02d}", "address": f"城关区张掖路{n}号"}


def all_kinds(p: str) -> list:
    """One record of every input kind, ids prefixed with ``p``."""
    party = {"role": "complainant", "name": "张三", "phone": "13800138000", "id_number": id_number(7)}
    return [
        GridEvent(id=f"{p}g", occurred_at=T0, place=place(1), grid_id="G-01", source="grid",
                  dispute_kind="neighbour", parties=[party], text="邻居噪音纠纷"),
        Call(id=f"{p}c", occurred_at=T0 + timedelta(minutes=5), line="110", caller=party,
             call_type="dispute", place=place(2), text="楼上吵架"),
        VideoAlert(id=f"{p}v", occurred_at=T0, camera_id="CAM-1", place=place(3),
                   alert_type="gathering", confidence=0.9, head_count=30),
        Feedback(id=f"{p}f", occurred_at=T0 + timedelta(days=1), case_id=f"{p}case",
                 warning_id=f"{p}w", outcome="resolved", note="调解成功", by="u1"),
        KeyPerson(id=f"{p}k", occurred_at=T0, person=party, category="petitioner", place=place(4)),
        Camera(id=f"{p}cam", occurred_at=T0, camera_id="CAM-1", place=place(3)),
        Grid(id=f"{p}grid", occurred_at=T0, grid_id="G-01", name="一网格", region_code="620102003011"),
        Site(id=f"{p}s", occurred_at=T0, site_id="S-1", site_type="school", name="一中", place=place(5)),
    ]


def signal(p: str, n: int) -> Signal:
    return Signal(id=f"{p}sig{n}", detector="rules", rule_id="R-repeat", rule_version=2,
                  case_id=f"{p}case", record_id=f"{p}g", score=0.5 + n / 100, reason="同一纠纷反复报警",
                  evidence={"count": n, "words": ["吵架"], "path": [f"{p}g", f"{p}c"]},
                  at=T0 + timedelta(seconds=n))


def warning(p: str, version: int, *, wid: str | None = None, region: str = "620102003011",
            updated: datetime | None = None) -> Warning:
    levels = [Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED]
    return Warning(id=wid or f"{p}w", version=version, case_id=f"{p}case",
                   level=levels[min(version, 4) - 1], score=min(1.0, 0.2 * version),
                   region_code=region, address="城关区张掖路1号", dispute_kind="neighbour",
                   title=f"邻里纠纷升级 v{version}", explanation="三次报警",
                   reasons=[{"rule_id": "R-repeat", "score": 0.5, "version": version}],
                   record_ids=[f"{p}g", f"{p}c"][:version], state="new", first_at=T0,
                   updated_at=updated or T0 + timedelta(minutes=version))


def reject(p: str, reason: str, n: int) -> Reject:
    return Reject(reason, "caller.phone", "不是电话号码", f'{{"id": "{p}bad{n}", "phone": "12"}}',
                  source=f"{p}.jsonl", line=n, record_id=f"{p}bad{n}", at=T0)


def full_batch(p: str) -> StoreBatch:
    return StoreBatch(records=all_kinds(p), signals=[signal(p, 1), signal(p, 2)],
                      warnings=[warning(p, 1), warning(p, 2)],
                      rejects=[reject(p, "bad_phone", 1), reject(p, "malformed_json", 2)],
                      record_cases={f"{p}g": f"{p}case", f"{p}c": f"{p}case"})


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


def q(store, sql: str, params: dict | None = None) -> list[dict]:
    """A read on the store's own database (each server store of the session has its own)."""
    return store.query(sql.replace("yujing.", f"{store.db}."), params)


def test_is_a_store(store):
    assert isinstance(store, Store)
    assert q(store, "SELECT max(version) AS v FROM yujing.schema_version")[0]["v"] == LATEST


def test_every_table_round_trips(store):
    p = prefix()
    batch = full_batch(p)
    store.write(batch)
    ids = [r.id for r in batch.records]
    got = {r["id"]: r for r in store.get_records(ids)}
    assert sorted(got) == sorted(ids)
    for rec in batch.records:
        row = got[rec.id]
        assert INPUT_ADAPTER.validate_python(row["body"]) == rec  # clear data kept whole
        assert (row["kind"], row["occurred_at"], row["source"]) == (rec.kind, rec.occurred_at, rec.source)
    assert got[f"{p}g"]["case_id"] == f"{p}case"
    assert got[f"{p}f"]["case_id"] == f"{p}case"  # from the feedback itself
    assert got[f"{p}v"]["case_id"] == ""
    assert got[f"{p}c"]["region_code"] == "620102003012"
    assert got[f"{p}grid"]["region_code"] == "620102003011"

    fb = q(store, "SELECT * FROM yujing.feedback FINAL WHERE id = {i:String}", {"i": f"{p}f"})
    assert [(r["case_id"], r["warning_id"], r["outcome"], r["note"], r["occurred_at"]) for r in fb] == \
        [(f"{p}case", f"{p}w", "resolved", "调解成功", T0 + timedelta(days=1))]

    sigs = [Signal.model_validate(r) for r in store.signals_of_case(f"{p}case")]
    assert sigs == batch.signals

    hist = [Warning.model_validate(r) for r in store.warning_history(f"{p}w")]
    assert hist == batch.warnings

    rj = q(store, "SELECT reason, field, detail, raw, source, line, record_id, at FROM yujing.rejects"
                     " FINAL WHERE source = {s:String} ORDER BY line", {"s": f"{p}.jsonl"})
    assert [Reject(**r) for r in rj] == batch.rejects


def test_bodies_given_upstream_are_stored_as_given(store):
    """``StoreBatch.bodies`` (JSON the caller already has, e.g. a Kafka message from ``yujing
    ingest``) is stored as it is, str or bytes, instead of serialising the record again; records
    without one are serialised as usual."""
    p = prefix()
    recs = all_kinds(p)
    given = {recs[0].id: json.dumps(json.loads(encode(recs[0])), ensure_ascii=False),  # spaced
             recs[1].id: json.dumps(json.loads(encode(recs[1])), indent=1).encode()}
    store.write(StoreBatch(records=recs, bodies=given))
    rows = q(store, "SELECT id, body FROM yujing.records FINAL WHERE startsWith(id, {p:String})",
             {"p": p})
    body = {r["id"]: r["body"] for r in rows}
    assert body[recs[0].id] == given[recs[0].id]
    assert body[recs[1].id] == given[recs[1].id].decode()
    assert all(body[r.id] == encode(r) for r in recs[2:])
    assert {r["id"]: INPUT_ADAPTER.validate_python(r["body"])
            for r in store.get_records([r.id for r in recs])} == {r.id: r for r in recs}


def test_counts_and_reject_counts(store):
    before, rbefore = store.counts(), store.reject_counts()
    p = prefix()
    store.write(full_batch(p))
    store.write(StoreBatch(rejects=[reject(p, "bad_phone", n) for n in range(10, 13)]))
    after, rafter = store.counts(), store.reject_counts()
    delta = {t: after[t] - before.get(t, 0) for t in after}
    assert delta == {"records": 8, "feedback": 1, "signals": 2, "warnings": 2, "rejects": 5}
    rdelta = {k: v - rbefore.get(k, 0) for k, v in rafter.items() if v != rbefore.get(k, 0)}
    assert rdelta == {"bad_phone": 4, "malformed_json": 1}


def test_double_write_is_idempotent(store):
    p = prefix()
    batch = full_batch(p)
    store.write(batch)
    before = store.counts()
    store.write(batch)
    store.write(full_batch(p))  # rebuilt objects, same ids: a replay after a crash
    assert store.counts() == before
    dup = q(store, "SELECT id, count() AS n FROM yujing.records FINAL WHERE startsWith(id, {p:String})"
                      " GROUP BY id HAVING n > 1", {"p": p})
    assert dup == []
    assert len(store.warning_history(f"{p}w")) == 2


def test_a_resent_record_replaces_the_old_one(store):
    p = prefix()
    g = all_kinds(p)[0]
    store.write(StoreBatch(records=[g]))
    store.write(StoreBatch(records=[g.model_copy(update={"text": "已更正"})]))
    rows = store.get_records([g.id])
    assert [r["body"]["text"] for r in rows] == ["已更正"]


def test_warning_versions_latest_and_history(store):
    p = prefix()
    # versions arrive out of order and in separate batches
    store.write(StoreBatch(warnings=[warning(p, 3)]))
    store.write(StoreBatch(warnings=[warning(p, 1), warning(p, 2)]))
    latest = [w for w in store.latest_warnings(limit=100000) if w["id"] == f"{p}w"]
    assert [(w["version"], w["level"], w["title"]) for w in latest] == [(3, "orange", "邻里纠纷升级 v3")]
    assert [w["version"] for w in store.warning_history(f"{p}w")] == [1, 2, 3]
    assert store.warning_history(f"{p}nothing") == []


def test_latest_warnings_order_limit_and_region(store):
    p = prefix()
    late = datetime(2099, 1, 1, tzinfo=TZ)  # newer than anything else in the shared store
    ws = [warning(p, 1, wid=f"{p}a", region="620102003011", updated=late),
          warning(p, 1, wid=f"{p}b", region="620103001001", updated=late + timedelta(hours=1)),
          warning(p, 1, wid=f"{p}c", region="620102004001", updated=late + timedelta(hours=2))]
    store.write(StoreBatch(warnings=ws))
    assert [w["id"] for w in store.latest_warnings(limit=3)] == [f"{p}c", f"{p}b", f"{p}a"]
    assert [w["id"] for w in store.latest_warnings(limit=1)] == [f"{p}c"]
    mine = [w["id"] for w in store.latest_warnings(limit=100000, region_prefix="620102") if w["id"].startswith(p)]
    assert mine == [f"{p}c", f"{p}a"]
    assert store.latest_warnings(region_prefix="99") == []


def test_times_keep_their_instant(store):
    p = prefix()
    utc = datetime(2026, 5, 1, 1, 30, 0, 123000, tzinfo=timezone.utc)
    g = all_kinds(p)[0].model_copy(update={"occurred_at": utc})
    store.write(StoreBatch(records=[g]))
    row = q(store, "SELECT * , toString(occurred_at) AS s FROM yujing.records FINAL"
                   " WHERE id = {i:String}", {"i": g.id})[0]
    assert row["occurred_at"] == utc
    assert str(row["occurred_at"].tzinfo) == "Asia/Shanghai"
    if store.caps.modern:
        assert row["s"] == "2026-05-01 09:30:00.123"  # stored as Shanghai wall time
    else:  # portable schema: seconds in the DateTime, milliseconds beside it
        assert row["s"] == "2026-05-01 09:30:00"
        ms = q(store, "SELECT occurred_at_ms FROM yujing.records FINAL WHERE id = {i:String}",
               {"i": g.id})
        assert ms == [{"occurred_at_ms": 123}]
    assert "occurred_at_ms" not in row  # folded into occurred_at on read: same keys everywhere


def test_milliseconds_order_warnings_within_a_second(store):
    p = prefix()
    base = datetime(2026, 6, 1, 8, 0, 0, 900000, tzinfo=TZ)  # three times in one second
    ws = [warning(p, 1, wid=f"{p}{n}", region="710000000001", updated=base + timedelta(milliseconds=n))
          for n in (5, 7, 6)]
    store.write(StoreBatch(warnings=ws))
    top = store.latest_warnings(limit=3, region_prefix="71")  # only this test uses region 71
    assert [w["id"] for w in top] == [f"{p}7", f"{p}6", f"{p}5"]
    assert [w["updated_at"] for w in top] == [base + timedelta(milliseconds=n) for n in (7, 6, 5)]


def test_concurrent_writes_from_threads(store):
    p = prefix()
    batches = [StoreBatch(records=all_kinds(f"{p}{n}-")) for n in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store.write, batches))
    n = q(store, "SELECT count() AS n FROM yujing.records FINAL WHERE startsWith(id, {p:String})", {"p": p})
    assert n[0]["n"] == 16 * 8


def test_bulk_insert_rate(store):
    p = prefix()
    recs = [GridEvent(id=f"{p}{i}", occurred_at=T0 + timedelta(seconds=i), place=place(i),
                      grid_id=f"G-{i % 50}", text="邻居噪音纠纷") for i in range(100_000)]
    t = time.perf_counter()
    store.write(StoreBatch(records=recs))
    dt = time.perf_counter() - t
    print(f"\n100k records written in {dt:.2f}s: {len(recs) / dt:,.0f} rows/s")
    n = q(store, "SELECT count() AS n, max(occurred_at) AS m FROM yujing.records FINAL"
                    " WHERE startsWith(id, {p:String})", {"p": p})[0]
    assert (n["n"], n["m"]) == (100_000, recs[-1].occurred_at)


# ---- across processes ---------------------------------------------------------------------------

def run_py(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    prelude = f"import sys, json; sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return proc


def test_data_survives_a_restart(tmp_path):
    d = str(tmp_path / "data")
    run_py("""
        from test_store import full_batch
        from sinks.chdb_store import ChdbStore
        s = ChdbStore(sys.argv[1]); s.write(full_batch("r-")); s.close()
    """, d)
    out = run_py("""
        from test_store import full_batch
        from sinks.chdb_store import ChdbStore
        from streams.records import Warning
        s = ChdbStore(sys.argv[1])
        b = full_batch("r-")
        hist = [Warning.model_validate(r) for r in s.warning_history("r-w")]
        print(json.dumps({"counts": s.counts(), "rejects": s.reject_counts(),
                          "hist_ok": hist == b.warnings,
                          "records": len(s.get_records([r.id for r in b.records])),
                          "schema_rows": s.query("SELECT count() AS n FROM yujing.schema_version")[0]["n"]}))
    """, d)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"counts": {"records": 8, "feedback": 1, "signals": 2, "warnings": 2, "rejects": 2},
                   "rejects": {"bad_phone": 1, "malformed_json": 1}, "hist_ok": True,
                   "records": 8, "schema_rows": LATEST}  # migrations not re-applied on reopen


def test_second_process_gets_a_clear_error(tmp_path):
    d = tmp_path / "data"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sinks.chdb_store import ChdbStore\n"
         "s = ChdbStore(sys.argv[1]); print('open', flush=True); sys.stdin.read(); s.close()", str(d)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        out = run_py("""
            from sinks.chdb_store import ChdbStore
            from streams.errors import SinkError
            try:
                ChdbStore(sys.argv[1]); print("opened")
            except SinkError as e:
                print("SinkError:", e)
        """, str(d))
        assert f"SinkError: another yujing is using DATA_DIR {d.resolve()}" in out.stdout
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0


def test_closed_store_raises_sink_error(tmp_path):
    out = run_py("""
        from sinks.chdb_store import ChdbStore
        from streams.errors import SinkError
        with ChdbStore(sys.argv[1]) as s:
            s.flush()
        try:
            s.counts(); print("read")
        except SinkError as e:
            print("SinkError:", e)
    """, str(tmp_path / "a"))
    assert out.stdout.strip() == f"SinkError: chDB store at {(tmp_path / 'a').resolve()} is closed"


def test_one_folder_per_process_is_a_clear_error(tmp_path):
    out = run_py("""
        from sinks.chdb_store import ChdbStore
        from streams.errors import SinkError
        a = ChdbStore(sys.argv[1])
        try:
            ChdbStore(sys.argv[2]); print("opened")
        except SinkError as e:
            print("SinkError:", e)
    """, str(tmp_path / "a"), str(tmp_path / "b"))
    assert f"SinkError: cannot open chDB data folder {(tmp_path / 'b').resolve()}" in out.stdout
    assert "one per process" in out.stdout
