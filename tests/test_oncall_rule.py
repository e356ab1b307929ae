"""Who is on call at an instant (tracker.oncall): overlaps, gaps, and weekly shifts that keep
their local wall-clock times across DST (New York: 2026-03-08 spring forward, 2026-11-01
fall back)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.oncall import WEEK, Shift, covering, occurrence, on_call_at, starting_between

NY = ZoneInfo("America/New_York")


def _ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


# Friday 18:00 to Monday 08:00, New York, from the Friday before spring forward.
WEEKEND = Shift(uuid.uuid4(), _ny(2026, 3, 6, 18), _ny(2026, 3, 9, 8), weekly=True)
# Friday 18:00 to Saturday 06:00, from the Friday before fall back (2026-11-01).
AUTUMN = Shift(uuid.uuid4(), _ny(2026, 10, 30, 18), _ny(2026, 10, 31, 6), weekly=True)


@pytest.mark.parametrize(
    ("shift", "instant", "on_call"),
    [
        # First occurrence spans spring forward: 23:00Z to 12:00Z Monday (EDT).
        (WEEKEND, datetime(2026, 3, 6, 23, 0, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 3, 6, 22, 59, tzinfo=UTC), False),
        (WEEKEND, datetime(2026, 3, 9, 11, 59, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 3, 9, 12, 0, tzinfo=UTC), False),
        # A week later, in EDT: 18:00 local is 22:00Z, not 23:00Z.
        (WEEKEND, datetime(2026, 3, 13, 21, 59, tzinfo=UTC), False),
        (WEEKEND, datetime(2026, 3, 13, 22, 0, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 3, 16, 11, 59, tzinfo=UTC), True),
        (WEEKEND, datetime(2026, 3, 16, 12, 0, tzinfo=UTC), False),
        # Midweek gap: nobody.
        (WEEKEND, datetime(2026, 3, 11, 12, 0, tzinfo=UTC), False),
        # Before the first occurrence: nobody, even a week earlier's wall time.
        (WEEKEND, datetime(2026, 2, 27, 23, 30, tzinfo=UTC), False),
        # Fall back: 18:00 EDT is 22:00Z; a week later 18:00 EST is 23:00Z.
        (AUTUMN, datetime(2026, 10, 30, 22, 0, tzinfo=UTC), True),
        (AUTUMN, datetime(2026, 11, 6, 22, 30, tzinfo=UTC), False),
        (AUTUMN, datetime(2026, 11, 6, 23, 0, tzinfo=UTC), True),
        (AUTUMN, datetime(2026, 11, 7, 10, 59, tzinfo=UTC), True),
        (AUTUMN, datetime(2026, 11, 7, 11, 0, tzinfo=UTC), False),
    ],
)
def test_weekly_shift_keeps_local_times_across_dst(
    shift: Shift, instant: datetime, on_call: bool
) -> None:
    assert (covering(shift, instant, NY) is not None) is on_call


def test_overlapping_shifts_are_all_on_call_and_a_gap_leaves_nobody() -> None:
    evening = Shift(uuid.uuid4(), _ny(2026, 3, 2, 18), _ny(2026, 3, 2, 23))
    night = Shift(uuid.uuid4(), _ny(2026, 3, 2, 22), _ny(2026, 3, 3, 6))
    both = [evening, night]
    assert [o.shift for o in on_call_at(both, _ny(2026, 3, 2, 22, 30), NY)] == both
    assert [o.shift for o in on_call_at(both, _ny(2026, 3, 2, 19), NY)] == [evening]
    assert [o.shift for o in on_call_at(both, _ny(2026, 3, 2, 23), NY)] == [night]
    assert on_call_at(both, _ny(2026, 3, 3, 6), NY) == []
    assert on_call_at(both, _ny(2026, 3, 3, 12), NY) == []


def test_a_one_off_shift_does_not_repeat() -> None:
    once = Shift(uuid.uuid4(), _ny(2026, 3, 2, 18), _ny(2026, 3, 2, 23))
    assert covering(once, _ny(2026, 3, 2, 20), NY) is not None
    assert covering(once, _ny(2026, 3, 9, 20), NY) is None


def test_starting_between_finds_each_occurrence_start_once() -> None:
    start = datetime(2026, 3, 13, 22, 0, tzinfo=UTC)  # the EDT occurrence of WEEKEND
    [occ] = starting_between([WEEKEND], start - timedelta(minutes=30), start, NY)
    assert occ.starts_at == start
    assert starting_between([WEEKEND], start, start + timedelta(minutes=30), NY) == []


ZONES = [ZoneInfo(z) for z in ("America/New_York", "America/Los_Angeles", "UTC", "Europe/Paris")]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=7 * 24 * 60),
    offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120)),
)
def test_covering_agrees_with_walking_every_occurrence(
    zone: ZoneInfo, start: datetime, minutes: int, offset: timedelta
) -> None:
    shift = Shift(uuid.uuid4(), start, start + timedelta(minutes=minutes), weekly=True)
    t = start + offset
    expected = [
        occ
        for k in range(0, 20)
        if (occ := occurrence(shift, k, zone)).starts_at <= t < occ.ends_at
    ]
    found = covering(shift, t, zone)
    assert (found is not None) == bool(expected)
    if found is not None:
        assert found in expected
        # Every occurrence starts at the first one's local weekday and wall time, or an
        # hour later when that wall time does not exist that day (spring forward).
        first, this = start.astimezone(zone), found.starts_at.astimezone(zone)
        drift = (this.replace(tzinfo=None) - first.replace(tzinfo=None)) % WEEK
        assert drift in (timedelta(0), timedelta(hours=1))
