"""The store's column builders take shortcuts for speed (benchmarks/bench_sinks.py): each is
checked here against the plain form it replaces, on generated data. No store needed.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.schema import epoch_ms
from sinks.store import record_columns
from streams.codec import encode
from streams.records import TZ

from . import strategies


@settings(max_examples=60, deadline=None)
@given(st.lists(strategies.records, min_size=1, max_size=5))
def test_record_body_is_the_wire_form(records):
    """``records.body`` is built straight from the models' serializer as bytes: the same text
    as ``streams.codec.encode``, the JSONL wire form."""
    cols = record_columns(records, {})
    assert [b.decode("utf-8") for b in cols["body"]] == [encode(r) for r in records]
    assert cols["region_code"] == [r.place.region_code for r in records]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1),
                             timezones=st.sampled_from([TZ, timezone.utc, timezone(timedelta(hours=-5, minutes=-30))])),
                min_size=64, max_size=200))
def test_epoch_ms_arrow_path_is_exact(times):
    """Long lists of aware times go through Arrow: the same floored milliseconds as the plain
    integer arithmetic, before 1970 and across China's 1986-91 summer times too."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert epoch_ms(times) == [(t - epoch) // timedelta(milliseconds=1) for t in times]
    mixed = times + [datetime(2026, 5, 1, 9, 30, 0, 1500)]  # one naive time: read as Shanghai
    assert epoch_ms(mixed)[-1] == epoch_ms([datetime(2026, 5, 1, 9, 30, 0, 1500, tzinfo=TZ)])[0]
