"""The ClickHouse schema of yujing (database ``yujing``): ONE definition, rendered per server.

Tables are declared once, in current ClickHouse types, as numbered forward migrations. ``render``
turns a step into DDL for a capability set (``Caps``): the embedded chDB and modern servers
(>= 20.8) get it as written; older servers (Debian's 18.16, common in government data centres)
get the portable form:

==============================================  ===============================================
modern                                          portable (< 20.8)
==============================================  ===============================================
``t DateTime64(3, 'Asia/Shanghai')``            ``t DateTime('Asia/Shanghai')`` + ``t_ms UInt16``
``LowCardinality(String)``                      ``String``
``DEFAULT now64(3)``                            ``DEFAULT now()`` (no ``_ms``: second precision)
``h DateTime64(0, 'Asia/Shanghai')``            ``h DateTime('Asia/Shanghai')`` (whole seconds)
``ADD COLUMN IF NOT EXISTS``                    ``ADD COLUMN`` after a look in system.columns
==============================================  ===============================================

DateTime + milliseconds was chosen over Int64 epoch millis so analysts' SQL on an old server
still reads times as times (``toDate(occurred_at)``, ``toHour``...); ``X_ms`` only matters to
order within one second. Both back ends fold ``X_ms`` back into ``X`` on read, so Python sees
the same aware Asia/Shanghai datetimes either way.

Each backend runs ``migrate`` at open and records each step in ``schema_version``. Every step is
idempotent (``IF NOT EXISTS`` or a guard) so a crash between a step and its version row is
harmless on re-run.

>>> [m.version for m in pending(0)] == list(range(1, LATEST + 1))
True
>>> pending(LATEST)
[]
>>> Caps.for_version("18.16.1").modern, Caps.for_version("24.8.4.13").modern
(False, True)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from .times import epoch_ms, epoch_ms_array, from_epoch_ms  # noqa: F401 -- re-exported

DB = "yujing"
TIME = "DateTime64(3, 'Asia/Shanghai')"
LEGACY_TIME = "DateTime('Asia/Shanghai')"
MS = "_ms"  # suffix of the milliseconds companion of a time column on portable servers

TABLES = ("records", "signals", "warnings", "feedback", "rejects")


@dataclass(frozen=True)
class Caps:
    """What the server can do. One cut (20.8 LTS has DateTime64, now64, non-experimental
    LowCardinality and ADD COLUMN IF NOT EXISTS) keeps the number of schema variants at two."""

    version: tuple[int, ...]
    modern: bool

    @classmethod
    def for_version(cls, version: str) -> "Caps":
        nums = tuple(int(x) for x in re.findall(r"\d+", version)[:3]) or (0,)
        return cls(nums, nums[:2] >= (20, 8))


MODERN = Caps((99,), True)  # chDB: the current engine in-process


@dataclass(frozen=True)
class Col:
    name: str
    type: str          # in modern ClickHouse types
    extra: str = ""    # DEFAULT / MATERIALIZED clause, modern form
    auto: bool = False  # filled by the server (stored_at, a hash key): inserts leave it out

    @property
    def is_time(self) -> bool:
        return self.type == TIME

    @property
    def written(self) -> bool:
        """Whether inserts supply it."""
        return not self.auto


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    engine: str

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Col
    after: str = ""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: tuple  # Table | AddColumn | str (raw SQL: must be idempotent and portable itself)


def _render_col(c: Col, caps: Caps) -> list[str]:
    if caps.modern:
        return [f"`{c.name}` {c.type} {c.extra}".rstrip()]
    typ = re.sub(r"LowCardinality\(([^()]+(?:\([^()]*\))?)\)", r"\1", c.type)
    typ = re.sub(r"DateTime64\(\d+, ('[^']*')\)", r"DateTime(\1)", typ)  # whole seconds anyway
    extra = c.extra.replace("now64(3)", "now()")
    if c.is_time:
        out = [f"`{c.name}` {LEGACY_TIME} {extra}".rstrip()]
        # server-filled times (stored_at) have no millisecond source on old servers: seconds
        return out + ([] if c.auto else [f"`{c.name}{MS}` UInt16"])
    return [f"`{c.name}` {typ} {extra}".rstrip()]


def render(step, caps: Caps, db: str = DB) -> list[str]:
    """DDL for one migration step. An ``AddColumn`` on a portable server renders to a plain
    ``ADD COLUMN`` per physical column; ``migrate`` skips the ones that already exist."""
    if isinstance(step, str):
        return [step.format(db=db)]
    if isinstance(step, Table):
        cols = ",\n    ".join(x for c in step.columns for x in _render_col(c, caps))
        return [f"CREATE TABLE IF NOT EXISTS {db}.{step.name} (\n    {cols}\n) ENGINE = {step.engine}"]
    out, after = [], step.after
    for phys in _render_col(step.column, caps):
        name = phys.split("`")[1]
        exists = " IF NOT EXISTS" if caps.modern else ""
        pos = f" AFTER `{after}`" if after else ""
        out.append(f"ALTER TABLE {db}.{step.table} ADD COLUMN{exists} {phys}{pos}")
        after = name
    return out


# ---- the schema --------------------------------------------------------------------------------

SCHEMA_VERSION = Table("schema_version", (
    Col("version", "UInt32"), Col("description", "String"),
    Col("applied_at", TIME, "DEFAULT now64(3)", auto=True),
), "ReplacingMergeTree ORDER BY version")

LC = "LowCardinality(String)"
S = "String"

# Engines. Ids are deterministic (the same record/signal/warning version always gets the same
# id), so ReplacingMergeTree keyed by id makes a replay after a crash a no-op once read with
# FINAL (or argMax / LIMIT 1 BY); the read side never relies on merges having happened.
# No PARTITION BY: ReplacingMergeTree only collapses rows within one partition, and a resent
# record with a corrected time must still replace the old row.
_V1 = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    # The one table where clear personal data is allowed: ``body`` is the whole record as JSON.
    Table("records", (
        Col("id", S), Col("kind", LC), Col("occurred_at", TIME), Col("region_code", S),
        Col("source", LC), Col("case_id", S, "DEFAULT ''"), Col("body", S),
        Col("stored_at", TIME, "DEFAULT now64(3)", auto=True),
    ), "ReplacingMergeTree ORDER BY id"),
    Table("signals", (
        Col("id", S), Col("detector", LC), Col("rule_id", LC), Col("rule_version", "UInt32"),
        Col("case_id", S), Col("record_id", S), Col("score", "Float64"), Col("reason", S),
        Col("evidence", S), Col("at", TIME),
    ), "ReplacingMergeTree ORDER BY id"),
    # Warnings: ONE table holding every version, ordered by (id, version). Chosen over a
    # ReplacingMergeTree(version) ORDER BY id + a separate history table because (a) one write
    # per version, no pair of tables to keep consistent, (b) the history is simply all rows of
    # an id, (c) the latest state is ``ORDER BY version DESC LIMIT 1 BY id`` which is correct
    # before any merge. Replacing (not plain) MergeTree so a replayed version is not doubled.
    Table("warnings", (
        Col("id", S), Col("version", "UInt32"), Col("case_id", S), Col("level", LC),
        Col("score", "Float64"), Col("region_code", S), Col("address", S),
        Col("dispute_kind", LC), Col("title", S), Col("explanation", S), Col("reasons", S),
        Col("record_ids", "Array(String)"), Col("state", LC), Col("first_at", TIME),
        Col("updated_at", TIME),
    ), "ReplacingMergeTree ORDER BY (id, version)"),
    Table("feedback", (
        Col("id", S), Col("occurred_at", TIME), Col("case_id", S), Col("warning_id", S),
        Col("record_id", S), Col("outcome", LC), Col("note", S), Col("by", S), Col("source", LC),
    ), "ReplacingMergeTree ORDER BY id"),
    # Dead letters. ``raw`` may hold a bad record's personal data: kept whole, nothing is lost.
    # A reject has no id of its own, so ``key`` (hash of where it came from and its bytes) lets
    # a replay of the same bad line collapse instead of inflating the reject counts.
    Table("rejects", (
        Col("reason", LC), Col("field", S), Col("detail", S), Col("raw", S), Col("source", LC),
        Col("line", "Nullable(Int64)"), Col("record_id", S), Col("at", TIME),
        Col("key", "UInt64", "MATERIALIZED cityHash64(source, ifNull(line, -1), raw)", auto=True),
    ), "ReplacingMergeTree ORDER BY (reason, key)"),
)

# v2: the closed loop's audit trail (engine/lifecycle.py). One row per act on a warning: who
# (an operator's account name, never a citizen's data), what, when (wall clock: this is the
# centre's work, not detection), the state moved from/to, the unit dispatched to, the outcome
# and a note (ID numbers and phones masked before they get here). ``id`` is deterministic
# (warning, version, action), so a retried write collapses.
_V2 = (
    Table("audit", (
        Col("id", S), Col("at", TIME), Col("warning_id", S), Col("case_id", S),
        Col("version", "UInt32"), Col("action", LC), Col("from_state", LC), Col("to_state", LC),
        Col("by", S), Col("unit", S), Col("outcome", LC), Col("note", S),
    ), "ReplacingMergeTree ORDER BY (warning_id, id)"),
)

# v3: dashboard rollups kept by materialized views, so the console and analysts read small
# tables instead of scanning warnings/signals. A view sees each INSERT block, replays included
# (a retried batch, a spool drained again after a crash), so the rollups hold uniqExact states
# of the deterministic ids, never plain counts: a replay adds nothing. Read them with
# ``uniqExactMerge(...)`` and GROUP BY (``DASHBOARD_READS``); they are right before any merge.
# Views write TO named tables (not implicit ``.inner`` ones, whose name differs between 18.16
# and Atomic databases), and the last two steps backfill what the tables held before v3 (the
# same uniq states: running them twice after a crash counts nothing twice).
_HOUR = "DateTime64(0, 'Asia/Shanghai')"  # DateTime on old servers; 64 so Arrow reads a time
_UNIQ = "AggregateFunction(uniqExact, String)"
_WARNINGS_HOURLY_SELECT = (
    "SELECT region_code, level, toStartOfHour(updated_at) AS hour, uniqExactState(id) AS warnings"
    " FROM {db}.warnings GROUP BY region_code, level, hour")
_RULE_HITS_DAILY_SELECT = (
    "SELECT toDate(at) AS day, rule_id, detector, uniqExactState(id) AS hits,"
    " uniqExactState(case_id) AS cases FROM {db}.signals GROUP BY day, rule_id, detector")
_V3 = (
    # warnings per region, level and hour: distinct warnings with a version at that level that
    # hour (an escalation counts once at each level it reached)
    Table("warnings_hourly", (
        Col("region_code", S), Col("level", LC), Col("hour", _HOUR), Col("warnings", _UNIQ),
    ), "AggregatingMergeTree() PARTITION BY toYYYYMM(hour) ORDER BY (region_code, level, hour)"),
    # rule hits per day (Asia/Shanghai days): distinct signals and distinct cases per rule
    Table("rule_hits_daily", (
        Col("day", "Date"), Col("rule_id", LC), Col("detector", LC), Col("hits", _UNIQ),
        Col("cases", _UNIQ),
    ), "AggregatingMergeTree() PARTITION BY toYYYYMM(day) ORDER BY (rule_id, detector, day)"),
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.warnings_hourly_mv TO {db}.warnings_hourly AS "
    + _WARNINGS_HOURLY_SELECT,
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.rule_hits_daily_mv TO {db}.rule_hits_daily AS "
    + _RULE_HITS_DAILY_SELECT,
    "INSERT INTO {db}.warnings_hourly (region_code, level, hour, warnings) "
    + _WARNINGS_HOURLY_SELECT,
    "INSERT INTO {db}.rule_hits_daily (day, rule_id, detector, hits, cases) "
    + _RULE_HITS_DAILY_SELECT,
)

# How the dashboards read the rollups (``{db}`` as in the migrations); narrower filters go in a
# WHERE on the rollup's own key columns.
DASHBOARD_READS = {
    "warnings_hourly": "SELECT region_code, level, hour, uniqExactMerge(warnings) AS warnings"
                       " FROM {db}.warnings_hourly GROUP BY region_code, level, hour"
                       " ORDER BY hour, region_code, level",
    "rule_hits_daily": "SELECT day, rule_id, detector, uniqExactMerge(hits) AS hits,"
                       " uniqExactMerge(cases) AS cases FROM {db}.rule_hits_daily"
                       " GROUP BY day, rule_id, detector ORDER BY day, rule_id, detector",
}

# v4: case merges (graph/linker.py): case ``gone`` merged into ``into`` at event time ``at``, and
# why (the linker's reason in Chinese, evidence kinds only: no names, phones or ID numbers). The
# warning page follows them both ways: the survivor's timeline takes the merged case's records,
# and the merged case's warning leads to the survivor. One row per merge, deterministic key.
_V4 = (
    Table("case_merges", (
        Col("gone", S), Col("into", S), Col("at", TIME), Col("why", S),
    ), "ReplacingMergeTree ORDER BY (gone, into)"),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, signals, warnings, feedback, rejects", _V1),
    Migration(2, "audit", _V2),
    Migration(3, "dashboard views: warnings per region, level and hour; rule hits per day", _V3),
    Migration(4, "case_merges", _V4),
)
LATEST = MIGRATIONS[-1].version
SCHEMA_VERSION_DDL = render(SCHEMA_VERSION, MODERN)[0]  # kept for callers of the old name


def pending(current: int, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations after ``current``, in the order they must run."""
    return [m for m in migrations if m.version > current]


def tables(migrations: Sequence[Migration] = MIGRATIONS) -> dict[str, Table]:
    """The tables as the migrations leave them (for insert and select column lists)."""
    out: dict[str, Table] = {}
    for m in migrations:
        for step in m.steps:
            if isinstance(step, Table):
                out[step.name] = step
            elif isinstance(step, AddColumn):
                t = out[step.table]
                cols = list(t.columns)
                at = next((i + 1 for i, c in enumerate(cols) if c.name == step.after), len(cols))
                cols.insert(at, step.column)
                out[step.table] = replace(t, columns=tuple(cols))
    return out


def physical(table: Table, caps: Caps, *, written_only: bool = False) -> list[str]:
    """The stored column names of ``table`` on a server with ``caps`` (``X_ms`` included)."""
    out = []
    for c in table.columns:
        if written_only and not c.written:
            continue
        if c.extra.startswith("MATERIALIZED"):
            continue  # not in SELECT * nor insertable
        out.append(c.name)
        if c.is_time and not caps.modern and not c.auto:
            out.append(c.name + MS)
    return out


def order_time(col: str, caps: Caps, desc: bool = False) -> str:
    """ORDER BY terms for a time column: ``t`` or, on portable servers, ``t, t_ms``."""
    d = " DESC" if desc else ""
    return f"{col}{d}" if caps.modern else f"{col}{d}, {col}{MS}{d}"


def sql_str(s: str) -> str:
    """A ClickHouse string literal (for our own constants: descriptions, names)."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def migrate(execute: Callable[[str], object], query: Callable[[str], list[dict]], caps: Caps,
            db: str = DB, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring ``db`` up to the last of ``migrations``; returns the version reached.

    ``execute`` runs one statement, ``query`` returns rows as dicts: each backend passes its own.
    """
    execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    execute(render(SCHEMA_VERSION, caps, db)[0])
    current = query(f"SELECT max(version) AS v FROM {db}.schema_version")[0]["v"] or 0
    for m in pending(current, migrations):
        for step in m.steps:
            have: set[str] = set()
            if isinstance(step, AddColumn) and not caps.modern:
                have = {r["name"] for r in query(
                    f"SELECT name FROM system.columns WHERE database = {sql_str(db)}"
                    f" AND table = {sql_str(step.table)}")}
            for stmt in render(step, caps, db):
                if have and stmt.split("ADD COLUMN ", 1)[1].split("`")[1] in have:
                    continue  # added before a crash cut this migration short
                execute(stmt)
        # INSERT ... SELECT, not VALUES: clickhouse-driver waits for a data block after VALUES
        execute(f"INSERT INTO {db}.schema_version (version, description) "
                f"SELECT {m.version:d}, {sql_str(m.description)}")
        current = m.version
    return current
