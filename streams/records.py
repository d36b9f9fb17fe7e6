"""The records that flow through yujing: three input streams, feedback, registries, outputs.

Every record has a stable ``id`` (idempotency: the same id is the same record), a
``kind`` that says which model it is, a ``schema_version`` and a timezone-aware
event time ``occurred_at`` (a naive time is read as Asia/Shanghai).

>>> e = GridEvent.model_validate({
...     "id": "g1", "occurred_at": "2026-05-01T09:30:00",
...     "place": {"region_code": "620102003004", "address": "城关区张掖路12号"},
...     "grid_id": "G-01", "category": "dispute", "dispute_kind": "neighbour",
...     "parties": [{"role": "complainant", "name": "张三", "id_number": "11010519491231002X"}],
...     "text": "邻居噪音纠纷"})
>>> e.occurred_at.isoformat()
'2026-05-01T09:30:00+08:00'
>>> e.dispute_kind.label
'邻里纠纷'
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from .codes import (
    AlertType, CallLine, CallType, Disposition, DisputeKind, DisputeStatus, GridEventCategory,
    KeyPersonCategory, Level, Outcome, PartyRole, ReporterKind, SiteType,
)
from .ident import check_id_number, check_phone, check_region_code

SCHEMA_VERSION = 1
TZ = ZoneInfo("Asia/Shanghai")

Id = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(max_length=4000)]


def aware(value: datetime) -> datetime:
    """Attach Asia/Shanghai to a naive time; keep an aware one as it is."""
    return value.replace(tzinfo=TZ) if value.tzinfo is None else value


class Model(BaseModel):
    # forbid: a misspelt field is an error naming it, not silently dropped data
    model_config = ConfigDict(extra="forbid", use_enum_values=False, str_strip_whitespace=True)


class Place(Model):
    region_code: str = Field(description="12-digit 统计用区划代码")
    address: Text = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    _region = field_validator("region_code")(lambda v: check_region_code(v))


class Party(Model):
    role: PartyRole = PartyRole.PARTY
    name: Annotated[str, Field(max_length=64)] | None = None
    phone: str | None = None
    id_number: str | None = Field(default=None, description="18-character 身份证号 (GB 11643)")

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return check_phone(v) if v else None

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return check_id_number(v) if v else None


class Record(Model):
    id: Id
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    occurred_at: datetime
    source: Annotated[str, Field(max_length=64)] = ""
    raw_codes: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=128)]] | None = Field(
        default=None, max_length=32,
        description="the source system's own code, by yujing field, where a mapping had no "
                    "translation and the field holds a fallback such as other (see streams.mapping)")

    _aware = field_validator("occurred_at")(lambda v: aware(v))


class GridEvent(Record):
    """网格事件 / 矛盾纠纷登记: a grid worker's, the public's or a mediator's report."""

    kind: Literal["grid_event"] = "grid_event"
    place: Place
    grid_id: Id
    category: GridEventCategory = GridEventCategory.DISPUTE
    dispute_kind: DisputeKind | None = None
    dispute_no: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="登记编号: the same dispute across its reports")
    status: DisputeStatus = DisputeStatus.REPORTED
    mediation_attempts: int = Field(default=0, ge=0, le=1000)
    reporter: ReporterKind = ReporterKind.GRID_WORKER
    reporter_id: Annotated[str, Field(max_length=64)] | None = None
    parties: list[Party] = Field(default_factory=list, max_length=500)
    text: Text = ""


class Call(Record):
    """A 110 police call or a 12345 hotline call."""

    kind: Literal["call"] = "call"
    line: CallLine
    caller: Party
    call_type: CallType
    place: Place
    text: Text = ""
    disposition: Disposition = Disposition.RECORDED
    parties: list[Party] = Field(default_factory=list, max_length=500)


class VideoAlert(Record):
    """An alert from 雪亮工程 video analytics."""

    kind: Literal["video_alert"] = "video_alert"
    camera_id: Id
    place: Place
    alert_type: AlertType
    confidence: float = Field(ge=0, le=1)
    head_count: int = Field(default=0, ge=0, le=100000)
    matched: Party | None = Field(default=None, description="the person a face match names")


class Feedback(Record):
    """An outcome the centre records for a case or a warning."""

    kind: Literal["feedback"] = "feedback"
    case_id: Annotated[str, Field(max_length=128)] | None = None
    warning_id: Annotated[str, Field(max_length=128)] | None = None
    record_id: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="a record of the case, when the sender knows no case id")
    outcome: Outcome
    note: Text = ""
    by: Annotated[str, Field(max_length=64)] = ""

    @model_validator(mode="after")
    def _target(self) -> "Feedback":
        if not (self.case_id or self.warning_id or self.record_id):
            raise ValueError("feedback needs case_id, warning_id or record_id")
        return self


class ActRecord(Record):
    """An act of the centre on a warning (签收 ack, 分流 dispatch, 处置 handling, 办结 close) as a
    record of the events topic: in Kafka mode the console publishes it, keyed as events are (the
    街道 or 区县 of the warning's region, ``streams.topics`` key level), and the worker owning
    that partition applies it (engine/worker_acts.py), so
    the act is in the log and a rebuild from the log reproduces the warning's state. ``id`` is
    the act's id (the console matches the worker's answer by it); ``occurred_at`` is when the
    user acted (the new version's time, the same on every replay); ``version`` the version the
    user saw. ``outcome`` is checked by the worker (engine/lifecycle.py ``check``).

    >>> from streams.codec import decode
    >>> decode('{"kind": "act", "id": "A-1", "occurred_at": "2026-05-01T10:00:00", '
    ...        '"warning_id": "W-1", "case_id": "C-1", "region_code": "620102003004", '
    ...        '"action": "dispatch", "by": "张三", "version": 2}')
    Traceback (most recent call last):
    ...
    streams.errors.RecordRejected: unit: dispatch needs a unit (bad_value)
    """

    kind: Literal["act"] = "act"
    warning_id: Id
    case_id: Id
    region_code: str = Field(description="the warning's 12-digit region: routes the act")
    action: Literal["ack", "dispatch", "handling", "close"]
    by: Annotated[str, Field(min_length=1, max_length=128)]
    version: int = Field(ge=1, description="the warning version the user saw")
    unit: Annotated[str, Field(max_length=64)] = Field("", validate_default=True)
    outcome: Annotated[str, Field(max_length=32)] = Field("", validate_default=True)
    note: Text = ""

    _region = field_validator("region_code")(lambda v: check_region_code(v))

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str, info) -> str:
        if info.data.get("action") == "dispatch" and not v:
            raise ValueError("dispatch needs a unit")
        return v

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, v: str, info) -> str:
        if info.data.get("action") == "close" and not v:
            raise ValueError("close needs an outcome")
        return v


class KeyPerson(Record):
    """重点人员 registry entry."""

    kind: Literal["key_person"] = "key_person"
    person: Party
    category: KeyPersonCategory
    risk_level: int = Field(default=1, ge=0, le=5)
    place: Place


class Camera(Record):
    kind: Literal["camera"] = "camera"
    camera_id: Id
    place: Place


class Grid(Record):
    """A grid (网格) and the community region it belongs to; the region registry."""

    kind: Literal["grid"] = "grid"
    grid_id: Id
    name: Annotated[str, Field(max_length=128)] = ""
    region_code: str
    centre: Annotated[str, Field(max_length=128)] = ""

    _region = field_validator("region_code")(lambda v: check_region_code(v))


class Site(Record):
    """A place that rules care about: a school, a dangerous water."""

    kind: Literal["site"] = "site"
    site_id: Id
    site_type: SiteType
    name: Annotated[str, Field(max_length=128)] = ""
    place: Place
    radius_m: float = Field(default=200, ge=0, le=100000)


InputRecord = Annotated[
    Union[GridEvent, Call, VideoAlert, Feedback, KeyPerson, Camera, Grid, Site, ActRecord],
    Field(discriminator="kind"),
]
INPUT_ADAPTER: TypeAdapter[Any] = TypeAdapter(InputRecord)
EVENT_KINDS = ("grid_event", "call", "video_alert")
REGISTRY_KINDS = ("key_person", "camera", "grid", "site")
KIND_MODELS = {m.model_fields["kind"].default: m for m in
               (GridEvent, Call, VideoAlert, Feedback, KeyPerson, Camera, Grid, Site, ActRecord)}


# ---- outputs -------------------------------------------------------------------------------

class Signal(Model):
    """What a detector says about a case when a record arrives. Carries no clear personal data."""

    id: str
    detector: str
    rule_id: str
    rule_version: int = 1
    case_id: str
    record_id: str
    score: float = Field(ge=0, le=1)
    reason: str = Field(description="one line in Chinese")
    evidence: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class Warning(Model):
    """A graded warning about one case; every update is a new ``version`` of the same ``id``."""

    id: str
    version: int = Field(ge=1)
    case_id: str
    level: Level
    score: float = Field(ge=0, le=1)
    region_code: str
    address: str = ""
    dispute_kind: DisputeKind | None = None
    title: str
    explanation: str
    reasons: list[dict[str, Any]] = Field(default_factory=list)
    record_ids: list[str] = Field(default_factory=list)
    state: str = "new"
    first_at: datetime
    updated_at: datetime
