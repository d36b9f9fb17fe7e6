"""Mapping files: how another system's export (its columns, its codes) becomes yujing records.

A mapping file is YAML; ``Mapping.load`` checks it whole and raises ``ConfigError`` naming the
file and line of the first problem. ``SourceMapping.to_record`` turns one parsed row (a dict of
column → cell) into a record or raises ``RecordRejected`` naming the yujing field and the
source column. The readers are in ``streams.tabular``; the guide is ``docs/mapping.md``.

>>> m = Mapping.from_text('''
... sources:
...   demo:
...     kind: video_alert
...     columns: {时间: occurred_at, 点位: camera_id, 区划: place.region_code, 类型: alert_type,
...               置信度: {to: confidence, scale: 0.01}}
...     codes: {alert_type: {"01": fight}}
... ''')
>>> r = m.source("demo").to_record({"时间": "20260501093000", "点位": "C1", "区划": "629901",
...                                 "类型": "99", "置信度": "87"}, line=2, content="x")
>>> r.alert_type.value, r.raw_codes, r.place.region_code, r.confidence, str(r.occurred_at)
('other', {'alert_type': '99'}, '629901000000', 0.87, '2026-05-01 09:30:00+08:00')
"""
from __future__ import annotations

import codecs
import fnmatch
import hashlib
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .codes import Code
from .errors import ConfigError, SourceError
from .ident import check_region_code
from .records import KIND_MODELS


# ---- the file's schema -------------------------------------------------------------------

def _text(v: Any) -> Any:  # YAML reads 110 or 629901000000 as a number; a code is text
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


Str = Annotated[str, BeforeValidator(_text)]
RegionCode = Annotated[str, BeforeValidator(_text), AfterValidator(check_region_code)]
NULLS = ["", "null", "NULL", "None", "N/A", "-"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ColumnSpec(_Spec):
    to: str = Field(description="the yujing field, e.g. caller.phone or parties[].name")
    split: str | None = Field(default=None, description="separator characters for a list cell")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="sibling fields set when the cell is not empty")
    format: str | None = Field(default=None, description="strptime format of a time column")
    scale: float | None = Field(default=None, description="multiply a number by this")


def _column(v: Any) -> Any:  # 接警时间: occurred_at is short for 接警时间: {to: occurred_at}
    return {"to": _text(v)} if isinstance(v, (str, int)) else v


class SourceSpec(_Spec):
    kind: str
    format: typing.Literal["csv", "json", "jsonl"] | None = None
    encoding: str | None = None
    delimiter: Str = Field(default=",", min_length=1, max_length=1)
    timezone: str = "Asia/Shanghai"
    files: list[str] = Field(default_factory=list, description="file-name globs this source reads")
    id_prefix: Str = Field(default="", max_length=32)
    null_values: list[Str] = Field(default_factory=lambda: list(NULLS))
    columns: dict[str, Annotated[ColumnSpec, BeforeValidator(_column)]] = Field(min_length=1)
    constants: dict[str, Any] = Field(default_factory=dict)
    codes: dict[str, dict[str, Str]] = Field(default_factory=dict)
    districts: dict[str, RegionCode] = Field(default_factory=dict)


class MappingFile(_Spec):
    version: typing.Literal[1] = 1
    districts: dict[str, RegionCode] = Field(default_factory=dict)
    sources: dict[Annotated[str, Field(pattern=r"^[\w.-]{1,48}$")], SourceSpec] = Field(min_length=1)


# ---- YAML with line numbers --------------------------------------------------------------

def _load_yaml(text: str, file: str) -> tuple[Any, dict[tuple, int]]:
    """The document, and the line of every key and item by its path (keys are kept as text)."""
    lines: dict[tuple, int] = {}
    loader = yaml.SafeLoader(text)

    def build(n: yaml.Node, path: tuple) -> Any:
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(loader.construct_object(k))
                if key in out:
                    raise ConfigError(f"duplicate key {key!r}", file=file, line=k.start_mark.line + 1)
                lines[path + (key,)] = k.start_mark.line + 1
                out[key] = build(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        return loader.construct_object(n, deep=True)

    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("mapping file is empty", file=file)
        return build(node, ()), lines
    except yaml.YAMLError as exc:
        mark, ctx = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        started = f" ({exc.context} at line {ctx.line + 1})" if ctx and exc.context else ""
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}{started}",
                          file=file, line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()


class _Bad(Exception):
    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = path


# ---- targets: a dotted path into a record model ------------------------------------------

_PART = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[(\d{0,2})\])?$")
_NOT_TARGETS = {"kind", "schema_version", "source", "raw_codes"}


def _unwrap(ann: Any) -> Any:
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann = typing.get_args(ann)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann
            ann = args[0]
        else:
            return ann


@dataclass(slots=True)
class Target:
    path: str
    parts: list[tuple[str, int | str | None]]  # (field, list index | "" to append | None)
    leaf: str                                   # time | region | code | address | int | float | text
    enum: type[Code] | None = None
    column: str | None = None
    spec: ColumnSpec | None = None
    extra: list = field(default_factory=list)  # (Target, value) set with a non-empty cell


def resolve(model: type[BaseModel], path: str) -> Target:
    """The target ``path`` in ``model`` (``caller.phone``, ``parties[0].name``); ``ValueError`` if none."""
    parts: list[tuple[str, int | str | None]] = []
    cur: Any = model
    for i, seg in enumerate(str(path).split(".")):
        m = _PART.match(seg)
        if not m:
            raise ValueError(f"{path!r} is not a field path like place.address or parties[0].name")
        name, idx = m.group(1), m.group(2)
        fields = cur.model_fields if isinstance(cur, type) and issubclass(cur, BaseModel) else {}
        if name not in fields or (i == 0 and name in _NOT_TARGETS):
            where = f"{path!r}" if i == 0 else f"{name!r} in {path!r}"
            known = ", ".join(f for f in fields if f not in _NOT_TARGETS)
            raise ValueError(f"unknown target field {where} (fields: {known})")
        ann = _unwrap(fields[name].annotation)
        is_list = typing.get_origin(ann) is list
        if is_list:
            ann = _unwrap(typing.get_args(ann)[0])
        if is_list != (idx is not None):
            raise ValueError(f"{name} is a list: write {name}[0].… or {name}[].… with split"
                             if is_list else f"{name} is not a list")
        parts.append((name, None if idx is None else (int(idx) if idx else "")))
        cur = ann
    last = parts[-1][0]
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        example = f"{path}.{next(iter(cur.model_fields))}"
        raise ValueError(f"{path!r} is a group of fields; map one of them, e.g. {example}")
    if cur is datetime:
        return Target(path, parts, "time")
    if isinstance(cur, type) and issubclass(cur, Code):
        return Target(path, parts, "code", cur)
    leaf = {"region_code": "region", "address": "address"}.get(last) or \
        {int: "int", float: "float", str: "text"}.get(cur)
    if leaf is None:
        raise ValueError(f"{path!r} cannot be filled from a column")
    return Target(path, parts, leaf)


# ---- one source, compiled ----------------------------------------------------------------

class SourceMapping:
    """One source of a mapping file, checked and ready to turn rows into records."""

    def __init__(self, name: str, spec: SourceSpec, districts: dict[str, str], where: tuple):
        self.name, self.spec = name, spec
        if spec.kind not in KIND_MODELS:
            raise _Bad(where + ("kind",), f"unknown kind {spec.kind!r} (one of: {', '.join(KIND_MODELS)})")
        self.model = KIND_MODELS[spec.kind]
        try:
            self.tz = ZoneInfo(spec.timezone)
        except Exception:
            raise _Bad(where + ("timezone",), f"unknown timezone {spec.timezone!r}") from None
        if spec.encoding:
            try:
                codecs.lookup(spec.encoding)
            except LookupError:
                raise _Bad(where + ("encoding",), f"unknown encoding {spec.encoding!r}") from None
        self.nulls = {n.strip() for n in spec.null_values}
        self.districts = {**districts, **spec.districts}
        self.columns: list[Target] = []
        seen: dict[str, str] = {}
        for col, cs in spec.columns.items():
            at = where + ("columns", col)
            t = self._target(cs.to, at)
            if (cs.split is not None) != any(i == "" for _, i in t.parts):
                raise _Bad(at, f"{cs.to}: use [] in the target together with split: (and only then)")
            t.column, t.spec = col, cs
            if cs.to in seen and cs.split is None:
                raise _Bad(at, f"{cs.to} is already filled by column {seen[cs.to]!r}")
            seen[cs.to] = col
            parent = cs.to.rsplit(".", 1)[0] + "." if "." in cs.to else ""
            for k, v in cs.with_.items():
                if cs.split is not None and "." in k:
                    raise _Bad(at + ("with", k), "with: of a split column names fields of one item")
                t.extra.append(self._constant(parent + k, v, at + ("with", k)))
            self.columns.append(t)
        self.constants = [self._constant(p, v, where + ("constants", p)) for p, v in spec.constants.items()]
        for p in spec.constants:
            if p in seen:
                raise _Bad(where + ("constants", p), f"{p} is both a constant and column {seen[p]!r}")
        self.codes: dict[str, dict[str, str]] = {}
        for p, table in spec.codes.items():
            t = self._target(p, where + ("codes", p))
            if t.leaf != "code":
                raise _Bad(where + ("codes", p), f"{p} has no categories; codes: is for category fields")
            allowed = [c.value for c in t.enum]
            for raw_code, code in table.items():
                if code not in allowed:
                    raise _Bad(where + ("codes", p, raw_code),
                               f"unknown yujing category {code!r} for {p} (one of: {', '.join(allowed)})")
            self.codes[p] = {**{k.strip().casefold(): v for k, v in table.items()}, **table}
        self.folded_districts = {k.strip().casefold(): v for k, v in self.districts.items()}

    def _target(self, path: str, at: tuple) -> Target:
        try:
            return resolve(self.model, path)
        except ValueError as exc:
            raise _Bad(at, f"{exc} for kind {self.spec.kind}") from None

    def _constant(self, path: str, value: Any, at: tuple) -> Any:
        t = self._target(path, at)
        if t.leaf == "code" and _text(value) not in [c.value for c in t.enum]:
            raise _Bad(at, f"unknown yujing category {value!r} for {path} "
                           f"(one of: {', '.join(c.value for c in t.enum)})")
        if t.leaf == "region":
            try:
                check_region_code(_text(value))
            except ValueError as exc:
                raise _Bad(at, f"{path}: {exc}") from None
        return t, _text(value)

    # -- rows ------------------------------------------------------------------------------
    def stable_id(self, content: str) -> str:
        """An id from the source name and the row's raw content: re-importing gives the same id."""
        digest = hashlib.sha256(f"{self.name}\x1f{content}".encode()).hexdigest()[:24]
        return f"{self.name}-{digest}"

    def to_record(self, row: dict[str, Any], *, line: int, content: str):
        """One parsed row (column → cell) → a record, or ``RecordRejected`` (``streams.tabular``)."""
        from .tabular import to_record
        return to_record(self, row, line=line, content=content)


# ---- the whole file ------------------------------------------------------------------------

class Mapping:
    """A loaded mapping file: its sources by name."""

    def __init__(self, sources: dict[str, SourceMapping], file: str = "<string>"):
        self.sources, self.file = sources, file

    @classmethod
    def load(cls, path: str | Path) -> "Mapping":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read mapping file: {exc}", file=str(p)) from None
        return cls.from_text(text, file=str(p))

    @classmethod
    def from_text(cls, text: str, file: str = "<string>") -> "Mapping":
        data, lines = _load_yaml(text, file)

        def line_of(path: tuple) -> int | None:
            for n in range(len(path), -1, -1):
                if path[:n] in lines:
                    return lines[path[:n]]
            return None

        try:
            spec = MappingFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = tuple(err["loc"])
            what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{'.'.join(map(str, loc))}: {what}", file=file, line=line_of(loc)) from None
        try:
            sources = {n: SourceMapping(n, s, spec.districts, ("sources", n)) for n, s in spec.sources.items()}
        except _Bad as bad:
            raise ConfigError(f"{'.'.join(map(str, bad.path))}: {bad}", file=file, line=line_of(bad.path)) from None
        return cls(sources, file)

    def source(self, name: str) -> SourceMapping:
        try:
            return self.sources[name]
        except KeyError:
            raise SourceError(f"{self.file} has no source {name!r} (has: {', '.join(self.sources)})") from None

    def source_for(self, path: str | Path, name: str | None = None) -> SourceMapping:
        """The source named ``name``; else the only one; else the one whose ``files:`` match."""
        if name:
            return self.source(name)
        if len(self.sources) == 1:
            return next(iter(self.sources.values()))
        fname = Path(path).name
        hits = [s for s in self.sources.values() if any(fnmatch.fnmatch(fname, g) for g in s.spec.files)]
        if len(hits) != 1:
            raise SourceError(f"{fname}: {'several' if hits else 'no'} sources of {self.file} match; name one")
        return hits[0]
