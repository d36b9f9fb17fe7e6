"""``ServerStore``: the ``Store`` protocol on a ClickHouse server, through clickhouse-driver.

Same tables, same reads and the same Python values as ``ChdbStore``. At open it reads
``SELECT version()`` and renders the one schema (``sinks.schema``) for that server: DateTime64,
LowCardinality... on >= 20.8; DateTime + ``X_ms`` UInt16 on older ones such as Debian's 18.16,
folded back into one aware Asia/Shanghai datetime on read.

Writes go through ``writer.Delivery``: retries with backoff on connection errors, then the
on-disk spool (``spool_dir``), drained in order by a background thread when the server returns.
``write`` raises ``SinkUnavailable`` only when the server is down and the spool is full (or
there is no spool): the caller waits, nothing is dropped. A crash mid-drain replays the entry
being drained; the ReplacingMergeTree tables and FINAL / LIMIT 1 BY reads make that a no-op.

Reads go straight to the server: a batch still in the spool shows once drained. The
constructor needs the server up (it migrates the schema): it raises ``SinkUnavailable``
otherwise, and the caller retries; a spool left by an earlier run starts draining at once.
"""
from __future__ import annotations

import functools
import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote, urlparse

from clickhouse_driver import Client, errors

from streams.errors import SinkError, SinkUnavailable
from streams.records import TZ

from . import schema
from .reads import StoreReads
from .spool import DEFAULT_MAX_BYTES, Spool
from .store import (
    StoreBatch, audit_columns, merge_columns, feedback_columns, record_columns, reject_columns, signal_columns,
    warning_columns,
)
from .writer import Block, Delivery

# server error codes that mean "busy or going away, try again", not "your data is wrong"
_TRANSIENT_CODES = {159, 202, 209, 210, 252, 425}  # timeout, too many queries/parts, network
_TRANSIENT = (errors.NetworkError, errors.SocketTimeoutError, errors.UnexpectedPacketFromServerError,
              EOFError, OSError)
_PARAM = re.compile(r"\{(\w+):[^{}]+\}")


@functools.cache
def _time_columns() -> dict[str, tuple[str, ...]]:
    return {name: tuple(c.name for c in t.columns if c.is_time)
            for name, t in schema.tables().items()}


def block_of(batch: StoreBatch) -> Block:
    """A batch as per-table columns with times as epoch millis: JSON-able (record bodies as
    UTF-8 bytes, see ``writer.encode_block``), so it can be spooled, and cheap to insert (the
    driver takes integer times without any timezone work)."""
    times = _time_columns()
    out: Block = {}

    def add(name: str, cols: dict[str, list]) -> None:
        for c in times[name]:
            if c in cols:
                cols[c] = schema.epoch_ms(cols[c])
        out[name] = cols

    if batch.records:
        cols = record_columns(batch.records, batch.record_cases, batch.bodies)
        add("records", cols)
        if "feedback" in cols["kind"]:
            add("feedback", feedback_columns([r for r in batch.records if r.kind == "feedback"]))
    if batch.signals:
        add("signals", signal_columns(batch.signals))
    if batch.warnings:
        add("warnings", warning_columns(batch.warnings))
    if batch.rejects:
        add("rejects", reject_columns(batch.rejects))
    if batch.audit:
        add("audit", audit_columns(batch.audit))
    if batch.merged:
        add("case_merges", merge_columns(batch.merged))
    return out


def _to_ms_precision(v: datetime) -> datetime:
    # DateTime64 comes back through a float: snap to the millisecond it was stored as
    us = v.microsecond
    snapped = v.replace(microsecond=0) + timedelta(milliseconds=round(us / 1000))
    return snapped.astimezone(TZ)


class ServerStore(StoreReads):
    """The ``Store`` protocol on a ClickHouse server. Thread-safe: one lock guards the client.

    ``ServerStore("clickhouse://user:password@host:9000/yujing", spool_dir="data/spool")`` or
    ``ServerStore(host=..., port=..., database=...)``.
    """

    def __init__(self, url: str | None = None, *, host: str = "127.0.0.1", port: int = 9000,
                 database: str = schema.DB, user: str = "default", password: str = "",
                 spool_dir: str | Path | None = None, spool_max_bytes: int = DEFAULT_MAX_BYTES,
                 retries: int = 4, connect_timeout: float = 2.0, timeout: float = 60.0,
                 migrations: Sequence[schema.Migration] = schema.MIGRATIONS):
        if url:
            u = urlparse(url)
            if u.scheme not in ("clickhouse", "tcp"):
                raise SinkError(f"ClickHouse URL must be clickhouse://host:port/database, not {url!r}")
            host, port = u.hostname or host, u.port or port
            database = u.path.strip("/") or database
            user, password = unquote(u.username or user), unquote(u.password or password)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise SinkError(f"bad ClickHouse database name {database!r}")
        self.host, self.port, self.db = host, port, database
        self.where = f"ClickHouse at {host}:{port}"
        self._lock = threading.RLock()
        # database "default": ours may not exist yet; every statement names it in full
        self._client = Client(host=host, port=port, user=user, password=password,
                              database="default", connect_timeout=connect_timeout,
                              send_receive_timeout=timeout, sync_request_timeout=connect_timeout)
        self._closed = False
        self.server_version = self._scalar("SELECT version()")
        self.caps = schema.Caps.for_version(self.server_version)
        self._tables = schema.tables(migrations)
        self._plans: dict[str, tuple[str, tuple[tuple[str, bool], ...]]] = {}
        self.schema_version = schema.migrate(self.execute, self.query, self.caps, self.db, migrations)
        spool = Spool(spool_dir, max_bytes=spool_max_bytes) if spool_dir else None
        self._delivery = Delivery(self._insert_block, spool, retries=retries, name=self.where)

    # ---- plumbing ------------------------------------------------------------------------------
    def _call(self, sql: str, params: Any = None, **kw: Any) -> Any:
        with self._lock:
            if self._closed:
                raise SinkError(f"{self.where} store is closed")
            try:
                return self._client.execute(sql, params, **kw)
            except errors.ServerException as exc:
                if exc.code in _TRANSIENT_CODES:
                    raise SinkUnavailable(f"{self.where}: {exc.message}") from None
                raise SinkError(f"{self.where}: {exc.message}") from None
            except _TRANSIENT as exc:
                self._client.disconnect()  # a fresh connection next time
                raise SinkUnavailable(f"{self.where} unreachable: {exc}") from None

    def _scalar(self, sql: str) -> Any:
        return self._call(sql)[0][0]

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, ALTER)."""
        self._call(sql)

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of a read query as dicts, like ``ChdbStore.query``: ``{name:Type}`` parameters,
        times aware in Asia/Shanghai (``X`` + ``X_ms`` folded into ``X`` on old servers)."""
        if params:
            # the driver substitutes client side with %-formatting: works on every server version
            sql = _PARAM.sub(lambda m: f"%({m.group(1)})s", sql.replace("%", "%%"))
            params = {k: tuple(v) if isinstance(v, (set, frozenset)) else v for k, v in params.items()}
        rows, types = self._call(sql, params or None, with_column_types=True)
        names = [n for n, _ in types]
        times = [i for i, (_, t) in enumerate(types) if t.startswith(("DateTime", "Nullable(DateTime"))]
        fold = [] if self.caps.modern else [
            (names.index(n[:-len(schema.MS)]), i) for i, n in enumerate(names)
            if n.endswith(schema.MS) and n[:-len(schema.MS)] in names]
        drop = {i for _, i in fold}
        out = []
        for row in rows:
            row = list(row)
            for i in times:
                if row[i] is not None:
                    row[i] = _to_ms_precision(row[i])
            for t, m in fold:
                if row[t] is not None:
                    row[t] = row[t] + timedelta(milliseconds=row[m])
            out.append({n: (list(v) if isinstance(v, tuple) else v)
                        for i, (n, v) in enumerate(zip(names, row)) if i not in drop})
        return out

    def _insert_block(self, block: Block) -> None:
        for table, cols in block.items():
            self._insert(table, cols)

    def _insert_plan(self, table: str) -> tuple[str, tuple[tuple[str, bool], ...]]:
        """The INSERT statement of ``table`` and, per written column, whether it is a time to
        split into seconds + ``_ms`` (old servers); made once per table."""
        plan = self._plans.get(table)
        if plan is None:
            cols = tuple((c.name, c.is_time and not self.caps.modern)
                         for c in self._tables[table].columns if c.written)
            names = [x for n, split in cols for x in ((n, n + schema.MS) if split else (n,))]
            sql = f"INSERT INTO {self.db}.{table} ({', '.join(f'`{n}`' for n in names)}) VALUES"
            plan = self._plans[table] = (sql, cols)
        return plan

    def _insert(self, table: str, cols: dict[str, list]) -> None:
        sql, plan = self._insert_plan(table)
        data: list[list] = []
        for name, split in plan:
            values = cols[name]
            if split:
                data += [[v // 1000 for v in values], [v % 1000 for v in values]]
            else:
                data.append(values)  # ints for DateTime64(3): epoch millis, as the driver takes
        self._call(sql, data, columnar=True, types_check=False)

    @staticmethod
    def _ids_param(ids: Sequence[str]) -> tuple:
        return tuple(ids)  # the driver renders a tuple as ('a', 'b'): IN works on 18.16 too

    # ---- Store ---------------------------------------------------------------------------------
    def write(self, batch: StoreBatch) -> None:
        if self._closed:
            raise SinkError(f"{self.where} store is closed")
        if len(batch):
            self._delivery.put(block_of(batch))

    def flush(self) -> None:
        """Deliver whatever waits in the spool; ``SinkUnavailable`` if the server stays down."""
        self._delivery.flush()

    @property
    def spooled(self) -> int:
        """Batches waiting in the spool."""
        return len(self._delivery.spool) if self._delivery.spool is not None else 0

    def close(self) -> None:
        if self._closed:
            return
        self._delivery.close()  # spooled batches stay on disk and drain at the next open
        with self._lock:
            self._closed = True
            self._client.disconnect()

    def __enter__(self) -> "ServerStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
