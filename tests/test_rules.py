"""The deadline rules: every rule at and around each boundary, DST, and properties."""

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
from tracker.vocab import CustodyStatus, FlagKind, RequestKind, RequestStatus

T0 = NOW
SEC = timedelta(seconds=1)
H = timedelta(hours=1)
CASE = uuid.UUID(int=1)
REQ = uuid.UUID(int=2)


def kinds(flags: list[rules.Flag]) -> list[FlagKind]:
    return [f.kind for f in flags]


def removal_case(at: datetime, *requests: RequestFacts, **kw: object) -> CaseFacts:
    return CaseFacts(id=CASE, removal_scheduled_at=at, requests=requests, **kw)  # type: ignore[arg-type]


# --- Rule 1: removal imminent -------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "rung"),
    [
        (80 * H, None),
        (72 * H + SEC, None),
        (72 * H, 72),
        (72 * H - SEC, 72),
        (24 * H + SEC, 72),
        (24 * H, 24),
        (6 * H + SEC, 24),
        (6 * H, 6),
        (SEC, 6),
        (timedelta(0), 6),
        (-5 * H, 6),  # past the scheduled time, still flagged until the data changes
    ],
)
def test_removal_ladder_boundaries(until: timedelta, rung: int | None) -> None:
    flags = rules.evaluate(removal_case(T0 + until), T0)
    if rung is None:
        assert flags == []
    else:
        assert kinds(flags) == [FlagKind.removal_imminent]
        assert flags[0].rung == rung
        assert flags[0].due_at == T0 + until


def test_removal_ladder_from_policy() -> None:
    policy = Policy(ladder_hours=(48, 12))
    assert rules.evaluate(removal_case(T0 + 60 * H), T0, policy) == []
    assert rules.evaluate(removal_case(T0 + 48 * H), T0, policy)[0].rung == 48
    assert rules.evaluate(removal_case(T0 + 11 * H), T0, policy)[0].rung == 12


def granted_stay(
    expires: datetime | None,
    kind: RequestKind = RequestKind.stay_of_removal,
    root: RequestKind | None = None,
) -> RequestFacts:
    return RequestFacts(
        id=REQ,
        kind=kind,
        status=RequestStatus.granted,
        filed_at=T0 - 100 * H,
        decided_at=T0 - 50 * H,
        documentation_received_at=T0 - 49 * H,
        stay_expires_at=expires,
        appeal_root_kind=root,
    )


def test_granted_unexpired_stay_suppresses_removal() -> None:
    flags = rules.evaluate(removal_case(T0 + 5 * H, granted_stay(None)), T0)
    assert FlagKind.removal_imminent not in kinds(flags)


def test_expired_stay_does_not_suppress_removal() -> None:
    expired = granted_stay(T0 - SEC)
    assert FlagKind.removal_imminent in kinds(rules.evaluate(removal_case(T0 + 5 * H, expired), T0))
    # At the exact expiry instant the stay is no longer in force.
    at_expiry = granted_stay(T0)
    assert FlagKind.removal_imminent in kinds(
        rules.evaluate(removal_case(T0 + 5 * H, at_expiry), T0)
    )
    still = granted_stay(T0 + SEC)
    assert FlagKind.removal_imminent not in kinds(
        rules.evaluate(removal_case(T0 + 5 * H, still), T0)
    )


def test_granted_appeal_of_stay_suppresses_but_other_grants_do_not() -> None:
    appeal = granted_stay(None, kind=RequestKind.appeal, root=RequestKind.stay_of_removal)
    assert FlagKind.removal_imminent not in kinds(rules.evaluate(removal_case(T0 + H, appeal), T0))
    release = granted_stay(None, kind=RequestKind.release)
    assert FlagKind.removal_imminent in kinds(rules.evaluate(removal_case(T0 + H, release), T0))
    pending = RequestFacts(
        id=REQ, kind=RequestKind.stay_of_removal, status=RequestStatus.filed, filed_at=T0 - H
    )
    assert FlagKind.removal_imminent in kinds(rules.evaluate(removal_case(T0 + H, pending), T0))


def test_removed_or_closed_cases_have_no_removal_flag() -> None:
    removed = removal_case(T0 + H, custody_status=CustodyStatus.removed)
    assert rules.evaluate(removed, T0) == []
    closed = removal_case(T0 + H, closed_at=T0 - H)
    assert rules.evaluate(closed, T0) == []


# --- Rule 2: the 48-hour documentation window ------------------------------------------------


def decided(
    at: datetime, documented: datetime | None = None, status: RequestStatus = RequestStatus.denied
) -> CaseFacts:
    req = RequestFacts(
        id=REQ,
        kind=RequestKind.prosecutorial_discretion,
        status=status,
        filed_at=at - 240 * H,
        decided_at=at,
        documentation_received_at=documented,
    )
    return CaseFacts(id=CASE, requests=(req,))


@pytest.mark.parametrize(
    ("elapsed", "kind"),
    [
        (timedelta(0), FlagKind.documentation_due),
        (47 * H + 59 * timedelta(minutes=1), FlagKind.documentation_due),
        (48 * H - SEC, FlagKind.documentation_due),
        (48 * H, FlagKind.documentation_due),  # due AT 48 h, overdue only after it
        (48 * H + SEC, FlagKind.documentation_overdue),
        (48 * H + timedelta(minutes=1), FlagKind.documentation_overdue),
        (30 * 24 * H, FlagKind.documentation_overdue),
    ],
)
def test_documentation_window_boundaries(elapsed: timedelta, kind: FlagKind) -> None:
    flags = rules.evaluate(decided(T0), T0 + elapsed)
    assert kinds(flags) == [kind]
    assert flags[0].due_at == T0 + 48 * H
    assert flags[0].request_id == REQ


@pytest.mark.parametrize("status", [RequestStatus.granted, RequestStatus.denied])
def test_documentation_clears_the_window(status: RequestStatus) -> None:
    assert rules.evaluate(decided(T0, documented=T0 + 60 * H, status=status), T0 + 61 * H) == []


def test_undecided_request_has_no_documentation_window() -> None:
    req = RequestFacts(id=REQ, kind=RequestKind.release, status=RequestStatus.draft)
    assert rules.evaluate(CaseFacts(id=CASE, requests=(req,)), T0) == []


# --- Rule 3: no response -------------------------------------------------------------------


def filed(
    at: datetime,
    kind: RequestKind = RequestKind.prosecutorial_discretion,
    status: RequestStatus = RequestStatus.filed,
) -> CaseFacts:
    return CaseFacts(
        id=CASE, requests=(RequestFacts(id=REQ, kind=kind, status=status, filed_at=at),)
    )


@pytest.mark.parametrize(
    ("elapsed", "flagged"),
    [(14 * 24 * H - SEC, False), (14 * 24 * H, True), (14 * 24 * H + SEC, True), (H, False)],
)
def test_unanswered_after_default_days(elapsed: timedelta, flagged: bool) -> None:
    flags = rules.evaluate(filed(T0), T0 + elapsed)
    assert kinds(flags) == ([FlagKind.unanswered] if flagged else [])
    if flagged:
        assert flags[0].due_at == T0 + 14 * 24 * H


def test_unanswered_days_per_request_kind() -> None:
    policy = Policy(unanswered_days={"stay_of_removal": 3}, default_unanswered_days=21)
    stay = filed(T0, RequestKind.stay_of_removal)
    assert kinds(rules.evaluate(stay, T0 + 3 * 24 * H, policy)) == [FlagKind.unanswered]
    pd = filed(T0, RequestKind.prosecutorial_discretion)
    assert rules.evaluate(pd, T0 + 20 * 24 * H, policy) == []
    assert kinds(rules.evaluate(pd, T0 + 21 * 24 * H, policy)) == [FlagKind.unanswered]


@pytest.mark.parametrize("status", [RequestStatus.draft, RequestStatus.withdrawn])
def test_unfiled_or_withdrawn_requests_are_not_unanswered(status: RequestStatus) -> None:
    assert rules.evaluate(filed(T0, status=status), T0 + 100 * 24 * H) == []


# --- Rule 4: appeals get their own window ------------------------------------------------------


def test_appeal_has_its_own_documentation_window() -> None:
    original = RequestFacts(
        id=REQ,
        kind=RequestKind.stay_of_removal,
        status=RequestStatus.denied,
        filed_at=T0 - 300 * H,
        decided_at=T0 - 200 * H,
        documentation_received_at=T0 - 190 * H,
    )
    appeal_id = uuid.UUID(int=3)
    appeal = RequestFacts(
        id=appeal_id,
        kind=RequestKind.appeal,
        status=RequestStatus.denied,
        filed_at=T0 - 100 * H,
        decided_at=T0,
        appeal_root_kind=RequestKind.stay_of_removal,
    )
    flags = rules.evaluate(CaseFacts(id=CASE, requests=(original, appeal)), T0 + 49 * H)
    assert [(f.kind, f.request_id) for f in flags] == [(FlagKind.documentation_overdue, appeal_id)]


# --- Rule 5: stay expiry ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "rung"),
    [(73 * H, None), (72 * H, 72), (24 * H, 24), (6 * H + SEC, 24), (6 * H, 6), (-H, 6)],
)
def test_stay_expiry_ladder(until: timedelta, rung: int | None) -> None:
    flags = [
        f
        for f in rules.evaluate(CaseFacts(id=CASE, requests=(granted_stay(T0 + until),)), T0)
        if f.kind is FlagKind.stay_expiring
    ]
    assert [f.rung for f in flags] == ([rung] if rung else [])


def test_stay_without_expiry_never_expires() -> None:
    assert rules.evaluate(CaseFacts(id=CASE, requests=(granted_stay(None),)), T0 + 1000 * H) == []


# --- Dedupe keys, ordering, time zones ---------------------------------------------------------


def test_dedupe_key_changes_with_rung_and_date() -> None:
    a = rules.evaluate(removal_case(T0 + 70 * H), T0)[0]
    b = rules.evaluate(removal_case(T0 + 70 * H), T0 + 50 * H)[0]
    moved = rules.evaluate(removal_case(T0 + 71 * H), T0)[0]
    assert a.rung == 72 and b.rung == 24
    assert len({a.dedupe_key(), b.dedupe_key(), moved.dedupe_key()}) == 3
    assert a.dedupe_key() == rules.evaluate(removal_case(T0 + 70 * H), T0 + H)[0].dedupe_key()


def test_flags_sorted_soonest_first() -> None:
    req = RequestFacts(
        id=REQ,
        kind=RequestKind.release,
        status=RequestStatus.denied,
        filed_at=T0 - 300 * H,
        decided_at=T0 - 10 * H,
    )
    flags = rules.evaluate(removal_case(T0 + 5 * H, req), T0)
    assert kinds(flags) == [FlagKind.removal_imminent, FlagKind.documentation_due]


def test_dst_end_ladder_counts_real_hours() -> None:
    """Chicago leaves DST on 2026-11-01: 72 real hours span 73 wall-clock hours."""
    chicago = ZoneInfo("America/Chicago")
    removal = datetime(2026, 11, 3, 9, 0, tzinfo=chicago)
    wall_72_before = datetime(2026, 10, 31, 9, 0, tzinfo=chicago)  # 73 real hours before
    assert rules.evaluate(removal_case(removal), wall_72_before) == []
    flags = rules.evaluate(removal_case(removal), wall_72_before + H)
    assert flags[0].rung == 72
    assert timefmt.local_label(flags[0].due_at, "America/Chicago").endswith("09:00 CST")


def test_dst_start_documentation_due_in_local_time() -> None:
    """New York enters DST on 2027-03-14: 48 h after Fri 12:00 EST is Sun 13:00 EDT."""
    ny = ZoneInfo("America/New_York")
    decided_at = datetime(2027, 3, 12, 12, 0, tzinfo=ny)
    flag = rules.evaluate(decided(decided_at.astimezone(UTC)), decided_at.astimezone(UTC))[0]
    local = timefmt.to_local(flag.due_at, "America/New_York")
    assert (local.day, local.hour, local.tzname()) == (14, 13, "EDT")


def test_relative_labels() -> None:
    assert timefmt.relative(T0 + 5 * H, T0) == "in 5 h"
    assert timefmt.relative(T0, T0 + 3 * H) == "overdue by 3 h"
    assert timefmt.relative(T0 + 3 * 24 * H, T0) == "in 3 d"


def test_policy_rejects_empty_ladder() -> None:
    with pytest.raises(ValueError):
        Policy(ladder_hours=())
    with pytest.raises(ValueError):
        Policy(ladder_hours=(0,))


# --- Properties ---------------------------------------------------------------------------------

instants = st.integers(min_value=0, max_value=60 * 24 * 3600).map(
    lambda s: T0 + timedelta(seconds=s)
)
maybe_instant = st.none() | instants
statuses = st.sampled_from(list(RequestStatus))
request_kinds = st.sampled_from([k for k in RequestKind if k is not RequestKind.appeal])


@st.composite
def request_facts(draw: st.DrawFn) -> RequestFacts:
    status = draw(statuses)
    filed_at = draw(maybe_instant)
    decided_at = draw(instants) if status in (RequestStatus.granted, RequestStatus.denied) else None
    return RequestFacts(
        id=uuid.uuid4(),
        kind=draw(request_kinds),
        status=status,
        filed_at=filed_at,
        decided_at=decided_at,
        stay_expires_at=draw(maybe_instant) if status is RequestStatus.granted else None,
        documentation_received_at=draw(maybe_instant) if decided_at else None,
    )


@st.composite
def case_facts(draw: st.DrawFn) -> CaseFacts:
    return CaseFacts(
        id=CASE,
        custody_status=draw(st.sampled_from(list(CustodyStatus))),
        removal_scheduled_at=draw(maybe_instant),
        requests=tuple(draw(st.lists(request_facts(), max_size=4))),
    )


ladders = st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=4).map(
    lambda hs: Policy(ladder_hours=tuple(hs))
)


def _subjects(flags: list[rules.Flag]) -> set[tuple[FlagKind, uuid.UUID]]:
    return {(rules.SUCCESSOR.get(f.kind, f.kind), f.subject_id) for f in flags}


@settings(max_examples=300, deadline=None)
@given(
    case=case_facts(),
    t1=instants,
    step=st.integers(min_value=0, max_value=30 * 24 * 3600),
    policy=ladders,
)
def test_flags_never_disappear_as_time_moves_forward(
    case: CaseFacts, t1: datetime, step: int, policy: Policy
) -> None:
    """Unless the data changes, a flag at t1 is still there (or promoted) at any t2 > t1.

    The one exception the rules intend: a granted stay expiring brings a removal flag *back*,
    which only adds flags, so the property still holds as stated.
    """
    t2 = t1 + timedelta(seconds=step)
    before = _subjects(rules.evaluate(case, t1, policy))
    after = _subjects(rules.evaluate(case, t2, policy))
    assert before <= after


@settings(max_examples=300, deadline=None)
@given(case=case_facts(), now=instants)
def test_documentation_always_clears_overdue(case: CaseFacts, now: datetime) -> None:
    documented = CaseFacts(
        id=case.id,
        custody_status=case.custody_status,
        removal_scheduled_at=case.removal_scheduled_at,
        requests=tuple(
            RequestFacts(**{**r.__dict__, "documentation_received_at": r.decided_at or now})
            for r in case.requests
        ),
    )
    assert not {FlagKind.documentation_due, FlagKind.documentation_overdue} & set(
        kinds(rules.evaluate(documented, now))
    )


@settings(max_examples=200, deadline=None)
@given(case=case_facts(), now=instants, policy=ladders)
def test_removal_rung_is_the_tightest_reached(
    case: CaseFacts, now: datetime, policy: Policy
) -> None:
    for flag in rules.evaluate(case, now, policy):
        if flag.kind in (FlagKind.removal_imminent, FlagKind.stay_expiring):
            left = flag.due_at - now
            assert flag.rung in policy.ladder_hours
            assert left <= timedelta(hours=flag.rung)  # type: ignore[operator]
            tighter = [h for h in policy.ladder_hours if h < flag.rung]  # type: ignore[operator]
            assert all(left > timedelta(hours=h) for h in tighter)
