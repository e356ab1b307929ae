"""Whereabouts unknown on SQLite and PostgreSQL: a detained case opened with no facility, or after
a ``whereabouts_unknown`` custody event, alerts counsel after the organisation's hours (the sweep,
±1 s), escalates like any alert, is found by the exact-time clock and the queue; ``located`` or
``transferred`` clears it, a backfilled one does not; a facility at intake is a confirmed place."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from jobs.next_due import next_due
from jobs.sweeps import PolicyGroups
from jobs.sweeps import sweep as one_sweep
from tests import factories
from tests.jobs.world import (
    ATTORNEY_PHONE,
    COUNSEL_PHONE,
    ONCALL,
    T0,
    World,
    alerts,
    new_case,
    sms,
    world,
)
from tests.jobs.world import sweep as run_sweeps
from tests.web.conftest import Org
from tests.world import facility, field_office
from tracker import db
from tracker.models import AuditEntry, Case, TimelineEvent
from tracker.schemas import CaseUpdate, ContactCreate, CustodyEventIn
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import custody as custody_service
from tracker.vocab import CustodyEventKind, CustodyStatus, NotificationStatus, Role

SEC = timedelta(seconds=1)
H = timedelta(hours=1)
DAY = 24 * H


def nowhere_case(session: Session, w: World, now: datetime = T0, **fields: Any) -> Case:
    """A detained case opened with no facility, with counsel to text."""
    case = factories.case(
        session, w.actor, now, given_name="Rosa", family_name="Fictitia", **fields
    )
    contact_service.add_contact(
        session, w.actor, case, ContactCreate(role="counsel", phone=COUNSEL_PHONE), now
    )
    return case


def event(
    session: Session, w: World, case: Case, kind: CustodyEventKind, at: datetime, **kw: Any
) -> None:
    now = kw.pop("now", at)
    custody_service.record_event(
        session, w.actor, case, CustodyEventIn(kind=kind, at=at, **kw), now
    )


def test_a_case_opened_nowhere_alerts_counsel_after_24_hours(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    assert case.location_unknown_since == T0
    assert run_sweeps(session, T0 + DAY - SEC) == {}
    assert run_sweeps(session, T0 + DAY) == {"whereabouts_unknown": 1}
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert alert.due_at == T0 + DAY and alert.rung is None
    [text] = sms(session, alert)
    assert text.to_phone == COUNSEL_PHONE and text.urgent
    assert "Rosa" in text.body and "Fictitia" not in text.body and "not confirmed" in text.body
    # Swept again: raised once.
    assert run_sweeps(session, T0 + DAY + 30 * 60 * SEC) == {}


def test_a_facility_at_intake_is_a_confirmed_location(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    assert case.location_unknown_since is None
    assert run_sweeps(session, T0 + 10 * DAY) == {}
    assert alerts(session, case, "whereabouts_unknown") == []


def test_entering_a_facility_later_clears_and_audits(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    assert run_sweeps(session, T0 + DAY) == {"whereabouts_unknown": 1}
    case_service.update_case(
        session, w.actor, case, CaseUpdate(facility_id=w.facility.id), T0 + DAY + H
    )
    session.commit()
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert alert.resolution == "located"
    assert case.location_unknown_since is None
    changes = [
        e.changes
        for e in session.query(AuditEntry).filter(AuditEntry.entity_id == str(case.id))
        if e.action == "update"
    ]
    assert any("location_unknown_since" in c for c in changes)


def test_a_whereabouts_event_then_located_clears_the_alert(session: Session) -> None:
    w = world(session, whereabouts_hours=6)
    case = new_case(session, w)
    lost = T0 + H
    event(session, w, case, CustodyEventKind.whereabouts_unknown, lost, source="family call")
    session.commit()
    assert case.location_unknown_since == lost
    assert run_sweeps(session, lost + 6 * H - SEC) == {}
    assert run_sweeps(session, lost + 6 * H) == {"whereabouts_unknown": 1}
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert {m.to_phone for m in sms(session, alert)} == {COUNSEL_PHONE, ATTORNEY_PHONE}
    found = lost + 7 * H
    event(session, w, case, CustodyEventKind.located, found, facility_id=w.facility.id)
    session.commit()
    session.expire_all()
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert alert.resolution == "located" and case.location_unknown_since is None
    kinds = {t.kind for t in session.query(TimelineEvent).filter_by(case_id=case.id)}
    assert {"custody_whereabouts_unknown", "custody_located", "alert_resolved"} <= kinds


def test_a_transfer_confirms_the_location(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    elsewhere = facility(session, "Fictional Far Center", office=field_office(session, "SEA"))
    event(session, w, case, CustodyEventKind.transferred, T0 + H, facility_id=elsewhere.id)
    assert run_sweeps(session, T0 + 3 * DAY).get("whereabouts_unknown") is None
    assert case.location_unknown_since is None


def test_a_backfilled_located_event_does_not_clear_a_newer_unknown(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    event(session, w, case, CustodyEventKind.whereabouts_unknown, T0 + 2 * H, now=T0 + 2 * H)
    # Typed in later, about earlier: the person was at the facility before they went missing.
    event(
        session,
        w,
        case,
        CustodyEventKind.located,
        T0 + H,
        facility_id=w.facility.id,
        now=T0 + 3 * H,
    )
    session.commit()
    assert case.location_unknown_since == T0 + 2 * H
    assert run_sweeps(session, T0 + 2 * H + DAY) == {"whereabouts_unknown": 1}
    # ...and a backfilled whereabouts_unknown does not restart a confirmed location's clock.
    other = new_case(session, w)
    event(session, w, other, CustodyEventKind.located, T0 + 2 * H, facility_id=w.facility.id)
    event(session, w, other, CustodyEventKind.whereabouts_unknown, T0 + H, now=T0 + 3 * H)
    session.commit()
    assert other.location_unknown_since is None


def test_unacknowledged_whereabouts_alert_escalates_and_ack_stops_it(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    other = nowhere_case(session, w)
    assert run_sweeps(session, T0 + DAY) == {"whereabouts_unknown": 2}
    [acked] = alerts(session, other, "whereabouts_unknown")
    alert_service.acknowledge(session, w.actor, acked, T0 + DAY + 5 * 60 * SEC)
    assert run_sweeps(session, T0 + DAY + 61 * 60 * SEC) == {"escalation": 1}
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert alert.escalated_at is not None
    assert [m.to_phone for m in sms(session, alert, "escalation")] == [ONCALL]
    assert alerts(session, other, "whereabouts_unknown")[0].escalated_at is None


def test_released_people_are_not_flagged_and_the_alert_clears(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    released = nowhere_case(session, w, custody_status=CustodyStatus.released)
    assert run_sweeps(session, T0 + DAY) == {"whereabouts_unknown": 1}
    assert alerts(session, released) == []
    event(session, w, case, CustodyEventKind.released, T0 + DAY + H)
    session.commit()
    [alert] = alerts(session, case, "whereabouts_unknown")
    assert alert.resolution == "released"
    assert {m.status for m in sms(session, alert)} <= {
        NotificationStatus.suppressed,
        NotificationStatus.queued,
    }


def test_the_exact_clock_knows_when_whereabouts_fall_due(session: Session) -> None:
    w = world(session, whereabouts_hours=30)
    nowhere_case(session, w)
    session.commit()
    groups = PolicyGroups.load(session)
    assert groups.by_whereabouts == {30: [w.org.id]}
    assert next_due(session, groups, T0) == T0 + 30 * H
    # Once due it is the sweep's business: nothing later is pending.
    assert next_due(session, groups, T0 + 30 * H) is None


def test_each_organisation_its_own_hours(session: Session) -> None:
    quick = world(session, whereabouts_hours=2)
    slow = world(session, now=T0)
    fast_case = nowhere_case(session, quick)
    slow_case = nowhere_case(session, slow)
    session.commit()
    outcome = one_sweep("whereabouts", T0 + 2 * H)
    assert outcome.candidates == 1 and dict(outcome.raised) == {"whereabouts_unknown": 1}
    session.expire_all()
    assert alerts(session, fast_case) and not alerts(session, slow_case)


def test_the_whereabouts_sweep_reads_a_partial_index(db_url: str) -> None:
    cases = {ix["name"]: ix["column_names"] for ix in inspect(db.get_engine()).get_indexes("cases")}
    assert cases["ix_cases_location_unknown"] == ["location_unknown_since"]


def test_api_flags_and_queue_filter(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    made = client.post(
        "/api/cases", json={"given_name": "Ana"}, headers=north.headers(Role.hotline)
    )
    assert made.status_code == 201 and made.json()["flags"] == []
    case_id = made.json()["id"]
    with db.session_scope() as session:
        row = session.get(Case, uuid.UUID(case_id))
        assert row is not None
        # Opened two days ago, as a list import would have it.
        row.location_unknown_since = row.created_at - 2 * DAY
    got = client.get(f"/api/cases/{case_id}", headers=north.headers()).json()
    assert [f["kind"] for f in got["flags"]] == ["whereabouts_unknown"]
    queue = client.get("/api/cases?flag=whereabouts_unknown", headers=north.headers()).json()
    assert [c["id"] for c in queue["items"]] == [case_id]
    located = client.post(
        f"/api/cases/{case_id}/custody-events",
        json={"kind": "located", "at": got["created_at"]},
        headers=north.headers(Role.hotline),
    )
    assert located.status_code == 201, located.text
    queue = client.get("/api/cases?flag=whereabouts_unknown", headers=north.headers()).json()
    assert queue["items"] == []


def test_a_later_report_does_not_restart_a_running_clock(session: Session) -> None:
    w = world(session)
    case = nowhere_case(session, w)
    event(session, w, case, CustodyEventKind.whereabouts_unknown, T0 + 20 * H)
    session.commit()
    assert case.location_unknown_since == T0
    assert run_sweeps(session, T0 + DAY) == {"whereabouts_unknown": 1}
