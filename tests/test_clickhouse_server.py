"""``ServerStore`` against a real ClickHouse server that goes away (SIGKILL mid-run, the spool,
back-pressure), what chDB does not have (URLs, parameters, a down server), and, on both back
ends, the schema each server gets, its migrations and the analysts' queries.

The shared suite (every table, idempotence, versions) is test_store.py. Tests that kill the
server use a server of their own (``own_clickhouse_server``).
"""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta

import pytest

from sinks import schema
from sinks.chdb_store import ChdbStore
from sinks.clickhouse_server import ServerStore
from sinks.spool import SpoolFull
from sinks.store import StoreBatch
from streams.errors import SinkError, SinkUnavailable
from streams.records import TZ, Feedback, GridEvent

from .test_store import ROOT, T0, full_batch, place, prefix, q, signal, warning


def events(start: int, n: int, tag: str = "k") -> list[GridEvent]:
    return [GridEvent(id=f"{tag}{i}", occurred_at=T0 + timedelta(seconds=i), place=place(i),
                      grid_id="G-1", text=f"第{i}次报警") for i in range(start, start + n)]


def exactly_once(store: ServerStore, tag: str) -> tuple[int, int, int]:
    """(distinct ids as read with FINAL, rows read with FINAL, ids read more than once)."""
    r = store.query(f"SELECT uniqExact(id) AS u, count() AS n FROM {store.db}.records FINAL"
                    f" WHERE startsWith(id, {{t:String}})", {"t": tag})[0]
    dup = store.query(f"SELECT id FROM {store.db}.records FINAL WHERE startsWith(id, {{t:String}})"
                      f" GROUP BY id HAVING count() > 1", {"t": tag})
    return r["u"], r["n"], len(dup)


def test_sigkill_mid_run_every_row_once(own_clickhouse_server, tmp_path):
    srv = own_clickhouse_server
    store = ServerStore(srv.url(), spool_dir=tmp_path / "spool", retries=2)
    n_batches, size = 120, 50
    acked: list[int] = []
    errors: list[BaseException] = []

    def writer():
        try:
            for b in range(n_batches):
                batch = StoreBatch(records=events(b * size, size))
                while True:
                    try:
                        store.write(batch)
                        break
                    except SinkUnavailable:  # spool full: the caller waits, as the runner does
                        time.sleep(0.05)
                acked.append(b)
                time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    for after in (20, 60):  # two crashes while the loop writes
        while len(acked) < after and t.is_alive():
            time.sleep(0.01)
        srv.kill()
        time.sleep(0.3)  # down for a while: writes go to the spool
        srv.start()
    t.join(timeout=120)
    assert not t.is_alive() and errors == []
    store.flush()  # whatever is still spooled goes in now
    assert store.spooled == 0
    assert store._delivery.spooled > 0  # the kills did hit the loop: batches went via the spool
    assert exactly_once(store, "k") == (n_batches * size, n_batches * size, 0)
    got = store.get_records([f"k{i}" for i in (0, 2999, n_batches * size - 1)])
    assert [r["body"]["text"] for r in got] == ["第0次报警", "第2999次报警", f"第{n_batches * size - 1}次报警"]
    store.close()


def test_full_spool_is_back_pressure_not_loss(own_clickhouse_server, tmp_path):
    srv = own_clickhouse_server
    store = ServerStore(srv.url(), spool_dir=tmp_path / "spool", spool_max_bytes=20_000,
                        retries=1)
    srv.kill()
    acked, refused = [], []
    for b in range(40):
        try:
            store.write(StoreBatch(records=events(b * 20, 20, "p")))
            acked.append(b)
        except SpoolFull:
            refused.append(b)
    assert acked and refused, (acked, refused)  # both happened
    assert acked == list(range(len(acked)))  # once full, every later write is refused
    assert (tmp_path / "spool").exists() and store.spooled == len(acked)
    srv.start()
    store.flush()
    for b in refused:  # the caller retries what it kept
        store.write(StoreBatch(records=events(b * 20, 20, "p")))
    assert exactly_once(store, "p") == (800, 800, 0)
    store.close()


def test_spool_left_by_a_closed_store_drains_at_the_next_open(own_clickhouse_server, tmp_path):
    srv = own_clickhouse_server
    store = ServerStore(srv.url(), spool_dir=tmp_path / "spool", retries=1)
    srv.kill()
    store.write(StoreBatch(records=events(0, 10, "z")))
    store.close()  # the engine stops while the server is down: the batch stays on disk
    assert list((tmp_path / "spool").glob("seg-*.spool"))
    srv.start()
    again = ServerStore(srv.url(), spool_dir=tmp_path / "spool")
    deadline = time.monotonic() + 10
    while again.spooled and time.monotonic() < deadline:  # the drainer thread, no write needed
        time.sleep(0.02)
    assert exactly_once(again, "z") == (10, 10, 0)
    assert not list((tmp_path / "spool").glob("seg-*.spool"))
    # the bodies went to disk as bytes-turned-JSON and came back as the records, Chinese intact
    sent = {r.id: r for r in events(0, 10, "z")}
    got = again.get_records(list(sent))
    assert {r["id"]: GridEvent.model_validate(r["body"]) for r in got} == sent
    again.close()


def test_down_server_without_spool_raises_sink_unavailable(own_clickhouse_server):
    srv = own_clickhouse_server
    store = ServerStore(srv.url(), retries=3)
    srv.kill()
    t = time.perf_counter()
    with pytest.raises(SinkUnavailable, match="down after 3 tries"):
        store.write(StoreBatch(records=events(0, 1)))
    assert time.perf_counter() - t < 5
    with pytest.raises(SinkUnavailable):
        store.counts()
    srv.start()
    store.write(StoreBatch(records=events(0, 1)))  # the same store reconnects
    assert store.counts()["records"] == 1
    store.close()


def test_open_with_server_down_is_sink_unavailable(tmp_path):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SinkUnavailable, match=f"127.0.0.1:{port}"):
        ServerStore(f"clickhouse://127.0.0.1:{port}/yujing")


def test_url_and_constructor_forms(clickhouse_server, fresh_db):
    a = ServerStore(f"clickhouse://default:@127.0.0.1:{clickhouse_server.tcp_port}/{fresh_db}")
    assert (a.host, a.port, a.db, a.schema_version) == ("127.0.0.1", clickhouse_server.tcp_port, fresh_db, schema.LATEST)
    a.close()
    b = ServerStore(port=clickhouse_server.tcp_port, database=fresh_db)
    assert b.counts() == {"records": 0, "signals": 0, "warnings": 0, "feedback": 0, "rejects": 0}
    b.close()
    with pytest.raises(SinkError, match="store is closed"):
        b.write(StoreBatch(records=events(0, 1)))
    with pytest.raises(SinkError, match="must be clickhouse://"):
        ServerStore("http://127.0.0.1:8123/yujing")
    with pytest.raises(SinkError, match="bad ClickHouse database name"):
        ServerStore(port=clickhouse_server.tcp_port, database="x; DROP")


def test_query_parameters_are_escaped(clickhouse_server, fresh_db):
    s = ServerStore(clickhouse_server.url(fresh_db))
    s.write(StoreBatch(records=events(0, 3, "q'%")))
    rows = s.query(f"SELECT id FROM {fresh_db}.records WHERE id LIKE '%%' AND startsWith(id, {{p:String}})"
                   f" AND occurred_at >= {{t:DateTime}} ORDER BY id", {"p": "q'%", "t": T0})
    assert [r["id"] for r in rows] == ["q'%0", "q'%1", "q'%2"]
    assert s.query(f"SELECT count() AS n FROM {fresh_db}.records WHERE id LIKE '%1'") == [{"n": 1}]
    assert s.get_records([]) == []
    s.close()


def test_server_refusing_data_is_a_sink_error_not_a_retry(clickhouse_server, fresh_db, tmp_path):
    s = ServerStore(clickhouse_server.url(fresh_db), spool_dir=tmp_path / "spool")
    s.execute(f"DROP TABLE {fresh_db}.signals")  # data the server cannot take
    with pytest.raises(SinkError) as err:
        s.write(StoreBatch(signals=[signal("x", 1)]))
    assert not isinstance(err.value, SinkUnavailable) and s.spooled == 0
    s.close()


# ---- the schema on both back ends -----------------------------------------------------------

# What each back end must have created, written out here rather than derived from sinks.schema
EXPECTED_TYPES = {
    True: {("records", "occurred_at"): "DateTime64(3, 'Asia/Shanghai')",
           ("records", "kind"): "LowCardinality(String)",
           ("records", "stored_at"): "DateTime64(3, 'Asia/Shanghai')",
           ("warnings", "updated_at"): "DateTime64(3, 'Asia/Shanghai')",
           ("warnings", "record_ids"): "Array(String)",
           ("rejects", "line"): "Nullable(Int64)",
           ("case_merges", "at"): "DateTime64(3, 'Asia/Shanghai')"},
    False: {("records", "occurred_at"): "DateTime('Asia/Shanghai')",
            ("records", "occurred_at_ms"): "UInt16",
            ("records", "kind"): "String",
            ("records", "stored_at"): "DateTime('Asia/Shanghai')",
            ("warnings", "updated_at"): "DateTime('Asia/Shanghai')",
            ("warnings", "updated_at_ms"): "UInt16",
            ("warnings", "record_ids"): "Array(String)",
            ("rejects", "line"): "Nullable(Int64)",
            ("case_merges", "at"): "DateTime('Asia/Shanghai')",
            ("case_merges", "at_ms"): "UInt16"},
}


def test_server_version_picks_the_ddl(store):
    """chDB is a current engine; the test server is Debian's 18.16: version() must pick the
    portable types there. The types are read back from system.columns."""
    version = q(store, "SELECT version() AS v")[0]["v"]
    if isinstance(store, ServerStore):
        assert store.server_version == version and version.startswith("18.16.")
    expect_modern = isinstance(store, ChdbStore)
    assert store.caps.modern is expect_modern
    db = store.db
    cols = q(store, "SELECT table, name, type FROM system.columns WHERE database = {d:String}",
             {"d": db})
    got = {(c["table"], c["name"]): c["type"].replace("\\'", "'") for c in cols}
    want = EXPECTED_TYPES[expect_modern]
    assert {k: got.get(k) for k in want} == want
    assert ("records", "stored_at_ms") not in got and ("records", "key") not in got
    assert ("rejects", "key") in got  # materialized hash of a reject's origin
    assert {t for t, _ in got} == {"records", "signals", "warnings", "feedback", "rejects",
                                   "audit", "case_merges", "schema_version", "warnings_hourly",
                                   "warnings_hourly_mv", "rule_hits_daily", "rule_hits_daily_mv"}
    assert got[("warnings_hourly", "warnings")] == "AggregateFunction(uniqExact, String)"
    engines = {r["name"]: r["engine"] for r in q(
        store, "SELECT name, engine FROM system.tables WHERE database = {d:String}", {"d": db})}
    assert engines["warnings_hourly_mv"] == engines["rule_hits_daily_mv"] == "MaterializedView"
    assert engines["warnings_hourly"] == engines["rule_hits_daily"] == "AggregatingMergeTree"


def test_schema_version_table(store):
    rows = q(store, "SELECT version, description, applied_at FROM yujing.schema_version FINAL")
    assert sorted((r["version"], r["description"]) for r in rows) == \
        [(1, "records, signals, warnings, feedback, rejects"), (2, "audit"),
         (3, "dashboard views: warnings per region, level and hour; rule hits per day"),
         (4, "case_merges")]
    age = datetime.now(TZ) - rows[0]["applied_at"]
    assert timedelta(0) <= age < timedelta(hours=1)


V2 = schema.Migration(schema.LATEST + 1, "records.channel, warnings.acked_at", (
    schema.AddColumn("records", schema.Col("channel", "LowCardinality(String)", "DEFAULT ''"), "source"),
    schema.AddColumn("warnings", schema.Col("acked_at", schema.TIME)),
))


def test_forward_migration(store, fresh_db):
    """v1 with data in it, then v2 adds columns: the data stays and each step runs once, even
    when a crash had cut v2 short after its first ALTER (no version row written)."""
    run, caps = store.execute, store.caps
    assert schema.migrate(run, store.query, caps, fresh_db, schema.MIGRATIONS) == schema.LATEST
    ms = ("", "") if caps.modern else (", occurred_at_ms", ", 5")
    run(f"INSERT INTO {fresh_db}.records (id, kind, region_code, source, body, occurred_at{ms[0]})"
        f" SELECT 'r1', 'call', '', 'x', '{{}}', toDateTime('2026-05-01 09:30:00', 'Asia/Shanghai'){ms[1]}")
    for stmt in schema.render(V2.steps[0], caps, fresh_db):  # the crash: step 1 done, no row
        run(stmt)
    assert schema.migrate(run, store.query, caps, fresh_db, schema.MIGRATIONS + (V2,)) == schema.LATEST + 1
    assert schema.migrate(run, store.query, caps, fresh_db, schema.MIGRATIONS + (V2,)) == schema.LATEST + 1
    versions = store.query(f"SELECT version FROM {fresh_db}.schema_version ORDER BY version")
    assert [r["version"] for r in versions] == list(range(1, schema.LATEST + 2))
    cols = [r["name"] for r in store.query(
        f"SELECT name FROM system.columns WHERE database = '{fresh_db}' AND table = 'records'")]
    assert cols[cols.index("source") + 1] == "channel"
    wcols = {r["name"] for r in store.query(
        f"SELECT name FROM system.columns WHERE database = '{fresh_db}' AND table = 'warnings'")}
    assert "acked_at" in wcols and (("acked_at_ms" in wcols) is not caps.modern)
    rows = store.query(f"SELECT id, channel, occurred_at FROM {fresh_db}.records")
    assert [(r["id"], r["channel"], r["occurred_at"].hour) for r in rows] == [("r1", "", 9)]
    run(f"DROP DATABASE {fresh_db}")


# ---- the analysts' queries (docs/analyst-queries.md), on both back ends ---------------------

def doc_queries() -> list[str]:
    text = (ROOT / "docs" / "analyst-queries.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def test_analyst_queries_run_on_both_back_ends(store):
    """Every query of the analysts' page runs here and finds the rows it is about."""
    p = prefix()
    batch = full_batch(p)
    crim = Feedback(id=f"{p}f2", occurred_at=T0 + timedelta(hours=30), case_id=f"{p}case",
                    outcome="escalated_criminal", by="u1")
    batch.records.append(crim)
    batch.warnings.append(warning(p, 3))
    store.write(batch)
    queries = doc_queries()
    assert len(queries) >= 12
    results = []
    for sql in queries:
        sql = sql.replace("W-620102003011-0001", f"{p}w").replace("C-620102003011-0001", f"{p}case")
        rows = q(store, sql)
        assert rows, sql  # each query is about data this batch has
        results.append(rows)
    history = next(r for r in results if "explanation" in r[0])
    assert [(r["version"], r["level"]) for r in history] == [(1, "blue"), (2, "yellow"), (3, "orange")]
    lead = next(r for r in results if "lead_hours" in r[0])
    assert {x["case_id"]: x["lead_hours"] for x in lead}[f"{p}case"] == 30.0  # first_at T0 → +30 h
    by_case = next(r for r in results if r[0].keys() == {"occurred_at", "kind", "source", "id", "region_code"})
    assert [x["id"] for x in by_case] == [f"{p}g", f"{p}c", f"{p}f", f"{p}f2"]  # event order
