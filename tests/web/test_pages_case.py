"""Intake and the case page: validation that keeps input, actions, alerts, org scoping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import Alert, AuditEntry, Case, Contact, Facility, Notification, Request
from tracker.schemas import ContactCreate, RequestCreate
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.vocab import RequestKind, RequestStatus, Role


def _count(model: type, *where: object) -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _facility() -> uuid.UUID:
    with db.session_scope() as s:
        facility = Facility(name="Test Facility Chicago", time_zone="America/Chicago")
        s.add(facility)
        s.flush()
        return facility.id


def test_intake_opens_the_case_with_contacts_and_alerts_counsel(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    facility_id = _facility()
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "given_name": "Test",
            "family_name": "Person",
            "a_number": "12345678",
            "facility_id": str(facility_id),
            # 08:00 in Chicago (CST, UTC-6) is 14:00 UTC: two hours from NOW.
            "removal_scheduled_at": "2026-11-23T08:00",
            "family_phone": "(202) 555-0142",
            "family_language": "ht",
            "family_consent": "on",
            "counsel_phone": "+1 202 555 0143",
            "factors": ["pregnant", "caretaker"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    case_id = uuid.UUID(response.headers["location"].rsplit("/", 1)[1])
    with db.session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.organization_id == orgs[0].org.id
        assert case.a_number == "012345678"
        assert case.removal_scheduled_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
        assert case.factors == ["caretaker", "pregnant"]
        phones = {(c.role.value, c.phone, c.language, c.sms_consent) for c in case.contacts}
        assert phones == {
            ("family", "+12025550142", "ht", True),
            ("counsel", "+12025550143", "en", False),
        }
        # The removal alert was raised in the same transaction and reaches the counsel.
        alert = s.scalar(select(Alert).where(Alert.case_id == case_id))
        assert alert is not None and alert.kind == "removal_imminent"
        to = [
            n.to_phone
            for n in s.scalars(select(Notification).where(Notification.alert_id == alert.id))
        ]
        assert "+12025550143" in to
        assert s.scalar(
            select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.action == "create")
        )
    page = client.get(f"/cases/{case_id}")
    assert "A-012-345-678" in page.text
    assert "Case opened." in page.text


def test_intake_errors_are_inline_keep_input_and_write_nothing(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "given_name": "",
            "family_name": "Kept Family",
            "a_number": "A12",
            "removal_scheduled_at": "tomorrow",
            "family_phone": "12",
            "family_language": "es",
            "counsel_phone": "+1 202 555 0143",
            "factors": ["pregnant"],
        },
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="given_name-error"' in html
    assert "an A-number has 8 or 9 digits" in html
    assert 'id="removal_scheduled_at-error"' in html
    assert 'id="family_phone-error"' in html
    # What was typed is still there.
    for kept in ('value="Kept Family"', 'value="A12"', 'value="tomorrow"', 'value="12"'):
        assert kept in html
    assert 'value="+1 202 555 0143"' in html
    assert 'value="pregnant" checked' in html
    assert _count(Case) == 0 and _count(Contact) == 0


def test_intake_service_error_rolls_back_everything(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    other_attorney = orgs[1].users[Role.attorney].id
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "given_name": "Test",
            "attorney_id": str(other_attorney),
            "counsel_phone": "+1 202 555 0143",
        },
    )
    assert response.status_code == 422
    assert "no such user in your organisation" in response.text
    assert _count(Case) == 0 and _count(AuditEntry, AuditEntry.entity == "case") == 0


def test_case_page_is_scoped_and_audited(client: TestClient, orgs: tuple[Org, Org]) -> None:
    with db.session_scope() as s:
        mine = factories.case(
            s, orgs[0].actor(), NOW, given_name="Mine", a_number="A-1-2-3-4-5-6-7-8-9"
        )
        theirs = factories.case(s, orgs[1].actor(), NOW, given_name="Theirs")
        mine_id, theirs_id = mine.id, theirs.id
    signed_in(client, orgs[0].users[Role.attorney].email)
    page = client.get(f"/cases/{mine_id}")
    assert page.status_code == 200 and "A-123-456-789" in page.text
    reads = _count(AuditEntry, AuditEntry.action == "read", AuditEntry.entity_id == str(mine_id))
    assert reads == 1
    for path in (f"/cases/{theirs_id}", f"/cases/{uuid.uuid4()}", "/cases/not-a-uuid"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Theirs" not in response.text
    # Actions on another organisation's case, request or alert answer 404 too.
    assert (
        client.post(
            f"/cases/{theirs_id}/requests",
            data={
                "csrf_token": signed_in(client, orgs[0].users[Role.attorney].email),
                "kind": "release",
            },
        ).status_code
        == 404
    )
    assert _count(Request) == 0


def test_determination_then_documentation_then_appeal(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    actor = orgs[0].actor()
    with db.session_scope() as s:
        case = factories.case(s, actor, NOW - timedelta(days=3), given_name="Flow")
        contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="family", phone="+12025550144", language="es", sms_consent=True),
            NOW - timedelta(days=3),
        )
        request = request_service.create_request(
            s,
            actor,
            case,
            RequestCreate(kind=RequestKind.release, filed_at=NOW - timedelta(days=2)),
            NOW - timedelta(days=2),
        )
        case_id, request_id = case.id, request.id
    token = signed_in(client, orgs[0].users[Role.attorney].email)

    # A decision in the future is refused, with the reason beside the form; nothing changes.
    bad = client.post(
        f"/requests/{request_id}/determination",
        data={"csrf_token": token, "outcome": "denied", "decided_at": "2026-11-25T10:00"},
    )
    assert bad.status_code == 422 and "decided_at is in the future" in bad.text
    with db.session_scope() as s:
        assert s.get(Request, request_id).status is RequestStatus.filed  # type: ignore[union-attr]

    ok = client.post(
        f"/requests/{request_id}/determination",
        data={"csrf_token": token, "outcome": "denied", "decided_at": "2026-11-23T05:00"},
    )
    assert ok.status_code == 200
    assert 'data-flag="documentation_due"' in ok.text
    # The SMS list shows recipients masked, never the number itself.
    sms = ok.text.split('id="sms"', 1)[1]
    assert "+1••••••0144" in sms and "+12025550144" not in sms

    missing = client.post(
        f"/requests/{request_id}/documentation",
        data={"csrf_token": token, "received_at": "2026-11-23T06:00", "language": "es"},
    )
    assert missing.status_code == 422 and "right to appeal" in missing.text
    documented = client.post(
        f"/requests/{request_id}/documentation",
        data={
            "csrf_token": token,
            "received_at": "2026-11-23T06:00",
            "language": "es",
            "advised_right_to_appeal": "no",
        },
    )
    assert documented.status_code == 200
    assert 'data-flag="documentation_due"' not in documented.text
    assert "right to appeal NOT advised" in documented.text

    appealed = client.post(
        f"/requests/{request_id}/appeal", data={"csrf_token": token, "filed_at": "2026-11-23T06:30"}
    )
    assert appealed.status_code == 200
    with db.session_scope() as s:
        appeal = s.scalar(select(Request).where(Request.appeal_of_id == request_id))
        assert appeal is not None and appeal.status is RequestStatus.filed
        assert appeal.case_id == case_id


def test_acknowledge_an_alert(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    with db.session_scope() as s:
        # A removal in 3 hours raises its alert through the services (alerts.sync_case).
        case = factories.case(
            s,
            orgs[0].actor(),
            NOW,
            given_name="Soon",
            removal_scheduled_at=NOW + timedelta(hours=3),
        )
        theirs = factories.case(
            s,
            orgs[1].actor(),
            NOW,
            given_name="Theirs",
            removal_scheduled_at=NOW + timedelta(hours=3),
        )
        alert_id = s.scalar(select(Alert.id).where(Alert.case_id == case.id))
        their_alert = s.scalar(select(Alert.id).where(Alert.case_id == theirs.id))
        case_id = case.id
    assert alert_id is not None and their_alert is not None
    user = orgs[0].users[Role.attorney]
    token = signed_in(client, user.email)
    page = client.get(f"/cases/{case_id}")
    assert f'action="/alerts/{alert_id}/ack"' in page.text
    assert client.post(f"/alerts/{their_alert}/ack", data={"csrf_token": token}).status_code == 404
    response = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token})
    assert response.status_code == 200
    assert (
        "Acknowledged" in response.text and f'action="/alerts/{alert_id}/ack"' not in response.text
    )
    with db.session_scope() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        assert alert.acknowledged_at == NOW and alert.acknowledged_via == "web"
        assert alert.acknowledged_by_id == user.id
        assert s.get(Alert, their_alert).acknowledged_at is None  # type: ignore[union-attr]


def test_edit_case_and_add_contact(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    facility_id = _facility()
    with db.session_scope() as s:
        case_id = factories.case(
            s, orgs[0].actor(), NOW, given_name="Edit", facility_id=facility_id
        ).id
    token = signed_in(client, orgs[0].users[Role.attorney].email)
    bad = client.post(
        f"/cases/{case_id}",
        data={"csrf_token": token, "removal_scheduled_at": "soon", "custody_status": "detained"},
    )
    assert bad.status_code == 422 and 'value="soon"' in bad.text
    ok = client.post(
        f"/cases/{case_id}",
        data={
            "csrf_token": token,
            "removal_scheduled_at": "2026-11-23T10:00",  # Chicago: 16:00 UTC, in 4 h
            "custody_status": "detained",
            "facility_id": str(facility_id),
            "factors": ["elderly"],
        },
    )
    assert ok.status_code == 200
    assert 'data-flag="removal_imminent"' in ok.text.split('id="flags"', 1)[1].split("</div>", 1)[0]
    contact = client.post(
        f"/cases/{case_id}/contacts",
        data={"csrf_token": token, "role": "family", "phone": "202-555-0145", "language": "ht"},
    )
    assert contact.status_code == 200 and "No SMS consent" in contact.text
    bad_contact = client.post(
        f"/cases/{case_id}/contacts", data={"csrf_token": token, "role": "family", "phone": "5"}
    )
    assert bad_contact.status_code == 422 and 'data-form-errors="contact"' in bad_contact.text
    closed = client.post(
        f"/cases/{case_id}",
        data={
            "csrf_token": token,
            "custody_status": "released",
            "facility_id": str(facility_id),
            "closed": "on",
        },
    )
    assert closed.status_code == 200
    with db.session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.closed_at == NOW and case.removal_scheduled_at is None
        assert case.factors == [] and len(case.contacts) == 1
        assert case.contacts[0].phone == "+12025550145"
    assert str(case_id) not in client.get("/").text


def test_pages_follow_the_api_role_policy(client: TestClient, orgs: tuple[Org, Org]) -> None:
    with db.session_scope() as s:
        case = factories.case(
            s,
            orgs[0].actor(),
            NOW,
            given_name="Roles",
            removal_scheduled_at=NOW + timedelta(hours=3),
        )
        request = request_service.create_request(
            s, orgs[0].actor(), case, RequestCreate(kind=RequestKind.release, filed_at=NOW), NOW
        )
        alert_id = s.scalar(select(Alert.id).where(Alert.case_id == case.id))
        case_id, request_id = case.id, request.id
    travel(client)
    # A coordinator reads, and may not open, edit or act.
    token = signed_in(client, orgs[0].users[Role.coordinator].email)
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert "Acknowledge" not in page.text and "Record decision" not in page.text
    assert "New case" not in page.text
    assert client.get("/cases/new").status_code == 403
    assert client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token}).status_code == 403
    # A hotline volunteer acknowledges and adds requests, but decisions are counsel's.
    client.cookies.clear()
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    page = client.get(f"/cases/{case_id}")
    assert "Acknowledge" in page.text and "Record decision" not in page.text
    decided = client.post(
        f"/requests/{request_id}/determination",
        data={"csrf_token": token, "outcome": "granted", "decided_at": "2026-11-23T05:00"},
    )
    assert decided.status_code == 403
    with db.session_scope() as s:
        assert s.get(Request, request_id).status is RequestStatus.filed  # type: ignore[union-attr]
        assert s.get(Alert, alert_id).acknowledged_at is None  # type: ignore[union-attr]
