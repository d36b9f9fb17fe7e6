"""The dashboard rollups on both back ends: warnings per region, level and hour and rule hits
per day, kept by materialized views (schema migration 3) and read with ``DASHBOARD_READS``.

They must count each warning and each signal once whatever is replayed (views see every INSERT
block), bucket by Asia/Shanghai hours and days, and hold what a v2 store had before they came.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sinks import schema
from sinks.store import StoreBatch, signal_columns, warning_columns
from streams.records import TZ, Signal

from .test_store import prefix, warning


def dashboard(store, name: str, db: str | None = None) -> list[dict]:
    return store.query(schema.DASHBOARD_READS[name].format(db=db or store.db))


def late_evening(p: str, region: str) -> StoreBatch:
    """Warnings and signals either side of a local midnight (16:00 UTC): the rollups must
    bucket by Asia/Shanghai hours and days, not UTC ones."""
    at = datetime(2026, 5, 1, 23, 0, tzinfo=TZ)
    w = [warning(p, 1, wid=f"{p}w1", region=region, updated=at + timedelta(minutes=10)),
         warning(p, 2, wid=f"{p}w1", region=region, updated=at + timedelta(minutes=40)),
         warning(p, 1, wid=f"{p}w2", region=region, updated=at + timedelta(minutes=50)),
         warning(p, 1, wid=f"{p}w3", region=region, updated=at + timedelta(minutes=65))]

    def sig(n: int, rule: str, case: str, minutes: int) -> Signal:
        return Signal(id=f"{p}s{n}", detector="rules", rule_id=f"{p}{rule}", case_id=f"{p}{case}",
                      record_id=f"{p}r{n}", score=0.5, reason="同一纠纷反复报警",
                      at=at + timedelta(minutes=minutes))
    s = [sig(1, "R1", "c1", 59), sig(2, "R1", "c1", 61), sig(3, "R1", "c2", 90),
         sig(4, "R2", "c1", 30)]
    return StoreBatch(signals=s, warnings=w)


def rollups(store, p: str, region: str, db: str | None = None) -> tuple[dict, dict]:
    hourly = {(r["level"], r["hour"].astimezone(TZ).strftime("%m-%d %H")): r["warnings"]
              for r in dashboard(store, "warnings_hourly", db) if r["region_code"] == region}
    daily = {(r["rule_id"][len(p):], str(r["day"])): (r["hits"], r["cases"])
             for r in dashboard(store, "rule_hits_daily", db) if r["rule_id"].startswith(p)}
    return hourly, daily


WANT_HOURLY = {("blue", "05-01 23"): 2, ("yellow", "05-01 23"): 1, ("blue", "05-02 00"): 1}
WANT_DAILY = {("R1", "2026-05-01"): (1, 1), ("R1", "2026-05-02"): (2, 2),
              ("R2", "2026-05-01"): (1, 1)}


def test_dashboard_views_count_each_warning_and_hit_once(store):
    """Warnings per region, level and local hour and rule hits per local day are kept by
    materialized views and read back; a replayed batch (a retry, a spool drained twice) and a
    resent single warning count nothing twice."""
    p, region = prefix(), f"62{uuid.uuid4().int % 10**10:010d}"
    batch = late_evening(p, region)
    store.write(batch)
    store.write(batch)  # the replay
    store.write(StoreBatch(warnings=batch.warnings[2:3], signals=batch.signals[:1]))
    assert rollups(store, p, region) == (WANT_HOURLY, WANT_DAILY)


def test_dashboard_views_backfill_what_v2_held(store, fresh_db):
    """A store at v2 already holds warnings and signals: migrating to v3 fills the rollups
    with them, and running v3's steps again (a crash before its version row) adds nothing."""
    run, caps = store.execute, store.caps
    v2, v3 = schema.MIGRATIONS[:2], schema.MIGRATIONS[:3]
    assert schema.migrate(run, store.query, caps, fresh_db, v2) == 2
    p, region = prefix(), "620102003099"
    batch = late_evening(p, region)
    for table, cols in (("warnings", warning_columns(batch.warnings)),
                        ("signals", signal_columns(batch.signals))):
        for i in range(len(cols["id"])):  # plain SQL inserts, as any v2 writer left them
            run(f"INSERT INTO {fresh_db}.{table} " + insert_select(caps, {k: v[i] for k, v in cols.items()}))
    assert schema.migrate(run, store.query, caps, fresh_db, v3) == 3
    assert rollups(store, p, region, fresh_db) == (WANT_HOURLY, WANT_DAILY)
    for step in v3[2].steps:  # the crash: every step again
        for stmt in schema.render(step, caps, fresh_db):
            run(stmt)
    assert rollups(store, p, region, fresh_db) == (WANT_HOURLY, WANT_DAILY)
    run(f"DROP DATABASE {fresh_db}")


def insert_select(caps: schema.Caps, row: dict) -> str:
    """``(cols) SELECT values`` for one row, times split into ``X`` + ``X_ms`` on old servers."""
    names, values = [], []
    for k, v in row.items():
        if isinstance(v, datetime):
            ms = schema.epoch_ms([v])[0]
            if caps.modern:
                names.append(k), values.append(f"toDateTime64({ms / 1000:.3f}, 3, 'Asia/Shanghai')")
            else:
                names += [k, k + schema.MS]
                values += [f"toDateTime({ms // 1000}, 'Asia/Shanghai')", str(ms % 1000)]
        elif isinstance(v, list):
            names.append(k), values.append("[" + ", ".join(schema.sql_str(x) for x in v) + "]")
        elif isinstance(v, str):
            names.append(k), values.append(schema.sql_str(v))
        else:
            names.append(k), values.append(repr(v))
    return f"({', '.join(names)}) SELECT {', '.join(values)}"
