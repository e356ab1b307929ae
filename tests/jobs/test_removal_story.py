"""The removal ladder, walked through with an injected clock on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.jobs.world import ATTORNEY_PHONE, COUNSEL_PHONE, ONCALL, T0, alerts, new_case, sms, world
from tests.jobs.world import sweep as run_sweeps
from tracker.schemas import CaseUpdate, DeterminationIn, RequestCreate
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import NotificationStatus, RequestKind

H = timedelta(hours=1)


def test_removal_story_ack_escalation_and_stay(session: Session) -> None:
    w = world(session)
    removal = T0 + 80 * H
    case = new_case(session, w, removal_scheduled_at=removal)
    # 80 h out: no rung reached, neither by the write nor by the clock.
    assert alerts(session, case) == []
    assert run_sweeps(session, T0) == {}

    # 71 h before: the 72 h rung alerts counsel, once.
    at = removal - 71 * H
    assert run_sweeps(session, at) == {"removal_imminent": 1}
    assert run_sweeps(session, at + timedelta(seconds=15)) == {}
    [first] = alerts(session, case)
    assert (first.rung, first.due_at, first.raised_at) == (72, removal, at)
    messages = sms(session, first)
    # The attorney is also a counsel contact: one SMS per phone, not two to the same phone.
    assert sorted(m.to_phone for m in messages) == sorted([COUNSEL_PHONE, ATTORNEY_PHONE])
    assert all(m.urgent and m.kind == "removal_imminent" for m in messages)
    for m in messages:
        assert "Rosa" in m.body and "Fictitia" not in m.body and "099" not in m.body
        # Shown in the facility's zone (America/Chicago), not UTC.
        assert "CST" in m.body or "CDT" in m.body
    # Alerts are for counsel: the family contact gets none of them.
    assert "+12025550113" not in {m.to_phone for m in sms(session, kind="removal_imminent")}

    # Counsel acknowledges (as the API does): it never escalates.
    alert_service.acknowledge(session, w.actor, first, at + 10 * timedelta(minutes=1), via="api")
    assert run_sweeps(session, at + 3 * H) == {}
    assert sms(session, kind="escalation") == []

    # 23 h before: the 24 h rung; the 72 h one is superseded, not left open.
    at24 = removal - 23 * H
    assert run_sweeps(session, at24) == {"removal_imminent": 1}
    first_again, second = alerts(session, case)
    assert second.rung == 24 and second.resolved_at is None
    assert first_again.resolution == "superseded"

    # Nobody acknowledges the 24 h alert: escalation after the organisation's delay, once.
    delay = timedelta(minutes=w.org.escalation_delay_minutes)
    assert run_sweeps(session, at24 + delay - timedelta(seconds=1)) == {}
    assert run_sweeps(session, at24 + delay) == {"escalation": 1}
    assert run_sweeps(session, at24 + delay + H) == {}
    [escalation] = sms(session, kind="escalation")
    assert escalation.to_phone == ONCALL and escalation.alert_id == second.id
    assert escalation.urgent and "Fictitia" not in escalation.body
    session.refresh(second)
    assert second.escalated_at == at24 + delay

    # A stay is granted: the removal alerts are resolved in the same transaction and their
    # SMS still waiting in the outbox are suppressed.
    granted_at = at24 + delay + 2 * H
    stay = request_service.create_request(
        session,
        w.actor,
        case,
        RequestCreate(kind=RequestKind.stay_of_removal, filed_at=T0),
        granted_at,
    )
    request_service.record_determination(
        session,
        w.actor,
        stay,
        DeterminationIn(outcome="granted", decided_at=granted_at),
        granted_at,
    )
    session.commit()
    session.expire_all()
    open_alerts = [a for a in alerts(session, case) if a.resolved_at is None]
    assert open_alerts == []
    assert alerts(session, case)[1].resolution == "stay_granted"
    for message in sms(session, second):
        assert message.status is NotificationStatus.suppressed
    assert run_sweeps(session, removal - 2 * H) == {}


def test_several_rungs_at_once_alert_only_the_tightest(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    session.commit()
    # Entered five hours before the flight: the 6 h rung, raised by the write itself.
    case_service.update_case(
        session, w.actor, case, CaseUpdate(removal_scheduled_at=T0 + 5 * H), T0
    )
    [alert] = alerts(session, case)
    assert alert.rung == 6 and alert.raised_at == T0
    assert len(sms(session, alert)) == 2
    assert run_sweeps(session, T0 + timedelta(minutes=1)) == {}


def test_moving_the_removal_rearms_the_ladder(session: Session) -> None:
    w = world(session)
    first_date = T0 + 20 * H
    case = new_case(session, w, removal_scheduled_at=first_date)
    [alert] = alerts(session, case)
    assert alert.rung == 24
    session.commit()

    # Moved four days out: the old alert is resolved and its unsent SMS suppressed.
    later = T0 + 100 * H
    case_service.update_case(session, w.actor, case, CaseUpdate(removal_scheduled_at=later), T0 + H)
    session.commit()
    session.expire_all()
    [old] = alerts(session, case)
    assert old.resolution == "removal_moved"
    assert {m.status for m in sms(session, old)} == {NotificationStatus.suppressed}

    # The new date's ladder alerts again from its first rung.
    assert run_sweeps(session, later - 71 * H) == {"removal_imminent": 1}
    # ... and moving back to the first date alerts again instead of staying silent.
    case_service.update_case(
        session, w.actor, case, CaseUpdate(removal_scheduled_at=first_date), T0 + 2 * H
    )
    session.commit()
    session.expire_all()
    current = [a for a in alerts(session, case) if a.resolved_at is None]
    assert [(a.due_at, a.rung) for a in current] == [(first_date, 24)]


def test_cancelled_removal_and_closed_case_resolve(session: Session) -> None:
    w = world(session)
    case = new_case(session, w, removal_scheduled_at=T0 + 10 * H)
    other = new_case(session, w, removal_scheduled_at=T0 + 10 * H)
    session.commit()
    case_service.update_case(session, w.actor, case, CaseUpdate(removal_scheduled_at=None), T0)
    case_service.update_case(session, w.actor, other, CaseUpdate(closed=True), T0)
    session.commit()
    session.expire_all()
    assert [a.resolution for a in alerts(session, case)] == ["removal_cancelled"]
    assert [a.resolution for a in alerts(session, other)] == ["case_closed"]
    assert run_sweeps(session, T0 + 5 * H) == {}


def test_sweep_only_considers_what_can_be_due(session: Session) -> None:
    from jobs.sweeps import sweep

    w = world(session)
    for days in (5, 9, 30):
        new_case(session, w, removal_scheduled_at=T0 + timedelta(days=days))
    due = new_case(session, w)
    session.commit()
    # Written straight to the table (as an import might), so only the clock can find it.
    due.removal_scheduled_at = T0 + 30 * H
    session.commit()
    outcome = sweep("removal", T0)
    assert outcome.candidates == 1 and dict(outcome.raised) == {"removal_imminent": 1}
    assert sweep("removal", T0).candidates == 0


def test_opted_out_counsel_is_not_texted(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    for contact in case.contacts:
        if contact.phone == COUNSEL_PHONE:
            contact.opted_out_at = T0
    case_service.update_case(
        session, w.actor, case, CaseUpdate(removal_scheduled_at=T0 + 3 * H), T0
    )
    [alert] = alerts(session, case)
    assert [m.to_phone for m in sms(session, alert)] == [ATTORNEY_PHONE]


def test_alert_with_no_counsel_to_text_escalates_at_once(session: Session) -> None:
    from tracker.schemas import CaseCreate

    w = world(session)
    # No counsel contact and no assigned attorney: nobody could acknowledge.
    case = case_service.create_case(
        session,
        w.actor,
        CaseCreate(given_name="Rosa", removal_scheduled_at=T0 + 20 * H),
        T0,
    )
    [alert] = alerts(session, case)
    assert alert.escalated_at == T0
    [message] = sms(session, alert)
    assert (message.kind, message.to_phone) == ("escalation", ONCALL)
    assert run_sweeps(session, T0 + 2 * H) == {}
