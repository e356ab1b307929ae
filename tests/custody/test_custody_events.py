"""Custody events on SQLite and PostgreSQL: recorded with audit and timeline in one transaction,
a transfer moves the case (facility, field office, zone), texts counsel "moved from A to B, now
under field office C" in their language and the consented family the new facility's name, and
its alert is acknowledged and escalated like the others."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests.jobs.world import ONCALL, T0, alerts, new_case, sms, world
from tests.jobs.world import sweep as run_sweeps
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tests.world import facility, field_office
from tracker import db
from tracker.models import AuditEntry, Case, CustodyEvent, Notification, TimelineEvent
from tracker.presentation import case_zone
from tracker.schemas import CaseUpdate, CustodyEventIn
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import custody as custody_service
from tracker.vocab import CustodyEventKind, FacilityKind, Role

H = timedelta(hours=1)


def _count(model: type, *where: Any) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _places() -> tuple[str, str]:
    with db.session_scope() as session:
        a = facility(session, "Fictional North Center", office=field_office(session, "CHI"))
        b = facility(
            session,
            "Fictional South Center",
            office=field_office(session, "HOU"),
            time_zone="America/Chicago",
        )
        return str(a.id), str(b.id)


def test_api_transfer_moves_the_case_and_texts_counsel_and_family(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, south = orgs
    a, b = _places()
    case = client.post(
        "/api/cases",
        json={"given_name": "Rosa María", "family_name": "Fictitia", "facility_id": a},
        headers=north.headers(Role.hotline),
    ).json()
    case_id = case["id"]
    for contact in (
        {"role": "counsel", "phone": "+1 202 555 0121", "language": "es"},
        {"role": "family", "phone": "+1 202 555 0122", "language": "en", "sms_consent": True},
    ):
        r = client.post(f"/api/cases/{case_id}/contacts", json=contact, headers=north.headers())
        assert r.status_code == 201
    moved = client.post(
        f"/api/cases/{case_id}/custody-events",
        json={
            "kind": "transferred",
            "at": (NOW - 2 * H).isoformat(),
            "facility_id": b,
            "source": "family call",
            "notes": "moved overnight",
        },
        headers=north.headers(Role.hotline),
    )
    assert moved.status_code == 201, moved.text
    event = moved.json()
    assert event["from_facility_id"] == a and event["facility_id"] == b
    after = client.get(f"/api/cases/{case_id}", headers=north.headers()).json()
    assert after["facility_id"] == b
    with db.session_scope() as session:
        row = session.get(Case, uuid.UUID(case_id))
        assert row is not None and row.field_office is not None
        assert row.field_office.code == "HOU"
        assert case_zone(row, "UTC") == "America/Chicago"
        counsel = session.scalars(
            select(Notification).where(Notification.kind == "transferred")
        ).all()
        family = session.scalars(
            select(Notification).where(Notification.kind == "transferred_family")
        ).all()
        assert [n.language for n in counsel] == ["es"]
        assert counsel[0].urgent and counsel[0].alert_id is not None
        body = counsel[0].body
        assert "Fictional North Center" in body and "Fictional South Center" in body
        assert "Houston" in body and "trasladado" in body and "Fictitia" not in body
        assert [n.language for n in family] == ["en"]
        assert "Fictional South Center" in family[0].body and "Rosa " in family[0].body
        assert "María" not in family[0].body and "Fictitia" not in family[0].body
        kinds = [
            t.kind
            for t in session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == row.id))
        ]
        assert "custody_transferred" in kinds
        audited = {
            (e.entity, e.action)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.entity_id.in_([case_id, event["id"]]))
            )
        }
        assert {("custody_event", "create"), ("case", "update")} <= audited
    listed = client.get(f"/api/cases/{case_id}/custody-events", headers=north.headers())
    assert [e["id"] for e in listed.json()["items"]] == [event["id"]]
    assert listed.json()["items"][0]["source"] == "family call"
    # Another organisation sees nothing and can record nothing.
    assert (
        client.get(f"/api/cases/{case_id}/custody-events", headers=south.headers()).status_code
        == 404
    )
    alert = client.get("/api/alerts", headers=north.headers()).json()["items"]
    transfer = [x for x in alert if x["kind"] == "transferred"]
    assert len(transfer) == 1
    ack = client.post(f"/api/alerts/{transfer[0]['id']}/ack", headers=north.headers(Role.hotline))
    assert ack.status_code == 200 and ack.json()["acknowledged_at"] is not None


def test_bad_custody_events_answer_422_and_write_nothing(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    a, b = _places()
    case_id = client.post(
        "/api/cases", json={"given_name": "Ana", "facility_id": a}, headers=north.headers()
    ).json()["id"]
    at = (NOW - H).isoformat()
    before = _count(CustodyEvent), _count(AuditEntry), _count(Notification)
    for body, field in [
        ({"kind": "escaped", "at": at}, "kind"),
        ({"kind": "transferred", "at": at}, "facility_id"),
        ({"kind": "transferred", "at": at, "facility_id": a}, "facility_id"),
        ({"kind": "transferred", "at": at, "facility_id": str(uuid.uuid4())}, "facility_id"),
        ({"kind": "released", "at": at, "facility_id": b}, "facility_id"),
        ({"kind": "located", "at": (NOW + H).isoformat()}, "at"),
        ({"kind": "located"}, "at"),
        ({"kind": "located", "at": "2026-11-23T10:00"}, "at"),
    ]:
        r = client.post(f"/api/cases/{case_id}/custody-events", json=body, headers=north.headers())
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["error"]["fields"], (body, r.json())
    assert (_count(CustodyEvent), _count(AuditEntry), _count(Notification)) == before


def test_unacknowledged_transfer_escalates_to_the_hotline_and_survives_later_writes(
    session: Session,
) -> None:
    w = world(session)
    case = new_case(session, w)
    other = facility(session, "Fictional Far Center", office=field_office(session, "SEA"))
    custody_service.record_event(
        session,
        w.actor,
        case,
        CustodyEventIn(kind=CustodyEventKind.transferred, at=T0 - H, facility_id=other.id),
        T0,
    )
    # A later unrelated write re-syncs the rules' alerts: the transfer's alert stays open.
    case_service.update_case(
        session, w.actor, case, CaseUpdate(factors=["elderly"]), T0 + 5 * 60 * timedelta(seconds=1)
    )
    session.commit()
    [alert] = alerts(session, case, "transferred")
    assert alert.resolved_at is None and alert.due_at == T0 - H
    assert {m.kind for m in sms(session, alert)} == {"transferred"}
    assert run_sweeps(session, T0 + 61 * 60 * timedelta(seconds=1)) == {"escalation": 1}
    [escalated] = sms(session, alert, "escalation")
    assert escalated.to_phone == ONCALL and "transfer" in escalated.body


def test_transfer_to_a_staging_facility_raises_removal_likely(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    staging = facility(session, "Fictional Staging", office=field_office(session, "NOL"))
    staging.kind = FacilityKind.staging
    session.flush()
    custody_service.record_event(
        session,
        w.actor,
        case,
        CustodyEventIn(kind=CustodyEventKind.transferred, at=T0 - H, facility_id=staging.id),
        T0,
    )
    session.commit()
    [likely] = alerts(session, case, "removal_likely")
    assert likely.due_at == T0 - H and case.removal_scheduled_at is None
    # Released: the person is no longer held there, the flag no longer holds.
    custody_service.record_event(
        session, w.actor, case, CustodyEventIn(kind=CustodyEventKind.released, at=T0), T0 + H
    )
    session.commit()
    session.expire_all()
    [likely] = alerts(session, case, "removal_likely")
    assert likely.resolution == "released"
    assert alert_service.open_alerts(session, [case.id]) != []


def test_case_page_records_a_transfer(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    travel(client)
    a, b = _places()
    case_id = client.post(
        "/api/cases", json={"given_name": "Ana", "facility_id": a}, headers=north.headers()
    ).json()["id"]
    token = signed_in(client, north.users[Role.hotline].email)
    bad = client.post(
        f"/cases/{case_id}/custody-events",
        data={"csrf_token": token, "kind": "transferred", "at": "2026-11-23T04:00"},
    )
    assert bad.status_code == 422 and 'data-form-errors="custody"' in bad.text
    ok = client.post(
        f"/cases/{case_id}/custody-events",
        data={
            "csrf_token": token,
            "kind": "transferred",
            "at": "2026-11-23T04:00",
            "facility_id": b,
            "source": "ICE locator",
        },
    )
    assert ok.status_code == 200
    item = ok.text.split('class="custody-event"', 1)[1].split("</li>", 1)[0]
    assert "Fictional North Center" in item and "Fictional South Center" in item
    assert "ICE locator" in item


def test_queue_filter_by_an_event_alert_kind_answers_an_empty_page(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    client.post("/api/cases", json={"given_name": "Ana"}, headers=north.headers())
    r = client.get("/api/cases?flag=transferred", headers=north.headers())
    assert r.status_code == 200 and r.json()["items"] == []


def test_a_backfilled_earlier_event_neither_moves_the_case_nor_texts(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    a, b = _places()
    case_id = client.post(
        "/api/cases", json={"given_name": "Test", "facility_id": a}, headers=north.headers()
    ).json()["id"]
    family = {"role": "family", "phone": "+1 202 555 0132", "language": "en", "sms_consent": True}
    assert (
        client.post(
            f"/api/cases/{case_id}/contacts", json=family, headers=north.headers()
        ).status_code
        == 201
    )
    url = f"/api/cases/{case_id}/custody-events"
    now_at_b = {"kind": "transferred", "at": (NOW - 2 * H).isoformat(), "facility_id": b}
    assert client.post(url, json=now_at_b, headers=north.headers()).status_code == 201
    earlier = {"kind": "transferred", "at": (NOW - 30 * H).isoformat(), "facility_id": a}
    assert client.post(url, json=earlier, headers=north.headers()).status_code == 201
    with db.session_scope() as session:
        case = session.get(Case, uuid.UUID(case_id))
        assert case is not None and str(case.facility_id) == b
    texts = Notification.case_id == uuid.UUID(case_id), Notification.kind == "transferred_family"
    assert _count(Notification, *texts) == 1
    assert _count(CustodyEvent, CustodyEvent.case_id == uuid.UUID(case_id)) == 2
