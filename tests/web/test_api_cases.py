"""Cases through the API: intake, reads (audited), edits, and the urgency queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import AuditEntry, Case
from tracker.vocab import Role


def _count(model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_intake_read_and_patch(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    client.app.state.clock = lambda: NOW  # type: ignore[attr-defined]
    created = client.post(
        "/api/cases",
        json={
            "given_name": "Ana",
            "family_name": "Pérez",
            "a_number": "A-12-345-678",
            "country_of_birth": "gt",
            "removal_scheduled_at": (NOW + timedelta(hours=20)).isoformat(),
            "factors": ["pregnant"],
        },
        headers=north.headers(Role.hotline),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["a_number"] == "012345678"
    assert body["country_of_birth"] == "GT"
    assert created.headers["location"] == f"/api/cases/{body['id']}"
    assert [(f["kind"], f["rung"]) for f in body["flags"]] == [("removal_imminent", 24)]

    got = client.get(f"/api/cases/{body['id']}", headers=north.headers(Role.coordinator))
    assert got.status_code == 200
    assert got.json()["given_name"] == "Ana"
