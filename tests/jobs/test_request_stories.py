"""The 48-hour documentation window, unanswered requests and stay expiry, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.jobs.world import T0, alerts, new_case, sms, world
from tests.jobs.world import sweep as run_sweeps
from tracker import rules
from tracker.facts import case_facts
from tracker.schemas import DeterminationIn, DocumentationIn, RequestCreate, RequestUpdate
from tracker.services import alerts as alert_service
from tracker.services import requests as request_service
from tracker.vocab import FlagKind, NotificationStatus, RequestKind, RequestStatus

H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def test_documentation_window_due_overdue_then_recorded(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    request = request_service.create_request(
        session, w.actor, case, RequestCreate(kind=RequestKind.release, filed_at=T0), T0
    )
    decided = T0 + 24 * H
    request_service.record_determination(
        session, w.actor, request, DeterminationIn(outcome="denied", decided_at=decided), decided
    )
    # 47:59 after the decision: due (shown on the queue), not yet an alert.
    at = decided + 47 * H + 59 * MIN
    assert run_sweeps(session, at) == {}
    kinds = {f.kind for f in rules.evaluate(case_facts(case), at)}
    assert FlagKind.documentation_due in kinds
    # 48:01: overdue, counsel alerted once.
    assert run_sweeps(session, decided + 48 * H + MIN) == {"documentation_overdue": 1}
    assert run_sweeps(session, decided + 48 * H + 30 * MIN) == {}
    [alert] = alerts(session, case, "documentation_overdue")
    assert alert.request_id == request.id and alert.due_at == decided + 48 * H
    assert {m.kind for m in sms(session, alert)} == {"documentation_overdue"}
    # Documentation recorded before the SMS went out: resolved, SMS suppressed.
    received = decided + 49 * H
    request_service.record_documentation(
        session,
        w.actor,
        request,
        DocumentationIn(received_at=received, language="es", advised_right_to_appeal=True),
        received,
    )
    session.commit()
    session.expire_all()
    [alert] = alerts(session, case, "documentation_overdue")
    assert alert.resolution == "documentation_received"
    assert {m.status for m in sms(session, alert)} == {NotificationStatus.suppressed}
    assert run_sweeps(session, decided + 60 * H) == {}


def test_decision_recorded_late_alerts_in_the_same_request(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    request = request_service.create_request(
        session, w.actor, case, RequestCreate(kind=RequestKind.release, filed_at=T0), T0
    )
    # Entered 50 hours after the decision: overdue already, so the write raises the alert.
    now = T0 + 60 * H
    request_service.record_determination(
        session,
        w.actor,
        request,
        DeterminationIn(outcome="granted", decided_at=now - 50 * H),
        now,
    )
    [alert] = alerts(session, case, "documentation_overdue")
    assert alert.raised_at == now
    assert run_sweeps(session, now + MIN) == {}


def test_unanswered_request_then_decided(session: Session) -> None:
    w = world(session, unanswered_days={"release": 7})
    case = new_case(session, w)
    pd = request_service.create_request(
        session,
        w.actor,
        case,
        RequestCreate(kind=RequestKind.prosecutorial_discretion, filed_at=T0),
        T0,
    )
    release = request_service.create_request(
        session, w.actor, case, RequestCreate(kind=RequestKind.release, filed_at=T0), T0
    )
    # Release has its own threshold (7 days); other kinds the default (14).
    assert run_sweeps(session, T0 + timedelta(days=7) - MIN) == {}
    assert run_sweeps(session, T0 + timedelta(days=7)) == {"unanswered": 1}
    # Nobody acknowledged the first one: the hotline hears of it (once).
    assert run_sweeps(session, T0 + timedelta(days=14) - MIN) == {"escalation": 1}
    assert run_sweeps(session, T0 + timedelta(days=14)) == {"unanswered": 1}
    by_request = {a.request_id: a for a in alerts(session, case, "unanswered")}
    assert set(by_request) == {pd.id, release.id}
    alert = by_request[pd.id]
    assert alert.due_at == T0 + timedelta(days=14)
    assert {m.kind for m in sms(session, alert)} == {"unanswered"}
    # The field office liaison is named as the escalation contact.
    params = alert_service.message_params(case, "unanswered", None, alert.due_at, pd.id, "en")
    assert params["liaison"] == "PD Liaison +12025550150"
    assert params["request_kind"] == "prosecutorial_discretion"
    assert params["first_name"] == "Rosa" and "Fictitia" not in str(params)

    # Answered: resolved; withdrawn: resolved too.
    now = T0 + timedelta(days=15)
    request_service.record_determination(
        session, w.actor, pd, DeterminationIn(outcome="denied", decided_at=now), now
    )
    request_service.update_request(
        session, w.actor, release, RequestUpdate(status=RequestStatus.withdrawn), now
    )
    session.commit()
    session.expire_all()
    resolutions = {a.request_id: a.resolution for a in alerts(session, case, "unanswered")}
    assert resolutions == {pd.id: "decided", release.id: "withdrawn"}
    assert run_sweeps(session, now + H) == {}


def test_stay_expiry_ladder(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    stay = request_service.create_request(
        session, w.actor, case, RequestCreate(kind=RequestKind.stay_of_removal, filed_at=T0), T0
    )
    expires = T0 + 100 * H
    request_service.record_determination(
        session,
        w.actor,
        stay,
        DeterminationIn(outcome="granted", decided_at=T0 + H, stay_expires_at=expires),
        T0 + H,
    )
    # Documentation of the grant is received so only the stay ladder is in play.
    request_service.record_documentation(
        session,
        w.actor,
        stay,
        DocumentationIn(received_at=T0 + 2 * H, language="en", advised_right_to_appeal=True),
        T0 + 2 * H,
    )
    assert run_sweeps(session, expires - 73 * H) == {}
    assert run_sweeps(session, expires - 71 * H) == {"stay_expiring": 1}
    assert run_sweeps(session, expires - 70 * H - 30 * MIN) == {}
    assert run_sweeps(session, expires - 23 * H) == {"stay_expiring": 1}
    assert run_sweeps(session, expires - 5 * H) == {"stay_expiring": 1}
    rungs = [(a.rung, a.resolution) for a in alerts(session, case, "stay_expiring")]
    assert rungs == [(72, "superseded"), (24, "superseded"), (6, None)]
    [message, *_] = sms(session, alerts(session, case, "stay_expiring")[-1])
    assert message.kind == "stay_expiring" and message.urgent
