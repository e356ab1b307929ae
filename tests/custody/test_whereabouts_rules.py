"""whereabouts_unknown in the rules: ±1 s around the threshold, the organisation's hours, only a
detained person, untouched by stays, UTC-normalised across DST, and never vanishing with time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.world import NOW
from tracker import rules, timefmt
from tracker.rules import CaseFacts, Policy, RequestFacts
from tracker.vocab import CustodyStatus, FlagKind, RequestKind, RequestStatus, StayForum

SEC = timedelta(seconds=1)
H = timedelta(hours=1)
CASE = uuid.UUID(int=7)


def unknown_since(since: datetime | None, **kw: object) -> CaseFacts:
    return CaseFacts(id=CASE, location_unknown_since=since, **kw)  # type: ignore[arg-type]


def whereabouts(case: CaseFacts, now: datetime, policy: Policy | None = None) -> list[rules.Flag]:
    return [f for f in rules.evaluate(case, now, policy) if f.kind is FlagKind.whereabouts_unknown]


@pytest.mark.parametrize(
    ("elapsed", "flagged"),
    [(24 * H - SEC, False), (24 * H, True), (24 * H + SEC, True), (timedelta(0), False)],
)
def test_flagged_from_the_default_24_hours_inclusive(elapsed: timedelta, flagged: bool) -> None:
    since = NOW - elapsed
    flags = whereabouts(unknown_since(since), NOW)
    assert bool(flags) is flagged
    if flags:
        [flag] = flags
        assert flag.due_at == since + 24 * H and flag.alerts
        assert flag.rung is None and flag.request_id is None and flag.case_id == CASE


@pytest.mark.parametrize(("elapsed", "flagged"), [(6 * H - SEC, False), (6 * H, True)])
def test_the_organisation_chooses_the_hours(elapsed: timedelta, flagged: bool) -> None:
    policy = Policy(whereabouts_hours=6)
    assert bool(whereabouts(unknown_since(NOW - elapsed), NOW, policy)) is flagged


def test_a_confirmed_location_is_never_flagged() -> None:
    assert whereabouts(unknown_since(None), NOW + 1000 * H) == []


@pytest.mark.parametrize(
    "status", [CustodyStatus.released, CustodyStatus.removed, CustodyStatus.unknown]
)
def test_only_a_detained_person_is_flagged(status: CustodyStatus) -> None:
    assert whereabouts(unknown_since(NOW - 48 * H, custody_status=status), NOW) == []


@pytest.mark.parametrize("forum", list(StayForum))
def test_a_stay_does_not_suppress_whereabouts_unknown(forum: StayForum) -> None:
    stay = RequestFacts(
        id=uuid.uuid4(),
        kind=RequestKind.stay_of_removal,
        status=RequestStatus.granted,
        decided_at=NOW - 50 * H,
        documentation_received_at=NOW - 50 * H,
        forum=forum,
    )
    assert whereabouts(unknown_since(NOW - 48 * H, requests=(stay,)), NOW)


def test_a_new_episode_re_arms_the_alert() -> None:
    first = whereabouts(unknown_since(NOW - 30 * H), NOW)[0]
    again = whereabouts(unknown_since(NOW - 25 * H), NOW)[0]
    assert first.dedupe_key() != again.dedupe_key()


def test_policy_rejects_non_positive_hours() -> None:
    with pytest.raises(ValueError):
        Policy(whereabouts_hours=0)


def test_dst_end_counts_real_hours() -> None:
    """Chicago leaves DST on 2026-11-01: 24 real hours after Sat 12:00 CDT is Sun 11:00 CST."""
    chicago = ZoneInfo("America/Chicago")
    since = datetime(2026, 10, 31, 12, 0, tzinfo=chicago)
    wall_next_noon = datetime(2026, 11, 1, 12, 0, tzinfo=chicago)  # 25 real hours later
    case = unknown_since(since)
    assert case.location_unknown_since is not None
    assert case.location_unknown_since.tzinfo is UTC  # normalised like every other time
    assert whereabouts(case, wall_next_noon - H - SEC) == []
    [flag] = whereabouts(case, wall_next_noon - H)
    assert flag.due_at == wall_next_noon - H
    local = timefmt.to_local(flag.due_at, "America/Chicago")
    assert (local.day, local.hour, local.tzname()) == (1, 11, "CST")


def test_dst_start_counts_real_hours() -> None:
    """New York enters DST on 2027-03-14: 24 h after Sat 12:00 EST is Sun 13:00 EDT."""
    ny = ZoneInfo("America/New_York")
    since = datetime(2027, 3, 13, 12, 0, tzinfo=ny)
    due = datetime(2027, 3, 14, 13, 0, tzinfo=ny)
    assert whereabouts(unknown_since(since), due - SEC) == []
    [flag] = whereabouts(unknown_since(since), due)
    assert flag.due_at == due.astimezone(UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        unknown_since(datetime(2026, 11, 23, 12, 0))


instants = st.integers(min_value=0, max_value=10 * 24 * 3600).map(
    lambda s: NOW + timedelta(seconds=s)
)


@settings(max_examples=200, deadline=None)
@given(
    since=instants,
    t1=instants,
    step=st.integers(min_value=0, max_value=5 * 24 * 3600),
    hours=st.integers(min_value=1, max_value=200),
)
def test_whereabouts_unknown_never_disappears_as_time_moves_forward(
    since: datetime, t1: datetime, step: int, hours: int
) -> None:
    policy = Policy(whereabouts_hours=hours)
    case = unknown_since(since)
    before = whereabouts(case, t1, policy)
    after = whereabouts(case, t1 + timedelta(seconds=step), policy)
    assert len(after) >= len(before)
    assert (t1 - since >= timedelta(hours=hours)) is bool(before)
