"""The store's read queries, once for both back ends (chDB and a ClickHouse server).

A host class provides ``query(sql, params)`` (``{name:Type}`` parameters, rows as dicts with
aware times), ``db``, ``caps`` (what the server supports), ``_tables`` (``schema.tables()``) and
``_ids_param(ids)`` (how its driver wants a list for ``IN {ids:Array(String)}``).  Reads use
``FINAL`` or ``LIMIT 1 BY`` so they are right before any background merge.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
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

    def audit_by_action(self, action: str, limit: int = 1000) -> list[dict]:
        """The newest audit rows of one action (e.g. ``sla_breach`` for the big screen)."""
        return self.query(f"SELECT {self._cols('audit')} FROM {self.db}.audit FINAL"
                          f" WHERE action = {{a:String}}"
                          f" ORDER BY {schema.order_time('at', self.caps, desc=True)}, id"
                          f" LIMIT {{n:UInt32}}", {"a": action, "n": max(0, int(limit))})

    def counts(self) -> dict[str, int]:
        parts = " UNION ALL ".join(f"SELECT '{t}' AS t, count() AS n FROM {self.db}.{t} FINAL"
                                   for t in schema.TABLES)
        return {r["t"]: int(r["n"]) for r in self.query(parts)}

    def reject_counts(self) -> dict[str, int]:
        rows = self.query(f"SELECT reason, count() AS n FROM {self.db}.rejects FINAL"
                          f" GROUP BY reason ORDER BY reason")
        return {r["reason"]: int(r["n"]) for r in rows}

    # ---- the console's list, and the analysts' figures (engine/web.py) ----------------------

    def warning_page(self, f: "WarningFilter", *, sort: str = "time", desc: bool = True,
                     offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One page of the latest version of each warning matching ``f``, and counts.

        Returns ``{"total", "by_level", "rows"}``: ``by_level`` counts the matches of every
        filter except the level one (so the counters say what choosing a level would show);
        ``total`` counts the matches of the whole filter.  Sorted by ``sort`` (time = updated_at,
        score, level = colour rank then score), newest/highest first unless ``desc`` is False.
        """
        cols = self._cols("warnings")
        where, params = self._where(f, with_level=True)
        keys = {"time": [schema.order_time("updated_at", self.caps, desc=desc)],
                "score": [f"score{'' if not desc else ' DESC'}",
                          schema.order_time("updated_at", self.caps, desc=desc)],
                "level": [f"{_LEVEL_RANK}{'' if not desc else ' DESC'}",
                          f"score{'' if not desc else ' DESC'}",
                          schema.order_time("updated_at", self.caps, desc=desc)]}[sort]
        rows = self.query(
            f"SELECT {cols} FROM ({self._latest(cols)}) WHERE {where}"
            f" ORDER BY {', '.join(keys)}, id LIMIT {{o:UInt64}}, {{n:UInt32}}",
            {**params, "o": max(0, int(offset)), "n": max(0, int(limit))})
        cwhere, cparams = self._where(f, with_level=False)
        need = "id, version, level, region_code, state, dispute_kind, updated_at" + (
            "" if self.caps.modern else ", updated_at_ms") + (", reasons" if f.rule_id else "")
        counts = self.query(f"SELECT level, count() AS n FROM ({self._latest(need)})"
                            f" WHERE {cwhere} GROUP BY level", cparams)
        by_level = {lv: 0 for lv in LEVELS}
        for r in counts:
            by_level[r["level"]] = int(r["n"])
        total = sum(n for lv, n in by_level.items() if not f.levels or lv in f.levels)
        return {"total": total, "by_level": by_level, "rows": [warning_row(r) for r in rows]}

    def _latest(self, cols: str) -> str:
        return (f"SELECT {cols} FROM {self.db}.warnings ORDER BY id, version DESC LIMIT 1 BY id")

    def _where(self, f: "WarningFilter", *, with_level: bool) -> tuple[str, dict]:
        conds, params = ["startsWith(region_code, {p:String})"], {"p": f.region_prefix}
        if with_level and f.levels:
            conds.append("level IN {lv:Array(String)}")
            params["lv"] = self._ids_param(list(f.levels))
        if f.states:
            states = sorted({s for x in f.states for s in (OPEN_STATES if x == "open" else (x,))})
            conds.append("state IN {st:Array(String)}")
            params["st"] = self._ids_param(states)
        if f.dispute_kind:
            conds.append("dispute_kind = {dk:String}")
            params["dk"] = f.dispute_kind
        if f.rule_id:
            # reasons is JSON written with sort_keys and ", "/": " separators (sinks.store._json);
            # a plain substring test also works on servers without JSONExtract (18.16)
            conds.append("position(reasons, {rq:String}) > 0")
            params["rq"] = f'"rule_id": "{f.rule_id}"'
        if f.since:
            conds.append("toDateTime(updated_at) >= toDateTime({since:String}, 'Asia/Shanghai')")
            params["since"] = f.since
        if f.until:
            conds.append("toDateTime(updated_at) <= toDateTime({until:String}, 'Asia/Shanghai')")
            params["until"] = f.until
        return " AND ".join(conds), params

    def record_ids_of_case(self, case_id: str, limit: int = 200) -> list[str]:
        """The ids of a case's records (the newest ``limit``), for its timeline."""
        if not case_id:
            return []
        rows = self.query(f"SELECT id FROM {self.db}.records FINAL WHERE case_id = {{c:String}}"
                          f" ORDER BY {schema.order_time('occurred_at', self.caps, desc=True)}, id"
                          f" LIMIT {{n:UInt32}}", {"c": case_id, "n": max(0, int(limit))})
        return [r["id"] for r in rows]

    def case_merges(self, case_id: str) -> list[dict]:
        """Every merge joined to ``case_id`` either way, transitively (``case_merges``: gone,
        into, at, why), oldest first: the survivor is the ``into`` no row merges away."""
        seen, todo, rows = {case_id}, [case_id], {}
        while todo and len(seen) < 200:
            found = self.query(f"SELECT gone, `into`, at, why FROM {self.db}.case_merges FINAL"
                               f" WHERE gone IN {{ids:Array(String)}} OR `into` IN {{ids:Array(String)}}",
                               {"ids": self._ids_param(todo)})
            todo = []
            for r in found:
                rows[(r["gone"], r["into"])] = r
                for c in (r["gone"], r["into"]):
                    if c not in seen:
                        seen.add(c)
                        todo.append(c)
        return sorted(rows.values(), key=lambda r: (r["at"], r["gone"]))

    def warnings_of_cases(self, case_ids: Sequence[str]) -> list[dict]:
        """The latest version of each warning on these cases (id, case_id, state, level)."""
        if not case_ids:
            return []
        return self.query(f"SELECT id, case_id, state, level, version FROM {self.db}.warnings"
                          f" WHERE case_id IN {{ids:Array(String)}}"
                          f" ORDER BY id, version DESC LIMIT 1 BY id",
                          {"ids": self._ids_param(case_ids)})

    def newest_signal_at(self) -> Any:
        """The event time of the newest signal (None when there is none)."""
        rows = self.query(f"SELECT count() AS n, max(at) AS t FROM {self.db}.signals")
        return rows[0]["t"] if rows and int(rows[0]["n"]) else None

    def rule_stats(self, since: str, region_prefix: str = "") -> list[dict]:
        """Per rule, signals at or after ``since`` ('YYYY-MM-DD HH:MM:SS', Asia/Shanghai):
        ``signals``, ``cases`` hit, ``judged`` (hit cases with an outcome: the latest feedback of
        the case), ``confirmed`` (hit cases whose outcome is a true one, ``TRUE_OUTCOMES``) and
        ``shadow`` (the rule's signals are shadow signals).  ``region_prefix`` keeps cases with a
        record in that region."""
        region = ""
        params: dict[str, Any] = {"since": since, "true": self._ids_param(list(TRUE_OUTCOMES))}
        if region_prefix:
            region = (f" AND case_id IN (SELECT case_id FROM {self.db}.records"
                      f" WHERE startsWith(region_code, {{p:String}}) AND case_id != '')")
            params["p"] = region_prefix
        rows = self.query(
            f"SELECT rule_id, max(sh) AS is_shadow, count() AS signals,"
            f" uniqExactIf(case_id, case_id != '') AS cases,"
            f" uniqExactIf(case_id, case_id != '' AND outcome != '') AS judged,"
            f" uniqExactIf(case_id, case_id != '' AND outcome IN {{true:Array(String)}}) AS confirmed"
            f" FROM (SELECT rule_id, case_id, position(evidence, '\"shadow\": true') > 0 AS sh"
            f"  FROM {self.db}.signals FINAL"
            f"  WHERE toDateTime(at) >= toDateTime({{since:String}}, 'Asia/Shanghai'){region}) AS s"
            f" ANY LEFT JOIN (SELECT case_id, argMax(outcome, occurred_at) AS outcome"
            f"  FROM {self.db}.feedback FINAL WHERE case_id != '' GROUP BY case_id) AS o USING case_id"
            f" GROUP BY rule_id ORDER BY rule_id", params)
        return [{"rule_id": r["rule_id"], "shadow": bool(r["is_shadow"]), "signals": int(r["signals"]),
                 "cases": int(r["cases"]), "judged": int(r["judged"]),
                 "confirmed": int(r["confirmed"])} for r in rows]


LEVELS = ("red", "orange", "yellow", "blue")
_LEVEL_RANK = "multiIf(level = 'red', 4, level = 'orange', 3, level = 'yellow', 2, 1)"
OPEN_STATES = ("new", "acknowledged", "dispatched", "handling")
STATES = OPEN_STATES + ("closed",)
# outcomes that confirm a warning was right (the dispute did get worse): 民转刑, 调解失败
TRUE_OUTCOMES = ("escalated_criminal", "mediation_failed")


@dataclass(frozen=True)
class WarningFilter:
    """What the console's list asks for (engine/web.py parses and checks the query string).

    ``since``/``until`` are 'YYYY-MM-DD HH:MM:SS' in Asia/Shanghai, inclusive, on updated_at;
    ``states`` may hold ``open`` (any state but closed)."""

    region_prefix: str = ""
    levels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    since: str = ""
    until: str = ""
    dispute_kind: str = ""
    rule_id: str = ""
