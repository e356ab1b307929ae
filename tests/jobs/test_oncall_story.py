"""On-call shifts on both backends: escalations go to everyone on shift, one OK takes it for
all and tells the others, the on-call number covers the gaps, the shift-start SMS is sent once
(issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifications import outbox
from tests import factories
from tests.jobs.world import ONCALL, T0, World, sms, world
from tracker.models import Alert, Notification, OnCallShift
from tracker.schemas import CaseCreate, ShiftCreate
from tracker.services import ServiceError, inbound
from tracker.services import cases as case_service
from tracker.services import oncall as oncall_service
from tracker.vocab import NotificationStatus, Role

H = timedelta(hours=1)
ANA = "+12025550121"
BEN = "+12025550122"


def _volunteers(session: Session, w: World) -> tuple[object, object]:
    admin = factories.user(session, w.org, T0, role=Role.admin)
    actor = factories.actor_for(admin)
    ana = factories.user(session, w.org, T0, role=Role.hotline, phone=ANA, name="Ana Volunteer")
    ben = factories.user(session, w.org, T0, role=Role.hotline, phone=BEN, name="Ben Volunteer")
    # Overlapping: Ana 10:00-16:00, Ben 11:00-20:00 (UTC) on T0's day.
    for user, start, end in ((ana, T0 - 2 * H, T0 + 4 * H), (ben, T0 - H, T0 + 8 * H)):
        oncall_service.create_shift(
            session, actor, ShiftCreate(user_id=user.id, starts_at=start, ends_at=end), T0
        )
    return ana, ben


def _escalated_case(session: Session, w: World, now: datetime) -> None:
    # No counsel to text: the alert escalates at once.
    case_service.create_case(
        session,
        w.actor,
        CaseCreate(given_name="Rosa", family_name="Fictitia", removal_scheduled_at=now + 20 * H),
        now,
    )


def _sent(session: Session, notifications: list[Notification], at: datetime) -> None:
    """What the dispatcher records once the provider accepted each SMS."""
    for n in notifications:
        outbox.mark_sent(session, n.id, f"SM{n.id.hex}", "log", at)
    session.flush()
    session.expire_all()


def test_overlapping_volunteers_both_get_the_escalation_and_one_ok_takes_it_for_both(
    session: Session,
) -> None:
    w = world(session)
    _volunteers(session, w)
    _escalated_case(session, w, T0)
    escalations = sms(session, kind="escalation")
    assert sorted(m.to_phone for m in escalations) == [ANA, BEN]
    assert all("Fictitia" not in m.body for m in escalations)
    [alert] = {m.alert_id for m in escalations}
    _sent(session, escalations, T0 + timedelta(minutes=1))

    reply = inbound.handle(session, ANA, "OK", T0 + 5 * timedelta(minutes=1))
    assert reply.action == "ack"
    session.flush()
    taken = session.get(Alert, alert)
    assert taken is not None and taken.acknowledged_at is not None
    # Ben, whose escalation reached him, is told who took it; Ana is told nothing.
    [notice] = sms(session, kind="ack_taken")
    assert notice.to_phone == BEN and notice.alert_id == alert
    assert "Ana" in notice.body and "Volunteer" not in notice.body and "Rosa" not in notice.body
    # A second OK from Ben finds nothing left to acknowledge and tells nobody again.
    inbound.handle(session, BEN, "OK", T0 + 6 * timedelta(minutes=1))
    assert len(sms(session, kind="ack_taken")) == 1


def test_a_volunteer_whose_escalation_never_went_out_is_not_told_it_was_taken(
    session: Session,
) -> None:
    w = world(session)
    _volunteers(session, w)
    _escalated_case(session, w, T0)
    escalations = sms(session, kind="escalation")
    # Ana's escalation was sent; Ben's is still queued when Ana answers.
    _sent(session, [m for m in escalations if m.to_phone == ANA], T0 + timedelta(minutes=1))

    assert inbound.handle(session, ANA, "OK", T0 + 5 * timedelta(minutes=1)).action == "ack"
    session.flush()
    # Ben's escalation is withdrawn before it goes out, and he hears nothing of an alert
    # he never saw.
    assert {m.status for m in sms(session, kind="escalation") if m.to_phone == BEN} == {
        NotificationStatus.suppressed
    }
    assert sms(session, kind="ack_taken") == []


def _named_shift(session: Session, w: World, phone: str, start: datetime, end: datetime) -> None:
    admin = factories.actor_for(factories.user(session, w.org, T0, role=Role.admin))
    oncall_service.create_shift(
        session,
        admin,
        ShiftCreate(name="Nora Night", phone=phone, starts_at=start, ends_at=end),
        T0,
    )


def test_ok_from_an_on_call_phone_of_no_user_acknowledges(session: Session) -> None:
    """A shift named with a phone (no user account) takes the escalation by texting OK."""
    w = world(session)
    _named_shift(session, w, ANA, T0 - H, T0 + 4 * H)
    _escalated_case(session, w, T0)
    [escalation] = sms(session, kind="escalation")
    assert escalation.to_phone == ANA
    _sent(session, [escalation], T0 + timedelta(minutes=1))

    reply = inbound.handle(session, ANA, "OK", T0 + 5 * timedelta(minutes=1))
    assert reply.action == "ack" and reply.organization_id == w.org.id
    session.flush()
    alert = session.get(Alert, escalation.alert_id)
    assert alert is not None and alert.acknowledged_at is not None
    assert alert.acknowledged_via == "sms" and alert.acknowledged_by_id is None


def test_ok_from_the_organisations_on_call_number_acknowledges(session: Session) -> None:
    w = world(session)  # nobody on shift: escalations go to the organisation's number
    _escalated_case(session, w, T0)
    [escalation] = sms(session, kind="escalation")
    assert escalation.to_phone == ONCALL
    _sent(session, [escalation], T0 + timedelta(minutes=1))
    assert inbound.handle(session, ONCALL, "OK", T0 + 2 * H).action == "ack"
    session.flush()
    alert = session.get(Alert, escalation.alert_id)
    assert alert is not None and alert.acknowledged_at is not None


def test_ok_from_a_phone_whose_shift_ended_or_of_another_organisation_acknowledges_nothing(
    session: Session,
) -> None:
    w = world(session)
    _named_shift(session, w, ANA, T0 - H, T0 + H)
    _escalated_case(session, w, T0)
    [escalation] = sms(session, kind="escalation")
    _sent(session, [escalation], T0 + timedelta(minutes=1))
    # Another organisation's volunteer, on shift there, takes only that organisation's alert.
    other = world(session)
    _named_shift(session, other, BEN, T0 - H, T0 + 4 * H)
    _escalated_case(session, other, T0)
    [theirs] = [m for m in sms(session, kind="escalation") if m.to_phone == BEN]
    _sent(session, [theirs], T0 + timedelta(minutes=1))
    reply = inbound.handle(session, BEN, "OK", T0 + 30 * timedelta(minutes=1))
    assert reply.action == "ack" and reply.organization_id == other.org.id
    session.flush()
    taken = session.get(Alert, theirs.alert_id)
    assert taken is not None and taken.acknowledged_at is not None
    ours = session.get(Alert, escalation.alert_id)
    assert ours is not None and ours.acknowledged_at is None
    # Ana's shift is over: her OK is no longer an on-call answer.
    assert inbound.handle(session, ANA, "OK", T0 + 2 * H).action == "unknown"
    session.flush()
    alert = session.get(Alert, escalation.alert_id)
    assert alert is not None and alert.acknowledged_at is None


def test_the_on_call_number_is_the_fallback_when_nobody_is_on_shift(session: Session) -> None:
    w = world(session)
    _volunteers(session, w)
    gap = T0 + 10 * H  # after Ben's shift
    _escalated_case(session, w, gap)
    [escalation] = sms(session, kind="escalation")
    assert escalation.to_phone == ONCALL


def test_shift_start_sms_is_sent_once_per_occurrence(session: Session) -> None:
    w = world(session)
    _volunteers(session, w)
    _escalated_case(session, w, T0 - 3 * H)  # one open alert before the shifts
    start = T0 - 2 * H
    for now in (start, start + timedelta(minutes=1), start + timedelta(minutes=5)):
        oncall_service.announce_shift_starts(session, now, timedelta(minutes=30))
    [notice] = sms(session, kind="shift_start")
    assert notice.to_phone == ANA and "1 alerts are open" in notice.body
    # Long after the start the job does not announce a shift that started long ago.
    oncall_service.announce_shift_starts(session, T0 + 3 * H, timedelta(minutes=30))
    assert [m.to_phone for m in sms(session, kind="shift_start")] == [ANA]
    # Ben's start comes at T0 - 1 h: once, whichever clock runs.
    oncall_service.announce_shift_starts(session, T0 - H, timedelta(minutes=30))
    oncall_service.announce_shift_starts(session, T0 - H, timedelta(minutes=30))
    assert sorted(m.to_phone for m in sms(session, kind="shift_start")) == [ANA, BEN]


def test_weekly_shift_across_dst_escalates_at_the_same_local_time(session: Session) -> None:
    w = world(session)  # America/New_York; spring forward on 2026-03-08
    admin = factories.actor_for(factories.user(session, w.org, T0, role=Role.admin))
    friday = datetime.fromisoformat("2026-03-06T18:00:00-05:00")
    oncall_service.create_shift(
        session,
        admin,
        ShiftCreate(
            name="Night Person", phone=ANA, starts_at=friday, ends_at=friday + 4 * H, weekly=True
        ),
        T0,
    )
    edt_friday = datetime.fromisoformat("2026-03-13T18:00:00-04:00")
    assert [p.phone for p in oncall_service.on_call_now(session, w.org, edt_friday)] == [ANA]
    assert oncall_service.on_call_now(session, w.org, edt_friday - timedelta(minutes=1)) == []
    _escalated_case(session, w, edt_friday + H)
    assert [m.to_phone for m in sms(session, kind="escalation")] == [ANA]


def test_bad_shifts_name_the_field_and_write_nothing(session: Session) -> None:
    w = world(session)
    admin = factories.actor_for(factories.user(session, w.org, T0, role=Role.admin))
    other = factories.org(session, T0)
    stranger = factories.user(session, other, T0, phone="+12025550188")
    cases = [
        ({"user_id": stranger.id, "starts_at": T0, "ends_at": T0 + H}, "user_id"),
        ({"name": "N", "phone": ANA, "starts_at": T0, "ends_at": T0 - H}, "ends_at"),
        ({"name": "N", "phone": ANA, "starts_at": T0, "ends_at": T0}, "ends_at"),
        ({"phone": ANA, "starts_at": T0, "ends_at": T0 + H}, "name"),
    ]
    for body, field in cases:
        with pytest.raises(ServiceError) as caught:
            oncall_service.create_shift(session, admin, ShiftCreate(**body), T0)
        assert field in caught.value.fields
    # A toll-free number cannot receive SMS.
    with pytest.raises(ValidationError) as invalid:
        ShiftCreate(name="N", phone="+18005550199", starts_at=T0, ends_at=T0 + H)
    assert invalid.value.errors()[0]["loc"] == ("phone",)
    assert session.scalar(select(func.count()).select_from(OnCallShift)) == 0


def test_the_shift_start_job_beats_and_queues_through_its_own_transaction(
    session: Session,
) -> None:
    from jobs.heartbeat import PREFIX
    from jobs.oncall import SHIFT_START_JOB, run_shift_start_job
    from tracker.models import Heartbeat

    w = world(session)
    _volunteers(session, w)
    session.commit()
    for _clock in range(2):  # two clocks started by mistake
        run_shift_start_job(60.0, clock=lambda: T0 - 2 * H)
    session.expire_all()
    assert [m.to_phone for m in sms(session, kind="shift_start")] == [ANA]
    assert session.get(Heartbeat, f"{PREFIX}{SHIFT_START_JOB}") is not None
