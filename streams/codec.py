"""Turn bytes into records and back; turn validation failures into ``RecordRejected``.

>>> decode('{"kind": "call", "id": "c1"}')
Traceback (most recent call last):
...
streams.errors.RecordRejected: occurred_at: Field required (+4 more) (missing_field)
>>> decode('{"kind": "call", "id": "c1"', line=7)
Traceback (most recent call last):
...
streams.errors.RecordRejected: line 7: Invalid JSON: EOF while parsing an object at line 1 column 27 (malformed_json)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .errors import RecordRejected
from .records import INPUT_ADAPTER, TZ

MAX_LINE_BYTES = 1 << 20

_BY_FIELD = {"id_number": "bad_id_number", "phone": "bad_phone", "region_code": "bad_region_code"}
_BY_TYPE = {
    "json_invalid": "malformed_json", "json_type": "malformed_json",
    "missing": "missing_field", "extra_forbidden": "unknown_field",
    "enum": "unknown_category", "literal_error": "unknown_category",
    "union_tag_invalid": "unknown_kind", "union_tag_not_found": "unknown_kind",
    "model_type": "bad_type", "model_attributes_type": "malformed_json",
}


def reason_of(err: dict[str, Any]) -> tuple[str, str]:
    """(reason code, dotted field path) for one pydantic error."""
    loc = [str(p) for p in err.get("loc", ())]
    # drop the discriminator tag pydantic puts first ("call", "grid_event", ...)
    if loc and loc[0] in ("grid_event", "call", "video_alert", "feedback", "key_person",
                          "camera", "grid", "site", "act"):
        loc = loc[1:]
    path = ".".join(loc)
    etype = err.get("type", "")
    if etype in _BY_TYPE:
        reason = _BY_TYPE[etype]
    elif loc and loc[-1] in _BY_FIELD:
        reason = _BY_FIELD[loc[-1]]
    elif etype.endswith(("_type", "_parsing")) or "parsing" in etype:
        reason = "bad_type"
    else:
        reason = "bad_value"
    if reason == "unknown_kind":
        path = "kind"
    return reason, path


def rejected_from(exc: ValidationError, *, record_id: str = "", line: int | None = None) -> RecordRejected:
    errors = exc.errors(include_url=False)
    first = errors[0]
    reason, path = reason_of(first)
    detail = first.get("msg", "invalid").removeprefix("Value error, ")
    if len(errors) > 1:
        detail += f" (+{len(errors) - 1} more)"
    return RecordRejected(reason, detail, field=path, record_id=record_id, line=line)


def _guess_id(raw: str | bytes) -> str:
    try:
        obj = json.loads(raw)
        rid = obj.get("id", "") if isinstance(obj, dict) else ""
        return str(rid)[:128]
    except Exception:
        return ""


def decode(raw: str | bytes, *, line: int | None = None):
    """One JSON document → an input record, or ``RecordRejected``."""
    if len(raw) > MAX_LINE_BYTES:
        raise RecordRejected("too_large", f"record is {len(raw)} bytes, limit {MAX_LINE_BYTES}", line=line)
    try:
        return INPUT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise rejected_from(exc, record_id=_guess_id(raw), line=line) from None


def decode_obj(obj: Any, *, line: int | None = None):
    """A parsed mapping (e.g. from a mapped CSV row) → an input record, or ``RecordRejected``."""
    try:
        return INPUT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        rid = str(obj.get("id", ""))[:128] if isinstance(obj, dict) else ""
        raise rejected_from(exc, record_id=rid, line=line) from None


def encode(record) -> str:
    """A record as one line of JSON (the JSONL wire form)."""
    return record.model_dump_json(exclude_none=True)


@dataclass(slots=True)
class Reject:
    """A record that did not pass, kept whole so nothing is lost (dead letters, rejects table)."""

    reason: str
    field: str
    detail: str
    raw: str
    source: str = ""
    line: int | None = None
    record_id: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(TZ))

    @classmethod
    def of(cls, exc: RecordRejected, raw: str | bytes, *, source: str = "") -> "Reject":
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return cls(exc.reason, exc.field, exc.detail, text, source, exc.line, exc.record_id)

    def to_json(self) -> str:
        return json.dumps({"reason": self.reason, "field": self.field, "detail": self.detail,
                           "source": self.source, "line": self.line, "record_id": self.record_id,
                           "at": self.at.isoformat(), "raw": self.raw}, ensure_ascii=False)
