"""The store seam: what the engine writes and what the console reads, whatever the backend.

``ChdbStore`` (embedded, chDB in-process) implements it; a clickhouse-driver server backend
will implement the same protocol on the same schema (``sinks.schema``). The column builders
here turn model objects into column lists so both backends share one mapping.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Sequence, runtime_checkable

from streams.codec import Reject
from streams.records import Feedback, Signal, Warning


@dataclass(slots=True)
class AuditEntry:
    """One act on a warning (``engine.lifecycle``): stored in the ``audit`` table.

    ``by`` is the operator's account name; ``note`` must arrive with personal data masked."""

    at: datetime
    warning_id: str
    case_id: str
    version: int          # the warning version the act produced (or saw, for an SLA breach)
    action: str           # ack | dispatch | handling | close | sla_breach
    from_state: str
    to_state: str
    by: str
    unit: str = ""
    outcome: str = ""
    note: str = ""
    key: str = ""         # tells apart looks at one version (view_clear, denied: who@ns)

    @property
    def id(self) -> str:
        base = f"{self.warning_id}#{self.version}#{self.action}"
        return f"{base}#{self.key}" if self.key else base


@dataclass(slots=True)
class StoreBatch:
    """One write: input records, detector signals, warning versions and rejects.

    ``record_cases`` maps a record id to the case it was linked to (the engine knows it, the
    record itself does not); unmapped records are stored with an empty case id.

    ``bodies`` optionally maps a record id to its JSON exactly as ``streams.codec.encode``
    makes it (str or UTF-8 bytes), when the caller has it already: a Kafka message written by
    ``yujing ingest`` is that text. The store then skips serialising the record (the largest
    per-row cost of a write) and trusts the text as given, so pass nothing else here.
    """

    records: list[Any] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    record_cases: dict[str, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    bodies: dict[str, str | bytes] = field(default_factory=dict)
    merged: list[Any] = field(default_factory=list)  # graph.cases.CaseMerge: gone, into, at, why

    def __len__(self) -> int:
        return (len(self.records) + len(self.signals) + len(self.warnings) + len(self.rejects)
                + len(self.audit) + len(self.merged))


@runtime_checkable
class Store(Protocol):
    def write(self, batch: StoreBatch) -> None:
        """Store a batch; idempotent (writing it again changes nothing as read)."""

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def latest_warnings(self, limit: int = 200, region_prefix: str = "") -> list[dict]:
        """Latest version of each warning, most recently updated first."""

    def warning_history(self, warning_id: str) -> list[dict]:
        """Every version of one warning, oldest first."""

    def counts(self) -> dict[str, int]:
        """Rows (distinct keys) per table."""

    def reject_counts(self) -> dict[str, int]:
        """Rejects per reason code."""

    def get_records(self, ids: Sequence[str]) -> list[dict]:
        """Stored records by id (clear personal data: for authorised case views only)."""

    def audit_of(self, warning_id: str) -> list[dict]:
        """The audit rows of one warning, oldest first."""


# ---- column builders (model objects -> {column: [values]}) -----------------------------------
#
# These run once per stored row, so they read fields from the instance ``__dict__`` (pydantic v2
# keeps fields there; a missing one is a dict miss, not a slow AttributeError) and build each
# column with one comprehension. Enum codes go in as ``_value_`` (a plain attribute). The JSON
# body (pydantic's serializer, ~2 us a grid event) is most of a write's own cost: see
# benchmarks/bench_sinks.py ``body_rows_per_s``.

def _body(rec: Any) -> bytes:
    """The record as stored in ``records.body``: the JSONL wire form (``streams.codec.encode``)
    as UTF-8 bytes, straight from the model's own serializer (no wrapper, no decode: both
    back ends take bytes for a String column).

    >>> from streams.codec import encode
    >>> from streams.records import Camera
    >>> cam = Camera(id="cam-1", occurred_at="2026-05-01T09:30:00", camera_id="C1",
    ...              place={"region_code": "620102003004"})
    >>> _body(cam).decode() == encode(cam)
    True
    """
    return rec.__pydantic_serializer__.to_json(rec, exclude_none=True)


def record_columns(records: Sequence[Any], cases: dict[str, str],
                   bodies: dict[str, str | bytes] | None = None) -> dict[str, list]:
    """Columns of the ``records`` table; ``body`` is UTF-8 JSON bytes (see ``_body``), or the
    text ``bodies`` holds for the record's id (``StoreBatch.bodies``).

    >>> from streams.records import Feedback, Grid
    >>> g = Grid(id="grid-1", occurred_at="2026-05-01T09:30:00", grid_id="G1",
    ...          region_code="620102003004")
    >>> f = Feedback(id="fb-1", occurred_at="2026-05-01T10:00:00", case_id="C-9",
    ...              outcome="resolved")
    >>> cols = record_columns([g, f], {"grid-1": "C-1"})
    >>> cols["region_code"], cols["case_id"], cols["kind"]
    (['620102003004', ''], ['C-1', 'C-9'], ['grid', 'feedback'])
    >>> record_columns([g, f], {}, {"fb-1": "{...}"})["body"][1]
    '{...}'
    """
    # one comprehension per column: quicker than one loop appending to seven lists
    dicts = [r.__dict__ for r in records]
    ids: list[str] = [d["id"] for d in dicts]
    kinds: list[str] = [d["kind"] for d in dicts]
    times: list[datetime] = [d["occurred_at"] for d in dicts]
    sources: list[str] = [d["source"] for d in dicts]
    regions: list[str] = [p.__dict__["region_code"] if (p := d.get("place")) is not None
                          else d.get("region_code") or "" for d in dicts]
    case_of = cases.get
    if "feedback" in kinds:  # feedback names its case itself
        case_ids = [case_of(d["id"]) or (d["case_id"] if d["kind"] == "feedback" else None) or ""
                    for d in dicts]
    else:
        case_ids = [case_of(i) or "" for i in ids] if cases else [""] * len(ids)
    texts: list[str | bytes]
    if bodies:
        given = bodies.get
        texts = [given(i) for i in ids]
        texts = [r.__pydantic_serializer__.to_json(r, exclude_none=True) if t is None else t
                 for r, t in zip(records, texts)]
    else:
        texts = [r.__pydantic_serializer__.to_json(r, exclude_none=True) for r in records]
    return {"id": ids, "kind": kinds, "occurred_at": times, "region_code": regions,
            "source": sources, "case_id": case_ids, "body": texts}


def feedback_columns(items: Sequence[Feedback]) -> dict[str, list]:
    return {
        "id": [f.id for f in items],
        "occurred_at": [f.occurred_at for f in items],
        "case_id": [f.case_id or "" for f in items],
        "warning_id": [f.warning_id or "" for f in items],
        "record_id": [f.record_id or "" for f in items],
        "outcome": [f.outcome._value_ for f in items],
        "note": [f.note for f in items],
        "by": [f.by for f in items],
        "source": [f.source for f in items],
    }


# one encoder for every call: json.dumps with options builds a new JSONEncoder each time
_json = json.JSONEncoder(ensure_ascii=False, default=str, sort_keys=True).encode


def signal_columns(items: Sequence[Signal]) -> dict[str, list]:
    return {
        "id": [s.id for s in items],
        "detector": [s.detector for s in items],
        "rule_id": [s.rule_id for s in items],
        "rule_version": [s.rule_version for s in items],
        "case_id": [s.case_id for s in items],
        "record_id": [s.record_id for s in items],
        "score": [float(s.score) for s in items],
        "reason": [s.reason for s in items],
        "evidence": [_json(s.evidence) for s in items],
        "at": [s.at for s in items],
    }


def warning_columns(items: Sequence[Warning]) -> dict[str, list]:
    return {
        "id": [w.id for w in items],
        "version": [w.version for w in items],
        "case_id": [w.case_id for w in items],
        "level": [w.level._value_ for w in items],
        "score": [float(w.score) for w in items],
        "region_code": [w.region_code for w in items],
        "address": [w.address for w in items],
        "dispute_kind": [w.dispute_kind._value_ if w.dispute_kind else "" for w in items],
        "title": [w.title for w in items],
        "explanation": [w.explanation for w in items],
        "reasons": [_json(w.reasons) for w in items],
        "record_ids": [list(w.record_ids) for w in items],
        "state": [w.state for w in items],
        "first_at": [w.first_at for w in items],
        "updated_at": [w.updated_at for w in items],
    }


def audit_columns(items: Sequence[AuditEntry]) -> dict[str, list]:
    return {
        "id": [a.id for a in items],
        "at": [a.at for a in items],
        "warning_id": [a.warning_id for a in items],
        "case_id": [a.case_id for a in items],
        "version": [a.version for a in items],
        "action": [a.action for a in items],
        "from_state": [a.from_state for a in items],
        "to_state": [a.to_state for a in items],
        "by": [a.by for a in items],
        "unit": [a.unit for a in items],
        "outcome": [a.outcome for a in items],
        "note": [a.note for a in items],
    }


def merge_columns(items: Sequence[Any]) -> dict[str, list]:
    """Columns of ``case_merges`` (``why`` arrives masked: evidence kinds only)."""
    return {"gone": [m.gone for m in items], "into": [m.into for m in items],
            "at": [m.at for m in items], "why": [m.why for m in items]}


def reject_columns(items: Sequence[Reject]) -> dict[str, list]:
    return {
        "reason": [r.reason for r in items],
        "field": [r.field for r in items],
        "detail": [r.detail for r in items],
        "raw": [r.raw for r in items],
        "source": [r.source for r in items],
        "line": [r.line for r in items],
        "record_id": [r.record_id for r in items],
        "at": [r.at for r in items],
    }


# ---- row decoders (stored row -> the dict shape of the model) -------------------------------

def warning_row(row: dict) -> dict:
    """A stored warning row as a dict that ``Warning.model_validate`` accepts."""
    row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
    row["dispute_kind"] = row["dispute_kind"] or None
    return row


def signal_row(row: dict) -> dict:
    row["evidence"] = json.loads(row["evidence"]) if row["evidence"] else {}
    return row
