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


def test_code_value_getter_matches_enum():
    """``streams.codes.Code.value`` is a C-level getter (bodies serialise ~20 % faster): for
    every code it must give what the standard ``Enum.value`` descriptor gives."""
    import enum

    from streams import codes

    standard = enum.Enum.__dict__["value"]
    members = [m for c in vars(codes).values()
               if isinstance(c, type) and issubclass(c, codes.Code) and c is not codes.Code
               for m in c]
    assert len(members) > 30
    for m in members:
        assert m.value == standard.__get__(m, type(m)) and type(m.value) is str


def test_record_body_bytes_unchanged():
    """The stored body of a grid event, byte for byte as written before the faster enum getter
    (the text below was produced by the earlier code): stored values did not change."""
    from streams.records import GridEvent

    e = GridEvent(id="g1", occurred_at=datetime(2026, 5, 1, 9, 30, 0, 123000, tzinfo=TZ),
                  place={"region_code": "620102003004", "address": "城关区张掖路12号"},
                  grid_id="G-01", dispute_kind="neighbour", status="mediating",
                  parties=[{"role": "respondent", "name": "李四", "phone": "13800138000"}],
                  text='邻居"噪音"\n纠纷')
    assert record_columns([e], {})["body"][0].decode("utf-8") == (
        '{"id":"g1","schema_version":1,"occurred_at":"2026-05-01T09:30:00.123000+08:00",'
        '"source":"","kind":"grid_event","place":{"region_code":"620102003004",'
        '"address":"城关区张掖路12号"},"grid_id":"G-01","category":"dispute",'
        '"dispute_kind":"neighbour","status":"mediating","mediation_attempts":0,'
        '"reporter":"grid_worker","parties":[{"role":"respondent","name":"李四",'
        '"phone":"13800138000"}],"text":"邻居\\"噪音\\"\\n纠纷"}')


@settings(max_examples=40, deadline=None)
@given(st.lists(strategies.records, min_size=1, max_size=6, unique_by=lambda r: r.id),
       st.data())
def test_record_columns_cases_and_given_bodies(records, data):
    """The per-column comprehensions give what the plain per-record reading gives, with some
    records linked to cases, some bodies handed over and a feedback record among them."""
    from streams.records import Feedback

    fb = Feedback(id="fb-x", occurred_at=datetime(2026, 5, 1, 10, tzinfo=TZ), case_id="C-9",
                  outcome="resolved")
    recs = records + [fb] if data.draw(st.booleans()) else records
    ids = [r.id for r in recs]
    cases = {i: f"C-{n}" for n, i in enumerate(ids) if data.draw(st.booleans())}
    given = {i: f'{{"given":"{i}"}}' for i in ids if data.draw(st.booleans())}
    cols = record_columns(recs, cases, given)
    assert cols["id"] == ids and cols["kind"] == [r.kind for r in recs]
    assert cols["occurred_at"] == [r.occurred_at for r in recs]
    assert cols["case_id"] == [cases.get(r.id) or getattr(r, "case_id", None) or "" for r in recs]
    assert cols["body"] == [given[r.id] if r.id in given else encode(r).encode() for r in recs]
