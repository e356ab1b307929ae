"""``/admin/health``: the doctor's checks, for administrators only."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from jobs import heartbeat
from jobs.sweeps import SWEEPS
from tests.ops.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, NUMBER, PUBLIC, FakeTwilio
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in
from tracker import canary, db
from tracker.models import AuditEntry
from tracker.settings import get_settings
from tracker.vocab import Role
from tracker.web.app import create_app


def _client(fake: FakeTwilio) -> TestClient:
    settings = dataclasses.replace(
        get_settings(),
        base_url=PUBLIC,
        sms_transport="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=NUMBER,
    )
    app = create_app(settings)
    app.state.clock = lambda: NOW
    app.state.doctor_transport = fake.transport
    # BASE_URL is https, so the session cookie is Secure: speak https to the app.
    return TestClient(app, base_url="https://testserver")


def _healthy_database() -> None:
    with db.session_scope() as session:
        for job in SWEEPS:
            heartbeat.beat(session, job, NOW - timedelta(seconds=5), 15.0)
    with db.get_engine().begin() as conn:
        canary.ensure(conn, NOW)


def test_admins_see_every_check_with_its_fix(orgs: tuple[Org, Org]) -> None:
    _healthy_database()
    fake = FakeTwilio.healthy()
    fake.numbers[NUMBER]["sms_url"] = "https://elsewhere.example.net/sms"
    with _client(fake) as client:
        signed_in(client, orgs[0].users[Role.admin].email)
        response = client.get("/admin/health")
    assert response.status_code == 200
    html = response.text
    assert "Something is broken" in html
    assert html.count('class="health-ok"') == 9
    assert html.count('class="health-fail"') == 1
    assert f"{PUBLIC}/webhooks/twilio/sms" in html  # the fix names the right URL
    assert NUMBER not in html
    with db.session_scope() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.entity == "health")) is not None


def test_others_cannot_make_the_server_call_twilio(orgs: tuple[Org, Org]) -> None:
    fake = FakeTwilio.healthy()
    with _client(fake) as client:
        assert client.get("/admin/health", follow_redirects=False).status_code == 303
        for role in (Role.attorney, Role.hotline, Role.coordinator):
            client.cookies.clear()
            signed_in(client, orgs[0].users[role].email)
            assert client.get("/admin/health").status_code == 403
    assert fake.seen == []
