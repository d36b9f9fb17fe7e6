"""yujing's one exception tree. Catch the narrowest class that you can handle.

::

    YujingError
    ├── ConfigError            bad settings or a bad config/mapping/rule file (names file and line)
    ├── InputError             one input record cannot be used; the stream goes on
    │   └── RecordRejected     carries ``reason`` (a code for metrics), ``field`` and ``detail``
    ├── SourceError            a source cannot be read at all (file missing, broker unreachable)
    └── SinkError              a sink cannot take data
        └── SinkUnavailable    ... for now; retry later (the runner waits, nothing is dropped)
"""
from __future__ import annotations


class YujingError(Exception):
    """Base of every error yujing raises on purpose."""


class ConfigError(YujingError):
    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message)
        self.file, self.line = file, line


class InputError(YujingError):
    pass


# Reject reasons: a closed set so that metric labels stay bounded.
REJECT_REASONS = (
    "malformed_json",    # the line is not JSON / the CSV row cannot be parsed
    "unknown_kind",      # no such record kind
    "missing_field",
    "bad_type",          # a value of the wrong type or format
    "bad_value",         # out of range or otherwise invalid
    "bad_id_number",     # 身份证号 fails GB 11643
    "bad_phone",
    "bad_region_code",   # not a valid 12-digit code
    "unknown_region",    # well-formed but not a region of this deployment
    "unknown_category",  # a code outside yujing's categories
    "unknown_field",
    "too_large",
)


class RecordRejected(InputError):
    """A record that cannot be used, with why: ``reason`` is one of ``REJECT_REASONS``."""

    def __init__(self, reason: str, detail: str, *, field: str = "", record_id: str = "",
                 line: int | None = None):
        assert reason in REJECT_REASONS, reason
        where = f"line {line}: " if line else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{detail} ({reason})")
        self.reason, self.detail, self.field = reason, detail, field
        self.record_id, self.line = record_id, line


class SourceError(YujingError):
    pass


class SinkError(YujingError):
    pass


class SinkUnavailable(SinkError):
    """The sink is down or slow right now; the caller keeps the data and retries."""
