"""The store's read queries, once for both back ends (chDB and a ClickHouse server).

A host class provides ``query(sql, params)`` (``{name:Type}`` parameters, rows as dicts with
aware times), ``db``, ``caps`` (what the server supports), ``_tables`` (``schema.tables()``) and
``_ids_param(ids)`` (how its driver wants a list for ``IN {ids:Array(String)}``).  Reads use
``FINAL`` or ``LIMIT 1 BY`` so they are right before any background merge.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from . import schema
from .store import signal_row, warning_row


class StoreReads:
    db: str
    caps: schema.Caps
    _tables: dict[str, schema.Table]

    def query(self, sql: str, params: dict | None = None) -> list[dict]:  # pragma: no cover
        raise NotImplementedError

    def _ids_param(self, ids: Sequence[str]) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _cols(self, table: str) -> str:
        return ", ".join(schema.physical(self._tables[table], self.caps))

    def latest_warnings(self, limit: int = 200, region_prefix: str = "") -> list[dict]:
        # LIMIT 1 BY after ORDER BY version DESC picks the newest version even before merges;
        # the region filter runs on that latest version, not on any older one
        cols = self._cols("warnings")
        rows = self.query(
            f"SELECT {cols} FROM ("
            f" SELECT {cols} FROM {self.db}.warnings ORDER BY id, version DESC LIMIT 1 BY id)"
            f" WHERE startsWith(region_code, {{p:String}})"
            f" ORDER BY {schema.order_time('updated_at', self.caps, desc=True)}, id"
            f" LIMIT {{n:UInt32}}", {"p": region_prefix, "n": max(0, int(limit))})
        return [warning_row(r) for r in rows]

    def warning_history(self, warning_id: str) -> list[dict]:
        rows = self.query(f"SELECT {self._cols('warnings')} FROM {self.db}.warnings FINAL"
                          f" WHERE id = {{w:String}} ORDER BY version", {"w": warning_id})
        return [warning_row(r) for r in rows]

    def signals_of_case(self, case_id: str) -> list[dict]:
        rows = self.query(f"SELECT {self._cols('signals')} FROM {self.db}.signals FINAL"
                          f" WHERE case_id = {{c:String}}"
                          f" ORDER BY {schema.order_time('at', self.caps)}, id", {"c": case_id})
        return [signal_row(r) for r in rows]

    def get_records(self, ids: Sequence[str]) -> list[dict]:
        if not ids:
            return []
        cols = [c for c in schema.physical(self._tables["records"], self.caps) if c != "stored_at"]
        rows = self.query(f"SELECT {', '.join(cols)} FROM {self.db}.records FINAL"
                          f" WHERE id IN {{ids:Array(String)}}"
                          f" ORDER BY {schema.order_time('occurred_at', self.caps)}, id",
                          {"ids": self._ids_param(ids)})
        for r in rows:
            r["body"] = json.loads(r["body"])
        return rows

    def audit_of(self, warning_id: str) -> list[dict]:
        return self.query(f"SELECT {self._cols('audit')} FROM {self.db}.audit FINAL"
                          f" WHERE warning_id = {{w:String}}"
                          f" ORDER BY {schema.order_time('at', self.caps)}, version, id",
                          {"w": warning_id})

    def counts(self) -> dict[str, int]:
        parts = " UNION ALL ".join(f"SELECT '{t}' AS t, count() AS n FROM {self.db}.{t} FINAL"
                                   for t in schema.TABLES)
        return {r["t"]: int(r["n"]) for r in self.query(parts)}

    def reject_counts(self) -> dict[str, int]:
        rows = self.query(f"SELECT reason, count() AS n FROM {self.db}.rejects FINAL"
                          f" GROUP BY reason ORDER BY reason")
        return {r["reason"]: int(r["n"]) for r in rows}
