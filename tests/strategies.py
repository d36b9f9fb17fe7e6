"""Hypothesis strategies for valid records (shared by the property tests)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from streams.codes import AlertType, CallLine, CallType, Disposition, DisputeKind, DisputeStatus, PartyRole
from streams.ident import PROVINCES, id_check_digit
from streams.records import TZ, Call, GridEvent, Party, Place, VideoAlert

digits = st.text("0123456789", min_size=1, max_size=1)


@st.composite
def id_numbers(draw) -> str:
    prov = draw(st.sampled_from(sorted(PROVINCES)))
    rest = draw(st.text("0123456789", min_size=4, max_size=4))
    born = draw(st.dates(min_value=datetime(1930, 1, 1).date(), max_value=datetime(2020, 12, 31).date()))
    seq = draw(st.text("0123456789", min_size=3, max_size=3))
    first17 = f"{prov}{rest}{born:%Y%m%d}{seq}"
    return first17 + id_check_digit(first17)


phones = st.builds(lambda a, b: f"1{a}{b}", st.sampled_from("3456789"),
                   st.text("0123456789", min_size=9, max_size=9))


@st.composite
def region_codes(draw) -> str:
    prov = draw(st.sampled_from(sorted(PROVINCES)))
    parts = [draw(st.integers(1, 99)), draw(st.integers(1, 99)), draw(st.integers(1, 999)),
             draw(st.integers(1, 999))]
    return f"{prov}{parts[0]:02d}{parts[1]:02d}{parts[2]:03d}{parts[3]:03d}"


cjk = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=0, max_size=40)
names = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4)
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                     timezones=st.sampled_from([TZ, timezone.utc, timezone(timedelta(hours=8))]))
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40)

places = st.builds(Place, region_code=region_codes(), address=cjk,
                   lat=st.none() | st.floats(-90, 90), lon=st.none() | st.floats(-180, 180))
parties = st.builds(Party, role=st.sampled_from(list(PartyRole)), name=st.none() | names,
                    phone=st.none() | phones, id_number=st.none() | id_numbers())

calls = st.builds(Call, id=ids, occurred_at=times, line=st.sampled_from(list(CallLine)),
                  caller=parties, call_type=st.sampled_from(list(CallType)), place=places,
                  text=cjk, disposition=st.sampled_from(list(Disposition)),
                  parties=st.lists(parties, max_size=3))
grid_events = st.builds(GridEvent, id=ids, occurred_at=times, place=places, grid_id=ids,
                        dispute_kind=st.none() | st.sampled_from(list(DisputeKind)),
                        status=st.sampled_from(list(DisputeStatus)),
                        mediation_attempts=st.integers(0, 20), parties=st.lists(parties, max_size=4),
                        text=cjk)
video_alerts = st.builds(VideoAlert, id=ids, occurred_at=times, camera_id=ids, place=places,
                         alert_type=st.sampled_from(list(AlertType)),
                         confidence=st.floats(0, 1), head_count=st.integers(0, 500),
                         matched=st.none() | parties)
records = st.one_of(calls, grid_events, video_alerts)
