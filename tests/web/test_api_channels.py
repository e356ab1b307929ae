"""A contact's channel and consented channels through the API (issue 13, item 1)."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tracker import db
from tracker.models import AuditEntry, Contact
from tracker.vocab import Role


def _count(model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_channel_and_consent_round_trip_and_old_clients_keep_working(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    headers = north.headers(Role.hotline)
    case_id = client.post("/api/cases", json={"given_name": "Test"}, headers=headers).json()["id"]
    url = f"/api/cases/{case_id}/contacts"
    # An old client: sms_consent alone.
    old = client.post(
        url, json={"role": "family", "phone": "+12025550142", "sms_consent": True}, headers=headers
    )
    assert old.status_code == 201, old.text
    assert old.json()["channel"] == "sms" and old.json()["consented_channels"] == ["sms"]
    # A new one: WhatsApp preferred, SMS as well.
    new = client.post(
        url,
        json={
            "role": "family",
            "phone": "+12025550143",
            "channel": "whatsapp",
            "consented_channels": ["whatsapp", "sms"],
        },
        headers=headers,
    )
    assert new.status_code == 201, new.text
    body = new.json()
    assert body["channel"] == "whatsapp" and body["sms_consent"] is True
    assert body["consented_channels"] == ["whatsapp", "sms"]
    # Only a channel named alone: it becomes the preferred one; sms_consent stays false.
    voice = client.post(
        url,
        json={"role": "family", "phone": "+12025550144", "consented_channels": ["voice"]},
        headers=headers,
    ).json()
    assert voice["channel"] == "voice" and voice["sms_consent"] is False

    before = _count(Contact), _count(AuditEntry)
    for payload, field in [
        ({"role": "family", "phone": "+12025550145", "channel": "telegram"}, "channel"),
        (
            {"role": "family", "phone": "+12025550145", "consented_channels": ["fax"]},
            "consented_channels",
        ),
        (
            {
                "role": "family",
                "phone": "+12025550145",
                "channel": "voice",
                "consented_channels": ["sms"],
            },
            "channel",
        ),
        (
            {
                "role": "family",
                "phone": "+12025550145",
                "sms_consent": True,
                "consented_channels": ["voice"],
            },
            "sms_consent",
        ),
    ]:
        bad = client.post(url, json=payload, headers=headers)
        assert bad.status_code == 422, (payload, bad.text)
        fields = bad.json()["error"]["fields"]
        assert any(name.split(".")[0] == field for name in fields), fields
    assert (_count(Contact), _count(AuditEntry)) == before

    # sms_consent=false from an old client removes sms and moves the preference off it.
    patched = client.patch(
        f"/api/contacts/{body['id']}", json={"sms_consent": False}, headers=headers
    ).json()
    assert patched["consented_channels"] == ["whatsapp"] and patched["channel"] == "whatsapp"
    patched = client.patch(
        f"/api/contacts/{old.json()['id']}",
        json={"consented_channels": ["voice"]},
        headers=headers,
    ).json()
    assert patched["sms_consent"] is False and patched["channel"] == "voice"
    bad = client.patch(
        f"/api/contacts/{old.json()['id']}", json={"channel": "carrier-pigeon"}, headers=headers
    )
    assert bad.status_code == 422 and "channel" in bad.json()["error"]["fields"]
    with db.session_scope() as session:
        changes = [
            e.changes
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.entity_id == old.json()["id"])
            )
        ]
    assert {
        "channel": ["sms", "voice"],
        "consented_channels": [["sms"], ["voice"]],
        "sms_consent": [True, False],
    }.items() <= changes[-1].items()
    read = client.get(f"/api/cases/{case_id}", headers=headers).json()
    assert {c["channel"] for c in read["contacts"]} == {"voice", "whatsapp"}
