"""The ClickHouse schema of yujing (database ``yujing``), as numbered forward migrations.

Shared by the embedded chDB store and the ClickHouse server backend: each backend runs
``pending(current)`` in order and records each step in ``schema_version``. Every statement is
``IF NOT EXISTS`` so that a crash between a step and its version row is harmless on re-run.

>>> [m.version for m in pending(0)] == list(range(1, LATEST + 1))
True
>>> pending(LATEST)
[]
"""
from __future__ import annotations

from dataclasses import dataclass

DB = "yujing"
TIME = "DateTime64(3, 'Asia/Shanghai')"

TABLES = ("records", "signals", "warnings", "feedback", "rejects")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


SCHEMA_VERSION_DDL = f"""
CREATE TABLE IF NOT EXISTS {DB}.schema_version (
    version UInt32,
    description String,
    applied_at {TIME} DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version"""

# Engines. Ids are deterministic (the same record/signal/warning version always gets the same
# id), so ReplacingMergeTree keyed by id makes a replay after a crash a no-op once read with
# FINAL (or argMax / LIMIT 1 BY); the read side never relies on merges having happened.
# No PARTITION BY: ReplacingMergeTree only collapses rows within one partition, and a resent
# record with a corrected time must still replace the old row.
_V1 = (
    f"CREATE DATABASE IF NOT EXISTS {DB}",
    # The one table where clear personal data is allowed: ``body`` is the whole record as JSON.
    f"""CREATE TABLE IF NOT EXISTS {DB}.records (
        id String,
        kind LowCardinality(String),
        occurred_at {TIME},
        region_code String,
        source LowCardinality(String),
        case_id String DEFAULT '',
        body String,
        stored_at {TIME} DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree ORDER BY id""",
    f"""CREATE TABLE IF NOT EXISTS {DB}.signals (
        id String,
        detector LowCardinality(String),
        rule_id LowCardinality(String),
        rule_version UInt32,
        case_id String,
        record_id String,
        score Float64,
        reason String,
        evidence String,
        at {TIME}
    ) ENGINE = ReplacingMergeTree ORDER BY id""",
    # Warnings: ONE table holding every version, ordered by (id, version). Chosen over a
    # ReplacingMergeTree(version) ORDER BY id + a separate history table because (a) one write
    # per version, no pair of tables to keep consistent, (b) the history is simply all rows of
    # an id, (c) the latest state is ``ORDER BY version DESC LIMIT 1 BY id`` which is correct
    # before any merge. Replacing (not plain) MergeTree so a replayed version is not doubled.
    f"""CREATE TABLE IF NOT EXISTS {DB}.warnings (
        id String,
        version UInt32,
        case_id String,
        level LowCardinality(String),
        score Float64,
        region_code String,
        address String,
        dispute_kind LowCardinality(String),
        title String,
        explanation String,
        reasons String,
        record_ids Array(String),
        state LowCardinality(String),
        first_at {TIME},
        updated_at {TIME}
    ) ENGINE = ReplacingMergeTree ORDER BY (id, version)""",
    f"""CREATE TABLE IF NOT EXISTS {DB}.feedback (
        id String,
        occurred_at {TIME},
        case_id String,
        warning_id String,
        record_id String,
        outcome LowCardinality(String),
        note String,
        by String,
        source LowCardinality(String)
    ) ENGINE = ReplacingMergeTree ORDER BY id""",
    # Dead letters. ``raw`` may hold a bad record's personal data: kept whole, nothing is lost.
    # A reject has no id of its own, so ``key`` (hash of where it came from and its bytes) lets
    # a replay of the same bad line collapse instead of inflating the reject counts.
    f"""CREATE TABLE IF NOT EXISTS {DB}.rejects (
        reason LowCardinality(String),
        field String,
        detail String,
        raw String,
        source LowCardinality(String),
        line Nullable(Int64),
        record_id String,
        at {TIME},
        key UInt64 MATERIALIZED cityHash64(source, ifNull(line, -1), raw)
    ) ENGINE = ReplacingMergeTree ORDER BY (reason, key)""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, signals, warnings, feedback, rejects", _V1),
)
LATEST = MIGRATIONS[-1].version


def pending(current: int) -> list[Migration]:
    """The migrations after ``current``, in the order they must run."""
    return [m for m in MIGRATIONS if m.version > current]
