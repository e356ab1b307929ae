"""Administration pages: admins only, every change audited, no self-lockout."""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tests.web.pages_support import login, signed_in
from tracker import db
from tracker.models import (
    AuditEntry,
    Facility,
    FieldOffice,
    FieldOfficeLiaison,
    Organization,
    User,
)
from tracker.vocab import Role

ADMIN_PAGES = (
    "/admin",
    "/admin/users",
    "/admin/facilities",
    "/admin/field-offices",
    "/admin/settings",
)


def test_only_admins_see_admin_pages(client: TestClient, orgs: tuple[Org, Org]) -> None:
    for role in (Role.attorney, Role.hotline, Role.coordinator):
        client.cookies.clear()
        token = signed_in(client, orgs[0].users[role].email)
        for path in ADMIN_PAGES:
            assert client.get(path).status_code == 403, (role, path)
        response = client.post(
            "/admin/users", data={"csrf_token": token, "email": "x@example.org", "role": "admin"}
        )
        assert response.status_code == 403
    client.cookies.clear()
    signed_in(client, orgs[0].users[Role.admin].email)
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path
    with db.session_scope() as s:
        assert s.scalar(select(User).where(User.email == "x@example.org")) is None


def test_invite_shows_password_once_and_it_works(client: TestClient, orgs: tuple[Org, Org]) -> None:
    token = signed_in(client, orgs[0].users[Role.admin].email)
    bad = client.post(
        "/admin/users", data={"csrf_token": token, "email": "not-an-email", "role": "hotline"}
    )
    assert bad.status_code == 422 and "not an e-mail address" in bad.text
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "New.Volunteer@example.org",
            "role": "hotline",
            "name": "",
        },
    )
    assert response.status_code == 200
    password = re.search(r'id="one-time-password">([^<]+)<', response.text)
    assert password
    assert "one-time-password" not in client.get("/admin/users").text
    with db.session_scope() as s:
        user = s.scalar(select(User).where(User.email == "new.volunteer@example.org"))
        assert user is not None and user.organization_id == orgs[0].org.id
        assert s.scalar(
            select(AuditEntry).where(
                AuditEntry.entity == "user",
                AuditEntry.entity_id == str(user.id),
                AuditEntry.action == "create",
            )
        )
    client.cookies.clear()
    assert login(client, "new.volunteer@example.org", password.group(1)).status_code == 303


def test_role_change_and_deactivation_are_audited_without_self_lockout(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    admin = orgs[0].users[Role.admin]
    hotline = orgs[0].users[Role.hotline]
    token = signed_in(client, admin.email)
    response = client.post(
        f"/admin/users/{hotline.id}",
        data={"csrf_token": token, "role": "coordinator"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with db.session_scope() as s:
        user = s.get(User, hotline.id)
        assert user is not None and user.role is Role.coordinator and not user.active
        entry = s.scalar(
            select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.action == "update")
        )
        assert entry is not None
        assert entry.changes == {"active": [True, False], "role": ["hotline", "coordinator"]}
    own = client.post(
        f"/admin/users/{admin.id}", data={"csrf_token": token, "role": "attorney", "active": "on"}
    )
    assert own.status_code == 422 and "your own administrator access" in own.text
    other_org_user = orgs[1].users[Role.hotline]
    assert (
        client.post(
            f"/admin/users/{other_org_user.id}",
            data={"csrf_token": token, "role": "admin", "active": "on"},
        ).status_code
        == 404
    )
    with db.session_scope() as s:
        assert s.get(User, admin.id).role is Role.admin  # type: ignore[union-attr]
        assert s.get(User, other_org_user.id).role is Role.hotline  # type: ignore[union-attr]


def test_facility_and_liaison(client: TestClient, orgs: tuple[Org, Org]) -> None:
    token = signed_in(client, orgs[0].users[Role.admin].email)
    bad = client.post(
        "/admin/facilities",
        data={"csrf_token": token, "name": "Test Facility", "time_zone": "Mars/Olympus"},
    )
    assert bad.status_code == 422 and "IANA" in bad.text and 'value="Mars/Olympus"' in bad.text
    with db.session_scope() as s:
        office_id = s.scalar(select(FieldOffice.id).where(FieldOffice.code == "NOL"))
    ok = client.post(
        "/admin/facilities",
        data={
            "csrf_token": token,
            "name": "Test Facility",
            "time_zone": "America/Chicago",
            "field_office_id": str(office_id),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    bad_phone = client.post(
        f"/admin/field-offices/{office_id}", data={"csrf_token": token, "liaison_phone": "12"}
    )
    assert bad_phone.status_code == 422
    liaison = client.post(
        f"/admin/field-offices/{office_id}",
        data={
            "csrf_token": token,
            "liaison_name": "Test Liaison",
            "liaison_phone": "202 555 0150",
            "liaison_email": "Liaison@Example.org",
        },
        follow_redirects=False,
    )
    assert liaison.status_code == 303
    with db.session_scope() as s:
        facility = s.scalar(select(Facility).where(Facility.name == "Test Facility"))
        assert facility is not None and facility.field_office_id == office_id
        own = s.get(FieldOfficeLiaison, (orgs[0].org.id, office_id))
        assert own is not None
        assert (own.name, own.phone, own.email) == (
            "Test Liaison",
            "+12025550150",
            "liaison@example.org",
        )
        entities = set(
            s.scalars(select(AuditEntry.entity).where(AuditEntry.action.in_(["create", "update"])))
        )
        assert {"facility", "field_office_liaison"} <= entities


def test_settings_validate_save_and_audit(client: TestClient, orgs: tuple[Org, Org]) -> None:
    token = signed_in(client, orgs[0].users[Role.admin].email)
    form = {
        "csrf_token": token,
        "oncall_phone": "202 555 0100",
        "alert_ladder_hours": "48, 12, 2",
        "default_unanswered_days": "10",
        "unanswered_days_prosecutorial_discretion": "21",
        "escalation_delay_minutes": "30",
        "whereabouts_hours": "12",
        "quiet_hours": "22:00-07:00",
        "retention_days": "400",
        "time_zone": "America/Chicago",
    }
    bad = client.post(
        "/admin/settings", data={**form, "alert_ladder_hours": "soon", "quiet_hours": "night"}
    )
    assert bad.status_code == 422
    assert 'id="alert_ladder_hours-error"' in bad.text and 'id="quiet_hours-error"' in bad.text
    assert 'value="soon"' in bad.text
    assert client.post("/admin/settings", data=form, follow_redirects=False).status_code == 303
    with db.session_scope() as s:
        org = s.get(Organization, orgs[0].org.id)
        assert org is not None
        assert org.oncall_phone == "+12025550100"
        assert org.alert_ladder_hours == [48, 12, 2]
        assert org.unanswered_days == {"prosecutorial_discretion": 21}
        assert (org.default_unanswered_days, org.escalation_delay_minutes) == (10, 30)
        assert org.whereabouts_hours == 12
        assert (org.quiet_hours, org.retention_days, org.time_zone) == (
            "22:00-07:00",
            400,
            "America/Chicago",
        )
        entry = s.scalar(
            select(AuditEntry).where(
                AuditEntry.entity == "organization", AuditEntry.action == "update"
            )
        )
        assert entry is not None
        # The phone is recorded as changed, never in clear.
        assert entry.changes["oncall_phone"] == [None, "[redacted]"]
        assert entry.changes["alert_ladder_hours"] == [[72, 24, 6], [48, 12, 2]]
        other = s.get(Organization, orgs[1].org.id)
        assert other is not None and other.alert_ladder_hours == [72, 24, 6]


def test_settings_set_the_organisations_own_sender_once(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    service = "MG" + "c" * 32
    with db.session_scope() as s:
        other = s.get(Organization, orgs[1].org.id)
        assert other is not None
        other.sms_from_number = "+12025550177"
    token = signed_in(client, orgs[0].users[Role.admin].email)
    form = {
        "csrf_token": token,
        "alert_ladder_hours": "72, 24, 6",
        "default_unanswered_days": "14",
        "escalation_delay_minutes": "60",
        "retention_days": "365",
        "time_zone": "America/New_York",
    }
    bad = client.post(
        "/admin/settings",
        data={**form, "messaging_service_sid": "MG123", "sms_from_number": "not a phone"},
    )
    assert bad.status_code == 422
    assert 'id="messaging_service_sid-error"' in bad.text
    assert 'id="sms_from_number-error"' in bad.text
    # Replies to a sender are routed to its organisation: one sender, one organisation.
    taken = client.post("/admin/settings", data={**form, "sms_from_number": "202 555 0177"})
    assert taken.status_code == 422 and 'id="sms_from_number-error"' in taken.text
    ok = client.post(
        "/admin/settings",
        data={**form, "messaging_service_sid": service, "sms_from_number": "202 555 0178"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with db.session_scope() as s:
        org = s.get(Organization, orgs[0].org.id)
        assert org is not None
        assert (org.messaging_service_sid, org.sms_from_number) == (service, "+12025550178")
    assert f'value="{service}"' in client.get("/admin/settings").text
    # The deployment's shared sender is nobody's own: claimed, it would take every reply on it.
    shared = client.app.state.settings.twilio_messaging_service_sid or "MG" + "d" * 32
    client.app.state.settings = dataclasses.replace(
        client.app.state.settings, twilio_messaging_service_sid=shared
    )
    claimed = client.post("/admin/settings", data={**form, "messaging_service_sid": shared})
    assert claimed.status_code == 422 and 'id="messaging_service_sid-error"' in claimed.text
