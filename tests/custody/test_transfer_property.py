"""Property: a transfer never loses a flag that still holds.

On varied cases (a removal date or none, requests in every state, stays from every forum,
temporary or not, unreachable family, a staging placement, whereabouts unknown) a transfer to a
facility of any kind, recorded through the custody service on the real database:

- by the rules, every flag that does not depend on where the person is held is the same after
  the transfer as before (a transfer changes the place, not the deadlines);
- every alert open before the transfer whose flag still holds afterwards (the same flag: kind,
  subject, rung and due time) is still open, the same row (not cleared and raised anew, which
  would text counsel twice); a new placement at a staging facility is a new flag by design;
- the open alerts afterwards are exactly the alerting flags the rules give for the new place.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.jobs.world import T0, alerts, new_case, world
from tests.world import facility
from tracker import facts, rules
from tracker.models import Alert
from tracker.schemas import (
    CaseUpdate,
    ContactCreate,
    CustodyEventIn,
    DeterminationIn,
    RequestCreate,
)
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import custody as custody_service
from tracker.services import requests as request_service
from tracker.vocab import (
    CustodyEventKind,
    FacilityKind,
    FlagKind,
    RequestKind,
    StayForum,
)

H = timedelta(hours=1)
# Flags that follow the place: the rest must survive a transfer untouched.
PLACE_KINDS = {FlagKind.removal_likely, FlagKind.whereabouts_unknown}

request_plans = st.lists(
    st.tuples(
        st.sampled_from([RequestKind.stay_of_removal, RequestKind.release]),
        st.sampled_from(list(StayForum)),
        st.sampled_from(["filed", "granted", "denied"]),
        st.integers(min_value=1, max_value=20 * 24),  # filed this many hours before the move
        st.none() | st.integers(min_value=-30, max_value=200),  # stay expiry, hours after
        st.booleans(),  # temporary
    ),
    max_size=3,
)


def _open(session: Session, case_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = session.scalars(
        select(Alert).where(Alert.case_id == case_id, Alert.resolved_at.is_(None))
    )
    return {a.dedupe_key: a.id for a in rows}


def _subjects(flags: list[rules.Flag]) -> set[tuple[str, uuid.UUID]]:
    return {(f.kind.value, f.subject_id) for f in flags}


def _keys(flags: list[rules.Flag]) -> set[str]:
    return {f.dedupe_key() for f in flags if f.alerts}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    removal=st.none() | st.integers(min_value=-5, max_value=100),
    plans=request_plans,
    start=st.sampled_from(list(FacilityKind)),
    to=st.sampled_from(list(FacilityKind)),
    lost=st.none() | st.integers(min_value=1, max_value=60),
    unreachable=st.booleans(),
)
def test_a_transfer_never_loses_a_flag_that_still_holds(
    session: Session,
    removal: int | None,
    plans: list[tuple[RequestKind, StayForum, str, int, int | None, bool]],
    start: FacilityKind,
    to: FacilityKind,
    lost: int | None,
    unreachable: bool,
) -> None:
    try:
        _story(session, removal, plans, start, to, lost, unreachable)
    finally:
        session.rollback()


def _story(
    session: Session,
    removal: int | None,
    plans: list[tuple[RequestKind, StayForum, str, int, int | None, bool]],
    start: FacilityKind,
    to: FacilityKind,
    lost: int | None,
    unreachable: bool,
) -> None:
    move = T0 + 30 * 24 * H
    opened = move - 25 * 24 * H
    w = world(session, opened)
    here = facility(session, f"Fictional {uuid.uuid4().hex[:8]}", kind=start)
    there = facility(session, f"Fictional {uuid.uuid4().hex[:8]}", kind=to)
    case = new_case(session, w, opened)
    case_service.update_case(session, w.actor, case, CaseUpdate(facility_id=here.id), opened)
    for kind, forum, outcome, before, expiry, temporary in plans:
        filed = move - before * H
        req = request_service.create_request(
            session, w.actor, case, RequestCreate(kind=kind, forum=forum, filed_at=filed), filed
        )
        if outcome != "filed":
            decided = filed + H
            expires = None
            if expiry is not None and outcome == "granted" and kind is RequestKind.stay_of_removal:
                expires = max(move + expiry * H, decided + H)
            request_service.record_determination(
                session,
                w.actor,
                req,
                DeterminationIn(
                    outcome=outcome,  # type: ignore[arg-type]
                    decided_at=decided,
                    stay_expires_at=expires,
                    temporary=temporary and expires is not None,
                ),
                decided,
            )
    last = move - 2 * H
    if removal is not None:
        case_service.update_case(
            session, w.actor, case, CaseUpdate(removal_scheduled_at=move + removal * H), last
        )
    if lost is not None:
        custody_service.record_event(
            session,
            w.actor,
            case,
            CustodyEventIn(kind=CustodyEventKind.whereabouts_unknown, at=last - lost * H),
            last,
        )
    if unreachable:
        contact = contact_service.add_contact(
            session, w.actor, case, ContactCreate(role="family", phone="+12025550199"), last
        )
        contact.unreachable = True
        contact.unreachable_since = last
    # Everything due before the move is alerted (as the sweeps would have by then).
    alert_service.sync_case(session, case, move - H)
    session.flush()
    policy = facts.policy_for(case.organization)
    before_flags = rules.evaluate(facts.case_facts(case), move, policy)
    alert_service.sync_case(session, case, move)
    open_before = _open(session, case.id)

    custody_service.record_event(
        session,
        w.actor,
        case,
        CustodyEventIn(kind=CustodyEventKind.transferred, at=move, facility_id=there.id),
        move,
    )
    session.flush()
    session.expire_all()
    after_flags = rules.evaluate(facts.case_facts(case), move, policy)

    # The rules: deadlines do not move with the person.
    assert {s for s in _subjects(before_flags) if FlagKind(s[0]) not in PLACE_KINDS} == {
        s for s in _subjects(after_flags) if FlagKind(s[0]) not in PLACE_KINDS
    }
    # No whereabouts flag survives a confirmed place.
    assert FlagKind.whereabouts_unknown not in {f.kind for f in after_flags}
    # The alerts: every one whose flag still holds is the same open row.
    open_after = _open(session, case.id)
    for key in _keys(after_flags) & set(open_before):
        assert open_after.get(key) == open_before[key], key
    # ...and the open alerts are the rules' alerting flags, plus the transfer's own.
    [transfer] = alerts(session, case, "transferred")
    assert set(open_after) == _keys(after_flags) | {transfer.dedupe_key}
