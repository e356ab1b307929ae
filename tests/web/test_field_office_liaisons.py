"""Field-office liaisons belong to each organisation: one organisation's admin never changes the
liaison another organisation's SMS, case page, admin page or API names."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import FieldOffice, Notification
from tracker.schemas import ContactCreate, RequestCreate
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.vocab import ContactRole, RequestKind, Role

A_LIAISON = ("Liaison North", "+12025550161", "north.liaison@example.org")
B_LIAISON = ("Liaison South", "+12025550172", "south.liaison@example.org")


def _office_id() -> uuid.UUID:
    with db.session_scope() as s:
        office_id = s.scalar(select(FieldOffice.id).where(FieldOffice.code == "NOL"))
    assert office_id is not None
    return office_id


def _set_liaison(
    client: TestClient, org: Org, office_id: uuid.UUID, values: tuple[str, ...]
) -> None:
    client.cookies.clear()
    token = signed_in(client, org.users[Role.admin].email)
    name, phone, email = values
    response = client.post(
        f"/admin/field-offices/{office_id}",
        data={
            "csrf_token": token,
            "liaison_name": name,
            "liaison_phone": phone,
            "liaison_email": email,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _unanswered_case(org: Org, office_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """A case at the office with counsel and a PD request long unanswered: its SMS body."""
    with db.session_scope() as s:
        actor = factories.actor_for(org.users[Role.attorney])
        case = factories.case(s, actor, NOW, given_name="Rosa", field_office_id=office_id)
        contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role=ContactRole.counsel, phone="2025550188", sms_consent=True),
            NOW,
        )
        # Filed 15 days ago: past the 14-day default, so the write raises the alert at once.
        request_service.create_request(
            s,
            actor,
            case,
            RequestCreate(
                kind=RequestKind.prosecutorial_discretion, filed_at=NOW - timedelta(days=15)
            ),
            NOW,
        )
        s.flush()
        body = s.scalar(
            select(Notification.body).where(
                Notification.case_id == case.id, Notification.kind == "unanswered"
            )
        )
        assert body is not None
        return case.id, body


def _api_liaison(client: TestClient, org: Org, office_id: uuid.UUID) -> tuple[object, ...]:
    response = client.get("/api/field-offices", headers=org.headers(Role.hotline))
    assert response.status_code == 200
    [office] = [o for o in response.json()["items"] if o["id"] == str(office_id)]
    return office["liaison_name"], office["liaison_phone"], office["liaison_email"]


def test_one_organisations_liaison_never_reaches_another(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, south = orgs
    travel(client)
    office_id = _office_id()

    # North's admin sets North's liaison: South's SMS, pages and API do not show it.
    _set_liaison(client, north, office_id, A_LIAISON)
    north_case, north_sms = _unanswered_case(north, office_id)
    south_case, south_sms = _unanswered_case(south, office_id)
    assert "Liaison North +12025550161" in north_sms
    assert "Liaison North" not in south_sms and "+12025550161" not in south_sms
    assert "see the case page" in south_sms
    assert _api_liaison(client, north, office_id) == A_LIAISON
    assert _api_liaison(client, south, office_id) == (None, None, None)

    client.cookies.clear()
    signed_in(client, south.users[Role.attorney].email)
    page = client.get(f"/cases/{south_case}")
    assert page.status_code == 200 and "Field office liaison" not in page.text
    assert "Liaison North" not in page.text and "+12025550161" not in page.text

    # South's admin sees an empty form, and its edit changes South's liaison only.
    client.cookies.clear()
    signed_in(client, south.users[Role.admin].email)
    admin_page = client.get("/admin/field-offices")
    assert "Liaison North" not in admin_page.text and "north.liaison" not in admin_page.text
    _set_liaison(client, south, office_id, B_LIAISON)
    assert _api_liaison(client, south, office_id) == B_LIAISON
    assert _api_liaison(client, north, office_id) == A_LIAISON
    _, south_sms_after = _unanswered_case(south, office_id)
    assert "Liaison South +12025550172" in south_sms_after

    client.cookies.clear()
    signed_in(client, north.users[Role.attorney].email)
    page = client.get(f"/cases/{north_case}")
    assert "Liaison North" in page.text and "Liaison South" not in page.text
    _, north_sms_after = _unanswered_case(north, office_id)
    assert "Liaison North +12025550161" in north_sms_after and "South" not in north_sms_after
