"""Reading other systems' exports: CSV, JSON arrays and JSON Lines, through a mapping file.

``MappedReader(path, mapping, source_name)`` yields ``streams.sources.Item``s in file order. A
row that cannot be parsed or does not validate becomes an ``Item`` whose ``error`` (a
``RecordRejected``) names the line, the yujing field and the source column; the reader never
raises for one row. Cells are turned into values here (times, numbers, codes, districts,
addresses); what goes where comes from ``streams.mapping``.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, TextIO
from zoneinfo import ZoneInfo

from .codec import decode_obj
from .errors import RecordRejected, SourceError
from .ident import check_region_code
from .mapping import Mapping, SourceMapping, Target
from .sources import Item


# ---- cells into values -------------------------------------------------------------------

class CellError(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                 "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日%H时%M分%S秒",
                 "%Y年%m月%d日%H时%M分", "%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日")
_DIGIT_FORMATS = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}


def parse_time(value: Any, tz: ZoneInfo, formats: tuple[str, ...] = ()) -> datetime:
    """A source time → a datetime in ``tz``. Naive times are read in ``tz``; 10 / 13 digits are
    epoch seconds / milliseconds; a time with an offset is converted.

    >>> tz = ZoneInfo("Asia/Shanghai")
    >>> [str(parse_time(v, tz)) for v in ("2026/05/01 09:30:00", "20260501093000", 1777599000000)]
    ['2026-05-01 09:30:00+08:00', '2026-05-01 09:30:00+08:00', '2026-05-01 09:30:00+08:00']
    """
    s = " ".join(str(value).split())
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number or re.fullmatch(r"\d{10}(\d{3})?(\.\d+)?", s):
        n = float(value)
        return datetime.fromtimestamp(n / 1000 if abs(n) >= 1e11 else n, tz)
    fmts = formats + ((_DIGIT_FORMATS[len(s)],) if s.isdigit() and len(s) in _DIGIT_FORMATS else ())
    for f in fmts + (() if s.isdigit() else ("iso",) + _TIME_FORMATS):
        try:
            t = datetime.fromisoformat(s) if f == "iso" else datetime.strptime(s, f)
            return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)
        except ValueError:
            pass
    raise CellError("bad_type", f"cannot read {s!r} as a time")


_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def normalise_address(value: str) -> str:
    """Chinese: NFKC (full-width → half-width) and no spaces next to Chinese characters.
    Anything else: case-folded and single-spaced, nothing more.

    >>> normalise_address("  Room 1203,  Tower B\\tRiverside ")
    'room 1203, tower b riverside'
    >>> normalise_address("河东区 东关街道 建设路１２号")
    '河东区东关街道建设路12号'
    """
    s = " ".join(str(value).split())
    if re.search(f"[{_CJK}]", s):
        return _CJK_SPACE.sub("", unicodedata.normalize("NFKC", s))
    return s.casefold()


def _number(value: Any, kind: str, scale: float | None) -> int | float:
    s = str(value).strip().replace(",", "")
    pct = s.endswith("%")
    try:
        n = float(s.rstrip("%")) * (0.01 if pct else (scale or 1))  # 82% is 0.82 whatever the scale
    except ValueError:
        raise CellError("bad_type", f"{s!r} is not a number") from None
    if kind == "int":
        if n != int(n):
            raise CellError("bad_type", f"{s!r} is not a whole number")
        return int(n)
    return round(n, 9)


# ---- rows into records -------------------------------------------------------------------

def to_record(src: SourceMapping, row: dict[str, Any], *, line: int, content: str):
    """One parsed row → a record; ``RecordRejected`` names the field and the source column."""
    obj = build(src, row, line=line, content=content)
    try:
        return decode_obj(obj, line=line)
    except RecordRejected as exc:
        cols = [t.column for t in src.columns if _related(exc.field, t)]
        detail = exc.detail + (f" [column {', '.join(cols)}]" if cols else "")
        raise RecordRejected(exc.reason, detail, field=exc.field, record_id=exc.record_id,
                             line=line) from None


def build(src: SourceMapping, row: dict[str, Any], *, line: int, content: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": src.spec.kind, "source": src.name}
    raw_codes: dict[str, str] = {}
    for t, value in src.constants:
        _put(obj, t.parts, value)
    appended: list[tuple[Target, list[Any]]] = []
    for t in src.columns:
        cell = _cell(row, t.column)
        if cell is None or (isinstance(cell, str) and cell.strip() in src.nulls):
            continue
        try:
            if t.spec.split is not None:
                pieces = cell if isinstance(cell, list) else re.split(
                    f"[{re.escape(t.spec.split)}]", str(cell))
                pieces = [p for p in pieces if str(p).strip() not in src.nulls]
                appended.append((t, [_value(src, t, p, raw_codes) for p in pieces]))
                continue
            _put(obj, t.parts, _value(src, t, cell, raw_codes))
            for et, v in t.extra:
                _put(obj, et.parts, v)
        except CellError as exc:
            raise RecordRejected(exc.reason, f"{exc} [column {t.column}]", field=t.path,
                                 line=line) from None
    for t, values in appended:
        for v in values:
            item = {et.parts[-1][0]: x for et, x in t.extra}
            item[t.parts[-1][0]] = v
            _put(obj, t.parts[:-1], item)
    if raw_codes:
        obj["raw_codes"] = raw_codes
    obj["id"] = f"{src.spec.id_prefix}{obj['id']}" if obj.get("id") else src.stable_id(content)
    return obj


def _value(src: SourceMapping, t: Target, cell: Any, raw_codes: dict[str, str]) -> Any:
    if t.leaf == "time":
        return parse_time(cell, src.tz, (t.spec.format,) if t.spec.format else ())
    if t.leaf in ("int", "float"):
        return _number(cell, t.leaf, t.spec.scale)
    s = str(cell).strip()
    if t.leaf == "address":
        return normalise_address(s)
    if t.leaf == "region":
        return _region(src, t, s, raw_codes)
    if t.leaf == "code":
        table = src.codes.get(t.path, {})
        code = table.get(s) or table.get(s.casefold())
        if code is None and s in {c.value for c in t.enum}:
            code = s
        if code is None:
            code = table.get("*") or ("other" if "other" in {c.value for c in t.enum} else None)
            if code is None:
                raise CellError("unknown_category", f"code {s!r} is not in the mapping for "
                                f"{t.path}, which has no 'other' (add it, or a '*' fallback)")
            raw_codes[t.path] = s[:128]
        return code
    return s


def _region(src: SourceMapping, t: Target, s: str, raw_codes: dict[str, str]) -> str:
    code = src.districts.get(s) or src.folded_districts.get(s.casefold())
    if code:
        return code
    try:
        return check_region_code(s)
    except ValueError as exc:
        why = f"{s!r}: {exc}" if s.isdigit() else f"no region code for {s!r} (add it under districts:)"
    if "*" in src.districts:
        raw_codes[t.path] = s[:128]
        return src.districts["*"]
    raise CellError("bad_region_code" if s.isdigit() else "unknown_region", why)


def _cell(row: dict[str, Any], column: str | None) -> Any:
    if column in row:
        return row[column]
    cur: Any = row
    for key in str(column).split("."):  # a nested JSON key: target.name
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _put(obj: dict[str, Any], parts: list[tuple[str, Any]], value: Any) -> None:
    for i, (name, idx) in enumerate(parts):
        last = i == len(parts) - 1
        if idx is None:
            if last:
                obj[name] = value
                return
            obj = obj.setdefault(name, {})
            continue
        items = obj.setdefault(name, [])
        if idx == "":
            items.append(value if last else {})
            if last:
                return
            obj = items[-1]
            continue
        while len(items) <= idx:
            items.append({})
        if last:
            items[idx] = value
            return
        obj = items[idx]


def _related(field: str, t: Target) -> bool:
    """Does a pydantic error at ``field`` (parties.1.name) concern target ``t`` (parties[].name)?"""
    if not field:
        return False
    mine = re.sub(r"\[\d*\]", "", t.path).split(".")
    theirs = [p for p in field.split(".") if not p.isdigit()]
    n = min(len(mine), len(theirs))
    return mine[:n] == theirs[:n]


# ---- files into rows -----------------------------------------------------------------------

def detect_encoding(path: Path, declared: str | None = None) -> str:
    """utf-8-sig if the file has a BOM, else utf-8 if every byte decodes as UTF-8, else gb18030
    (a superset of GBK, what Chinese government systems usually write)."""
    with path.open("rb") as fh:
        bom = fh.read(3) == codecs.BOM_UTF8
        if declared:
            return "utf-8-sig" if bom and codecs.lookup(declared).name == "utf-8" else declared
        if bom:
            return "utf-8-sig"
        fh.seek(0)
        dec = codecs.getincrementaldecoder("utf-8")()
        try:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                dec.decode(chunk)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


Row = tuple[int, str, "dict[str, Any] | RecordRejected", str]  # line, raw text, row or error, content


def csv_rows(fh: TextIO, delimiter: str = ",") -> Iterator[Row]:
    """The first non-empty row is the header; each later row starts at the line it reports."""
    taken: list[str] = []

    def lines() -> Iterator[str]:
        for text in fh:
            taken.append(text)
            yield text

    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells = exc
        raw = "".join(taken).rstrip("\r\n")
        taken.clear()
        line, start = start, reader.line_num + 1
        if isinstance(cells, csv.Error):
            yield line, raw, RecordRejected("malformed_json", f"CSV: {cells}", line=line), raw
        elif not any(c.strip() for c in cells):
            continue
        elif header is None:
            header = [c.strip().lstrip("\ufeff") for c in cells]
        elif len(cells) != len(header):
            yield line, raw, RecordRejected(
                "malformed_json", f"row has {len(cells)} cells, the header has {len(header)}",
                line=line), raw
        else:
            yield line, raw, dict(zip(header, cells)), json.dumps(cells, ensure_ascii=False)


def _content(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _row(line: int, raw: str, obj: Any) -> Row:
    if not isinstance(obj, dict):
        return line, raw, RecordRejected("malformed_json", "not a JSON object", line=line), raw
    return line, raw, obj, _content(obj)


def json_rows(fh: TextIO) -> Iterator[Row]:
    """The elements of a top-level JSON array, each with the line it starts on."""
    text, dec, ws = fh.read(), json.JSONDecoder(), re.compile(r"\s*")
    i = ws.match(text).end()
    if text[i:i + 1] != "[":
        yield 1, text[:200], RecordRejected("malformed_json", "expected a JSON array", line=1), ""
        return
    i, line, counted = ws.match(text, i + 1).end(), 1, 0
    while i < len(text) and text[i] != "]":
        line, counted = line + text.count("\n", counted, i), i
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:  # the rest of the file cannot be trusted
            yield line, text[i:i + 200], RecordRejected(
                "malformed_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}", line=line), ""
            return
        yield _row(line, text[i:end], obj)
        i = ws.match(text, end).end()
        if text[i:i + 1] == ",":
            i = ws.match(text, i + 1).end()
        elif text[i:i + 1] != "]":
            at = line + text.count("\n", counted, i)
            yield at, text[i:i + 200], RecordRejected("malformed_json", "expected , or ]", line=at), ""
            return


def jsonl_rows(fh: TextIO) -> Iterator[Row]:
    for n, text in enumerate(fh, 1):
        raw = text.rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            yield _row(n, raw, json.loads(raw))
        except json.JSONDecodeError as exc:
            yield n, raw, RecordRejected("malformed_json", exc.msg, line=n), raw


SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json",
                  ".jsonl": "jsonl", ".ndjson": "jsonl"}


class MappedReader:
    """Another system's export file read through one source of a mapping file."""

    def __init__(self, path: str | Path, mapping: Mapping | str | Path, source_name: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"input file not found: {self.path}")
        if not isinstance(mapping, Mapping):
            mapping = Mapping.load(mapping)
        self.mapping: SourceMapping = mapping.source_for(self.path, source_name)
        self.name = self.mapping.name
        self.format = self.mapping.spec.format or SUFFIX_FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise SourceError(f"{self.path.name}: cannot tell the format from the suffix; set format:")

    def __iter__(self) -> Iterator[Item]:
        enc = detect_encoding(self.path, self.mapping.spec.encoding)
        with self.path.open("r", encoding=enc, errors="replace", newline="") as fh:
            rows = (csv_rows(fh, self.mapping.spec.delimiter) if self.format == "csv"
                    else json_rows(fh) if self.format == "json" else jsonl_rows(fh))
            yield from _items(rows, lambda row, n, c: to_record(self.mapping, row, line=n, content=c),
                              self.name)


class JsonArrayFile:
    """A JSON array of records already in yujing's form (no mapping needed)."""

    def __init__(self, path: str | Path):
        self.path, self.name = Path(path), Path(path).name
        if not self.path.is_file():
            raise SourceError(f"input file not found: {self.path}")

    def __iter__(self) -> Iterator[Item]:
        with self.path.open("r", encoding="utf-8-sig", errors="replace") as fh:
            yield from _items(json_rows(fh), lambda row, n, c: decode_obj(row, line=n), self.name)


def _items(rows: Iterator[Row], convert, name: str) -> Iterator[Item]:
    for line, raw, row, content in rows:
        if isinstance(row, RecordRejected):
            yield Item(line, raw, None, row, name)
            continue
        try:
            yield Item(line, raw, convert(row, line, content), None, name)
        except RecordRejected as exc:
            yield Item(line, raw, None, exc, name)
