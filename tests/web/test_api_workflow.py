"""Contacts, requests, alerts, notifications, reference data and the audit log via the API."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient

from notifications import outbox
from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import Alert, AuditEntry, Contact, Notification, Request
from tracker.vocab import Role


def _count(model: type, *where: Any) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _new_case(client: TestClient, org: Org) -> str:
    r = client.post("/api/cases", json={"given_name": "Test"}, headers=org.headers(Role.hotline))
    assert r.status_code == 201
    return str(r.json()["id"])


def test_contacts(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = _new_case(client, north)
    r = client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "family", "phone": "(202) 555-0142", "language": "es", "sms_consent": True},
        headers=north.headers(Role.hotline),
    )
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["phone"] == "+12025550142"
    assert contact["opted_out"] is False and contact["unreachable"] is False

    before = _count(Contact), _count(AuditEntry)
    for payload, field in [
        ({"role": "family", "phone": "555"}, "phone"),
        ({"role": "family", "phone": "+1 202 555 0142", "language": "not a tag!"}, "language"),
        ({"role": "cousin", "phone": "+1 202 555 0142"}, "role"),
        ({"role": "family", "phone": "+1 202 555 0142", "opted_out": False}, "opted_out"),
    ]:
        bad = client.post(f"/api/cases/{case_id}/contacts", json=payload, headers=north.headers())
        assert bad.status_code == 422 and field in bad.json()["error"]["fields"], payload
    assert (_count(Contact), _count(AuditEntry)) == before

    patched = client.patch(
        f"/api/contacts/{contact['id']}",
        json={"phone": "+1 202-555-0199", "sms_consent": False},
        headers=north.headers(),
    )
    assert patched.status_code == 200
    assert patched.json()["phone"] == "+12025550199" and patched.json()["sms_consent"] is False
    assert (
        client.patch(
            f"/api/contacts/{contact['id']}", json={"unreachable": True}, headers=north.headers()
        ).status_code
        == 422
    )
    case = client.get(f"/api/cases/{case_id}", headers=north.headers()).json()
    assert [c["id"] for c in case["contacts"]] == [contact["id"]]

    assert (
        client.delete(f"/api/contacts/{contact['id']}", headers=north.headers()).status_code == 204
    )
    assert (
        client.delete(f"/api/contacts/{contact['id']}", headers=north.headers()).status_code == 404
    )
    assert _count(Contact) == 0
    actions = _count(AuditEntry, AuditEntry.entity == "contact")
    assert actions == 3  # create, update, delete


def test_request_lifecycle(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = _new_case(client, north)
    client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "family", "phone": "+12025550142", "language": "es", "sms_consent": True},
        headers=north.headers(),
    )
    filed = client.post(
        f"/api/cases/{case_id}/requests",
        json={"kind": "stay_of_removal", "filed_at": (NOW - timedelta(days=3)).isoformat()},
        headers=north.headers(Role.hotline),
    )
    assert filed.status_code == 201, filed.text
    req = filed.json()
    assert req["status"] == "filed" and req["flags"] == [] and req["appeal_of"] is None
    assert filed.headers["location"] == f"/api/requests/{req['id']}"

    future = client.post(
        f"/api/cases/{case_id}/requests",
        json={"kind": "release", "filed_at": (NOW + timedelta(days=1)).isoformat()},
        headers=north.headers(),
    )
    assert future.status_code == 422 and "filed_at" in future.json()["error"]["fields"]
    assert (
        client.post(
            f"/api/cases/{case_id}/requests", json={"kind": "appeal"}, headers=north.headers()
        ).status_code
        == 422
    )

    # The hotline files; deciding is counsel's.
    decision = {"outcome": "denied", "decided_at": (NOW - timedelta(hours=50)).isoformat()}
    url = f"/api/requests/{req['id']}"
    assert (
        client.post(
            f"{url}/determination", json=decision, headers=north.headers(Role.hotline)
        ).status_code
        == 403
    )
    notifications_before = _count(Notification)
    decided = client.post(f"{url}/determination", json=decision, headers=north.headers())
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "denied"
    assert [f["kind"] for f in decided.json()["flags"]] == ["documentation_overdue"]
    # The family is told, in the same transaction.
    assert _count(Notification) == notifications_before + 1
    again = client.post(f"{url}/determination", json=decision, headers=north.headers())
    assert again.status_code == 422 and "outcome" in again.json()["error"]["fields"]

    early = client.post(
        f"{url}/documentation",
        json={
            "received_at": (NOW - timedelta(hours=60)).isoformat(),
            "language": "es",
            "advised_right_to_appeal": True,
        },
        headers=north.headers(),
    )
    assert early.status_code == 422 and "received_at" in early.json()["error"]["fields"]
    documented = client.post(
        f"{url}/documentation",
        json={
            "received_at": (NOW - timedelta(hours=1)).isoformat(),
            "language": "es",
            "advised_right_to_appeal": False,
        },
        headers=north.headers(),
    )
    assert documented.status_code == 200
    assert documented.json()["flags"] == []
    assert documented.json()["documentation_language"] == "es"
    assert documented.json()["advised_right_to_appeal"] is False

    appealed = client.post(f"{url}/appeal", headers=north.headers())
    assert appealed.status_code == 201, appealed.text
    appeal = appealed.json()
    assert appeal["kind"] == "appeal" and appeal["appeal_of"] == req["id"]
    assert appealed.headers["location"] == f"/api/requests/{appeal['id']}"

    patched = client.patch(
        f"/api/requests/{appeal['id']}",
        json={"status": "filed", "notes": "to the supervisor"},
        headers=north.headers(),
    )
    assert patched.status_code == 200 and patched.json()["status"] == "filed"
    got = client.get(f"/api/requests/{appeal['id']}", headers=north.headers(Role.coordinator))
    assert got.json()["notes"] == "to the supervisor"
    # A granted request cannot be appealed.
    assert (
        client.post(f"/api/requests/{appeal['id']}/appeal", json={}, headers=north.headers())
    ).status_code == 422
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Request)) == 2
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == req["id"])
        ).all()
        assert actions == ["create", "update", "update"]


def _alert(org: Org, case_id: str, kind: str = "removal_imminent", **extra: Any) -> str:
    with db.session_scope() as session:
        alert = Alert(
            organization_id=org.org.id,
            case_id=uuid.UUID(case_id),
            kind=kind,
            rung=6,
            due_at=NOW + timedelta(hours=5),
            dedupe_key=f"test:{uuid.uuid4()}",
            raised_at=NOW - timedelta(minutes=30),
            **extra,
        )
        session.add(alert)
        session.flush()
        return str(alert.id)


def test_alerts_list_and_acknowledge(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = _new_case(client, north)
    open_id = _alert(north, case_id)
    resolved_id = _alert(north, case_id, resolved_at=NOW - timedelta(minutes=5))
    listed = client.get("/api/alerts?open=true", headers=north.headers()).json()["items"]
    assert [a["id"] for a in listed] == [open_id]
    assert listed[0]["acknowledged_at"] is None and listed[0]["case_id"] == case_id
    assert [
        a["id"]
        for a in client.get("/api/alerts?open=false", headers=north.headers()).json()["items"]
    ] == [resolved_id]
    assert len(client.get("/api/alerts", headers=north.headers()).json()["items"]) == 2

    ack = client.post(f"/api/alerts/{open_id}/ack", headers=north.headers(Role.hotline))
    assert ack.status_code == 200 and ack.json()["acknowledged_at"] is not None
    assert ack.json()["acknowledged_via"] == "api"
    again = client.post(f"/api/alerts/{open_id}/ack", headers=north.headers())
    assert again.json()["acknowledged_at"] == ack.json()["acknowledged_at"]
    # Acknowledged, not resolved: still open.
    listed = client.get("/api/alerts?open=true", headers=north.headers()).json()["items"]
    assert [a["id"] for a in listed] == [open_id] and listed[0]["acknowledged_at"] is not None
    assert _count(AuditEntry, AuditEntry.action == "acknowledge") == 1
    assert (
        client.post(
            f"/api/alerts/{open_id}/ack", headers=north.headers(Role.coordinator)
        ).status_code
        == 403
    )


def test_notifications_are_masked(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = _new_case(client, north)
    with db.session_scope() as session:
        outbox.enqueue(
            session,
            organization_id=north.org.id,
            to_phone="+12025550142",
            kind="request_filed",
            dedupe_key="test:n1",
            language="es",
            params={"request_kind": "release"},
            case_id=uuid.UUID(case_id),
            now=NOW,
        )
    r = client.get(f"/api/cases/{case_id}/notifications", headers=north.headers(Role.hotline))
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["recipient"] == "+1••••••0142"
    assert item["status"] == "queued" and item["attempts"] == 0 and item["segments"] >= 1
    assert item["channel"] == "sms"
    assert "2025550142" not in r.text and "body" not in item
    assert _count(AuditEntry, AuditEntry.entity == "case_notifications") == 1


def test_reference_data(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    offices = client.get("/api/field-offices", headers=north.headers(Role.hotline)).json()["items"]
    assert len(offices) == 25 and all(o["time_zone"] for o in offices)
    body = {
        "name": "Test Facility",
        "field_office_id": offices[0]["id"],
        "time_zone": "America/Chicago",
    }
    assert client.post("/api/facilities", json=body, headers=north.headers()).status_code == 403
    created = client.post("/api/facilities", json=body, headers=north.headers(Role.admin))
    assert created.status_code == 201 and created.json()["time_zone"] == "America/Chicago"
    dup = client.post("/api/facilities", json=body, headers=north.headers(Role.admin))
    assert dup.status_code == 422 and "name" in dup.json()["error"]["fields"]
    bad = client.post(
        "/api/facilities",
        json={"name": "Other", "time_zone": "Mars/Olympus", "field_office_id": str(uuid.uuid4())},
        headers=north.headers(Role.admin),
    )
    assert bad.status_code == 422 and "time_zone" in bad.json()["error"]["fields"]
    listed = client.get("/api/facilities", headers=north.headers(Role.coordinator)).json()["items"]
    assert [f["name"] for f in listed] == ["Test Facility"]
    assert _count(AuditEntry, AuditEntry.entity == "facility") == 1


def test_case_audit_log(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = _new_case(client, north)
    client.get(f"/api/cases/{case_id}", headers=north.headers())
    contact = client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "family", "phone": "+12025550142"},
        headers=north.headers(),
    ).json()
    for role in (Role.attorney, Role.hotline):
        assert (
            client.get(f"/api/cases/{case_id}/audit", headers=north.headers(role)).status_code
            == 403
        )
    r = client.get(f"/api/cases/{case_id}/audit?limit=2", headers=north.headers(Role.coordinator))
    assert r.status_code == 200
    page1 = r.json()
    assert [(e["action"], e["entity"]) for e in page1["items"]] == [
        ("create", "case"),
        ("read", "case"),
    ]
    page2 = client.get(
        f"/api/cases/{case_id}/audit?cursor={page1['next_cursor']}",
        headers=north.headers(Role.admin),
    ).json()
    entries = [(e["action"], e["entity"], e["entity_id"]) for e in page2["items"]]
    assert ("create", "contact", contact["id"]) in entries
    assert ("read", "case_audit", case_id) in entries
    # Names and numbers are never in the audit log in clear.
    assert "+12025550142" not in str(page2) and page2["next_cursor"] is None
    bad = client.get(f"/api/cases/{case_id}/audit?cursor=abc", headers=north.headers(Role.admin))
    assert bad.status_code == 422
