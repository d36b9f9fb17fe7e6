"""``ChdbStore``: the embedded store, ClickHouse in-process through chDB, under a data folder.

chDB limits that shape this class: only one process may open a data folder (a second fails,
reported here as a ``SinkError`` naming the folder), and a process can have only one folder
open at a time. Inserts go as Arrow tables through ``INSERT ... SELECT ... FROM Python(tbl)``,
the fastest path chDB offers (~1M rows/s, far above JSONEachRow).
"""
from __future__ import annotations

import fcntl
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
from chdb.session import Session

from streams.errors import SinkError

from . import schema
from .schema import DB
from .reads import StoreReads
from .store import (
    StoreBatch, audit_columns, merge_columns, feedback_columns, record_columns, reject_columns, signal_columns,
    warning_columns,
)

_TS = pa.timestamp("ms", tz="Asia/Shanghai")
_S = pa.string()

# Arrow types per table; column order is also the INSERT column list. ``records.body`` comes
# as UTF-8 bytes (``store._body``): binary skips Arrow's UTF-8 check, ClickHouse String is bytes.
ARROW_SCHEMAS: dict[str, pa.Schema] = {
    "records": pa.schema([("id", _S), ("kind", _S), ("occurred_at", _TS), ("region_code", _S),
                          ("source", _S), ("case_id", _S), ("body", pa.binary())]),
    "signals": pa.schema([("id", _S), ("detector", _S), ("rule_id", _S),
                          ("rule_version", pa.uint32()), ("case_id", _S), ("record_id", _S),
                          ("score", pa.float64()), ("reason", _S), ("evidence", _S), ("at", _TS)]),
    "warnings": pa.schema([("id", _S), ("version", pa.uint32()), ("case_id", _S), ("level", _S),
                           ("score", pa.float64()), ("region_code", _S), ("address", _S),
                           ("dispute_kind", _S), ("title", _S), ("explanation", _S),
                           ("reasons", _S), ("record_ids", pa.list_(_S)), ("state", _S),
                           ("first_at", _TS), ("updated_at", _TS)]),
    "feedback": pa.schema([("id", _S), ("occurred_at", _TS), ("case_id", _S), ("warning_id", _S),
                           ("record_id", _S), ("outcome", _S), ("note", _S), ("by", _S),
                           ("source", _S)]),
    "rejects": pa.schema([("reason", _S), ("field", _S), ("detail", _S), ("raw", _S),
                          ("source", _S), ("line", pa.int64()), ("record_id", _S),
                          ("at", _TS)]),
    "audit": pa.schema([("id", _S), ("at", _TS), ("warning_id", _S), ("case_id", _S),
                        ("version", pa.uint32()), ("action", _S), ("from_state", _S),
                        ("to_state", _S), ("by", _S), ("unit", _S), ("outcome", _S),
                        ("note", _S)]),
    "case_merges": pa.schema([("gone", _S), ("into", _S), ("at", _TS), ("why", _S)]),
}

def _epoch_ms(values: list[datetime]) -> pa.Array:
    # exact integer milliseconds (``schema.epoch_ms``: floored, not rounded, like the server
    # path); a naive time (Signal/Warning do not force awareness) is read as Asia/Shanghai
    if values and all(v.tzinfo is not None for v in values):
        return pa.array(schema.epoch_ms_array(values), pa.int64()).cast(_TS)
    return pa.array(schema.epoch_ms(values), pa.int64()).cast(_TS)


_WARNING_COLS = ", ".join(ARROW_SCHEMAS["warnings"].names)


def _locked_by_other(path: Path) -> bool:
    """Whether ClickHouse's ``status`` lock file in ``path`` is held (by another process)."""
    status = path / "status"
    if not status.exists():
        return False
    with open(status, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _array_literal(values: Sequence[str]) -> str:
    """A ClickHouse Array(String) literal: chDB's query parameters take arrays as text."""
    esc = (v.replace("\\", "\\\\").replace("'", "\\'") for v in values)
    return "[" + ",".join(f"'{v}'" for v in esc) + "]"


def open_session(path: Path) -> Session:
    """Open chDB at ``path``, turning its opaque start-up errors into a ``SinkError`` that says why."""
    try:
        return Session(str(path))
    except RuntimeError as exc:
        msg = str(exc)
        if "already initialized with path" in msg:
            raise SinkError(
                f"cannot open chDB data folder {path}: this process already has another chDB "
                f"folder open, and chDB allows one per process ({msg})") from None
        if _locked_by_other(path):
            raise SinkError(
                f"another yujing is using DATA_DIR {path} (chDB lets only one process open a data "
                f"folder): stop that process or choose another data folder") from None
        raise SinkError(f"cannot open chDB data folder {path}: {msg}") from None


class ChdbStore(StoreReads):
    """The ``Store`` protocol on chDB. Thread-safe: one lock guards the session."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir).expanduser().resolve()
        self.db, self.caps = DB, schema.MODERN  # as on ServerStore: what the schema was made for
        self._tables = schema.tables()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create chDB data folder {self.path}: {exc}") from None
        # the session is thread-safe inside, but the lock keeps a batch's inserts together and
        # makes close() safe against a write running in the asyncio thread pool
        self._lock = threading.RLock()
        self._session: Session | None = open_session(self.path)
        try:
            self.schema_version = self._migrate()
        except BaseException:
            self.close()  # do not keep the folder locked by a store nobody can use
            raise

    # ---- plumbing ------------------------------------------------------------------------------
    def _sess(self) -> Session:
        if self._session is None:
            raise SinkError(f"chDB store at {self.path} is closed")
        return self._session

    def _run(self, sql: str, params: dict | None = None) -> None:
        with self._lock:
            try:
                self._sess().query(sql, params=params)
            except RuntimeError as exc:
                raise SinkError(f"chDB at {self.path}: {exc}") from None

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of a read query as dicts (times come back aware, in Asia/Shanghai)."""
        with self._lock:
            try:
                res = self._sess().query(sql, "ArrowTable", params=params)
            except RuntimeError as exc:
                raise SinkError(f"chDB at {self.path}: {exc}") from None
        return res.to_pylist()

    _ids_param = staticmethod(lambda ids: _array_literal(ids))

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, ALTER)."""
        self._run(sql)

    def _migrate(self) -> int:
        # the migration logic is shared with the server backend; chDB is a current engine
        return schema.migrate(self._run, self.query, schema.MODERN)

    def _insert(self, table: str, columns: dict[str, list]) -> None:
        arrow = ARROW_SCHEMAS[table]
        arrays = [_epoch_ms(columns[f.name]) if f.type == _TS else pa.array(columns[f.name], f.type)
                  for f in arrow]
        tbl = pa.Table.from_arrays(arrays, schema=arrow)  # noqa: F841 -- Python(tbl) reads it
        names = ", ".join(f"`{n}`" for n in arrow.names)
        sql = f"INSERT INTO {DB}.{table} ({names}) SELECT {names} FROM Python(tbl)"
        with self._lock:
            try:
                # must be called from this frame: chDB finds ``tbl`` among the caller's locals
                self._sess().query(sql)
            except RuntimeError as exc:
                raise SinkError(f"chDB insert into {table} at {self.path}: {exc}") from None

    # ---- Store ---------------------------------------------------------------------------------
    def write(self, batch: StoreBatch) -> None:
        with self._lock:
            if batch.records:
                cols = record_columns(batch.records, batch.record_cases, batch.bodies)
                self._insert("records", cols)
                if "feedback" in cols["kind"]:
                    self._insert("feedback", feedback_columns(
                        [r for r in batch.records if r.kind == "feedback"]))
            if batch.signals:
                self._insert("signals", signal_columns(batch.signals))
            if batch.warnings:
                self._insert("warnings", warning_columns(batch.warnings))
            if batch.rejects:
                self._insert("rejects", reject_columns(batch.rejects))
            if batch.audit:
                self._insert("audit", audit_columns(batch.audit))
            if batch.merged:
                self._insert("case_merges", merge_columns(batch.merged))

    def flush(self) -> None:
        """Nothing to do: each chDB insert is written as a part before ``write`` returns."""

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self) -> "ChdbStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
