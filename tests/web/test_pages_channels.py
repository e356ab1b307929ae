"""Channels on the intake form and the case page (issue 13, item 1)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import Case, Contact
from tracker.vocab import Role


def _intake(client: TestClient, token: str, **fields: str) -> object:
    data = {"csrf_token": token, "given_name": "Test", "family_phone": "+12025550142", **fields}
    return client.post("/cases/new", data=data, follow_redirects=False)


def test_intake_and_case_page_take_and_show_the_channel(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    token = signed_in(client, orgs[0].users[Role.hotline].email)
    bad = _intake(client, token, family_channel="voice", family_consent="on")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "not among consented_channels" in bad.text  # type: ignore[attr-defined]
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    response = _intake(
        client,
        token,
        family_language="es",
        family_consent="on",
        family_consent_whatsapp="on",
        family_channel="whatsapp",
    )
    assert response.status_code == 303, response.text  # type: ignore[attr-defined]
    case_id = uuid.UUID(response.headers["location"].rsplit("/", 1)[1])  # type: ignore[attr-defined]
    with db.session_scope() as s:
        family = s.scalars(select(Contact).where(Contact.case_id == case_id)).one()
        assert family.channel == "whatsapp" and family.consented_channels == ["sms", "whatsapp"]
        assert family.sms_consent
    page = client.get(f"/cases/{case_id}")
    assert "Channel: whatsapp (agreed: sms, whatsapp)" in page.text
    added = client.post(
        f"/cases/{case_id}/contacts",
        data={
            "csrf_token": token,
            "role": "family",
            "phone": "+12025550143",
            "language": "ht",
            "voice_consent": "on",
            "channel": "voice",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    with db.session_scope() as s:
        voice = s.scalars(select(Contact).where(Contact.phone_hash.is_not(None))).all()
        assert {(c.channel, c.sms_consent) for c in voice} == {("whatsapp", True), ("voice", False)}
