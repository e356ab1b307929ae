"""Stays from every forum: which stay protects, at and around its expiry, and the property that
a granted, unexpired stay from any forum always suppresses the removal flags."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.world import NOW
from tracker import rules
from tracker.rules import CaseFacts, RequestFacts
from tracker.vocab import (
    CustodyStatus,
    FacilityKind,
    FlagKind,
    RequestKind,
    RequestStatus,
    StayForum,
)

SEC = timedelta(seconds=1)
H = timedelta(hours=1)
CASE = uuid.UUID(int=1)
REMOVAL_FLAGS = {FlagKind.removal_imminent, FlagKind.removal_likely}
STAGED = NOW - 3 * H


def stay(
    forum: StayForum,
    expires: datetime | None,
    *,
    temporary: bool = False,
    status: RequestStatus = RequestStatus.granted,
) -> RequestFacts:
    return RequestFacts(
        id=uuid.uuid4(),
        kind=RequestKind.stay_of_removal,
        status=status,
        filed_at=NOW - 10 * H,
        decided_at=NOW - 9 * H,
        documentation_received_at=NOW - 9 * H,
        stay_expires_at=expires,
        forum=forum,
        temporary=temporary,
    )


def removal_in(hours: float, *requests: RequestFacts) -> CaseFacts:
    return CaseFacts(id=CASE, removal_scheduled_at=NOW + hours * H, requests=requests)


def kinds(case: CaseFacts, now: datetime = NOW) -> set[FlagKind]:
    return {f.kind for f in rules.evaluate(case, now)}


@pytest.mark.parametrize("forum", list(StayForum))
@pytest.mark.parametrize(
    ("expires_in", "suppressed"),
    [(SEC, True), (timedelta(0), False), (-SEC, False)],
)
def test_temporary_stay_suppresses_removal_until_its_expiry(
    forum: StayForum, expires_in: timedelta, suppressed: bool
) -> None:
    """±1 s: in force one second before its expiry; at and after the instant it protects no one."""
    case = removal_in(5, stay(forum, NOW + expires_in, temporary=True))
    assert (FlagKind.removal_imminent not in kinds(case)) is suppressed
    protecting = rules.protecting_stay(case.requests, NOW)
    assert (protecting is not None) is suppressed
    if protecting is not None:
        assert protecting.forum is forum and protecting.temporary


@pytest.mark.parametrize(
    ("until", "rung"),
    [(72 * H + SEC, None), (72 * H, 72), (24 * H + SEC, 72), (24 * H, 24), (6 * H, 6), (SEC, 6)],
)
def test_expiring_temporary_bia_stay_climbs_the_ladder(until: timedelta, rung: int | None) -> None:
    case = CaseFacts(id=CASE, requests=(stay(StayForum.bia, NOW + until, temporary=True),))
    flags = [f for f in rules.evaluate(case, NOW) if f.kind is FlagKind.stay_expiring]
    if rung is None:
        assert flags == []
    else:
        assert [f.rung for f in flags] == [rung]
        assert flags[0].due_at == NOW + until and flags[0].alerts


def test_a_pending_or_denied_court_stay_does_not_protect() -> None:
    for status in (RequestStatus.filed, RequestStatus.denied, RequestStatus.withdrawn):
        case = removal_in(5, stay(StayForum.circuit_court, None, status=status))
        assert FlagKind.removal_imminent in kinds(case)


def test_the_longest_protection_is_the_one_shown() -> None:
    temporary = stay(StayForum.circuit_court, NOW + 4 * H, temporary=True)
    ij = stay(StayForum.immigration_judge, NOW + 30 * 24 * H)
    bia = stay(StayForum.bia, None)
    assert rules.protecting_stay([temporary, ij], NOW) is ij
    assert rules.protecting_stay([temporary, ij, bia], NOW) is bia
    # When the long stay lapses, the temporary one (still in force) is what protects.
    assert rules.protecting_stay([temporary, stay(StayForum.ice, NOW - SEC)], NOW) is temporary


instants = st.integers(min_value=-30 * 24 * 3600, max_value=30 * 24 * 3600).map(
    lambda s: NOW + timedelta(seconds=s)
)


@st.composite
def granted_stays(draw: st.DrawFn, now: datetime) -> RequestFacts:
    """A granted stay from any forum, unexpired at ``now`` (or with no end date)."""
    left = draw(st.none() | st.integers(min_value=1, max_value=90 * 24 * 3600))
    temporary = left is not None and draw(st.booleans())
    return stay(
        draw(st.sampled_from(list(StayForum))),
        None if left is None else now + timedelta(seconds=left),
        temporary=temporary,
    )


@st.composite
def other_requests(draw: st.DrawFn) -> RequestFacts:
    return RequestFacts(
        id=uuid.uuid4(),
        kind=draw(st.sampled_from(list(RequestKind))),
        status=draw(st.sampled_from(list(RequestStatus))),
        filed_at=draw(st.none() | instants),
        forum=draw(st.sampled_from(list(StayForum))),
    )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), now=instants, removal=st.none() | instants)
def test_a_granted_stay_from_any_forum_always_suppresses_the_removal_flags(
    data: st.DataObject, now: datetime, removal: datetime | None
) -> None:
    active = data.draw(granted_stays(now))
    others = data.draw(st.lists(other_requests(), max_size=3))
    case = CaseFacts(
        id=CASE,
        removal_scheduled_at=removal,
        requests=(*others, active),
        facility_kind=data.draw(st.none() | st.sampled_from(list(FacilityKind))),
        facility_since=STAGED,
    )
    assert not REMOVAL_FLAGS & {f.kind for f in rules.evaluate(case, now)}
    assert rules.protecting_stay(case.requests, now) is not None


def staged(*requests: RequestFacts, **kw: object) -> CaseFacts:
    fields: dict[str, object] = {"facility_kind": FacilityKind.staging, "facility_since": STAGED}
    fields.update(kw)
    return CaseFacts(id=CASE, requests=requests, **fields)  # type: ignore[arg-type]


def test_a_staging_facility_flags_removal_likely_with_no_removal_date() -> None:
    [flag] = rules.evaluate(staged(), NOW)
    assert flag.kind is FlagKind.removal_likely and flag.alerts
    assert flag.due_at == STAGED and flag.rung is None and flag.request_id is None


@pytest.mark.parametrize("kind", [k for k in FacilityKind if k is not FacilityKind.staging])
def test_other_facilities_do_not_flag_removal_likely(kind: FacilityKind) -> None:
    assert rules.evaluate(staged(facility_kind=kind), NOW) == []


@pytest.mark.parametrize(
    "status", [CustodyStatus.released, CustodyStatus.removed, CustodyStatus.unknown]
)
def test_only_a_detained_person_is_likely_to_be_removed(status: CustodyStatus) -> None:
    assert rules.evaluate(staged(custody_status=status), NOW) == []


@pytest.mark.parametrize(
    ("expires_in", "flagged"), [(SEC, False), (timedelta(0), True), (-SEC, True)]
)
def test_a_stay_lifts_removal_likely_until_its_expiry(expires_in: timedelta, flagged: bool) -> None:
    case = staged(stay(StayForum.district_court, NOW + expires_in, temporary=True))
    assert (FlagKind.removal_likely in kinds(case)) is flagged


def test_a_new_placement_re_arms_removal_likely() -> None:
    first = rules.evaluate(staged(), NOW)[0]
    again = rules.evaluate(staged(facility_since=NOW - H), NOW)[0]
    assert first.dedupe_key() != again.dedupe_key()
