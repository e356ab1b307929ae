"""The authorization matrix, generated from the route table: every operation × role, every
operation × own / other organisation, and 401 without or with a revoked token."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from notifications import outbox
from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import Alert, ApiToken, OnCallShift
from tracker.permissions import PERMISSIONS
from tracker.schemas import CaseCreate, ContactCreate, DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import requests as request_service
from tracker.vocab import ContactRole, RequestKind, Role
from tracker.web.api import OPERATIONS


def _url(path: str, id_: object) -> str:
    return path.replace("{id:uuid}", str(id_))


def test_every_role_against_every_operation(client: TestClient, orgs: tuple[Org, Org]) -> None:
    """Allowed roles get past authorization (to a 404 of a missing id, a 422 of an empty
    body, or a 200 of a list); the others get 403 — and nothing is written either way."""
    north, _ = orgs
    missing = uuid.uuid4()
    for op in OPERATIONS:
        for role in Role:
            kwargs: dict[str, Any] = {"headers": north.headers(role)}
            if op.body is not None:
                kwargs["json"] = {"not_a_field": 1}
            r = client.request(op.method, _url(op.path, missing), **kwargs)
            allowed = role in PERMISSIONS[op.permission]
            if not allowed:
                expected = {403}
            elif op.body is not None:
                expected = {422}  # the body is validated before the lookup
            elif op.path_params:
                expected = {404}
            else:
                expected = {200}
            assert r.status_code in expected, (op.method, op.path, role, r.status_code, r.text)


def test_no_token_or_revoked_token_is_401(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    with db.session_scope() as session:
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == north.users[Role.admin].id)
        ):
            token.revoked_at = NOW
    for op in OPERATIONS:
        url = _url(op.path, uuid.uuid4())
        for headers in ({}, north.headers(Role.admin), {"Authorization": "Bearer "}):
            r = client.request(op.method, url, headers=headers, json={})
            assert r.status_code == 401, (op.path, headers)
            assert r.json()["error"]["code"] == "unauthorized"


@pytest.fixture
def world(orgs: tuple[Org, Org]) -> dict[str, Any]:
    """One of each resource in the north organisation, in the states the operations need."""
    north, _ = orgs
    actor = north.actor(Role.attorney)
    at = NOW - timedelta(days=3)
    with db.session_scope() as session:
        case = case_service.create_case(
            session, actor, CaseCreate(given_name="Test", removal_scheduled_at=NOW), at
        )
        family = contact_service.add_contact(
            session,
            actor,
            case,
            ContactCreate(
                role=ContactRole.family, phone="+12025550142", language="es", sms_consent=True
            ),
            at,
        )
        spare = contact_service.add_contact(
            session, actor, case, ContactCreate(role=ContactRole.other, phone="2025550143"), at
        )
        filed = request_service.create_request(
            session, actor, case, RequestCreate(kind=RequestKind.release, filed_at=at), at
        )
        denied = request_service.create_request(
            session, actor, case, RequestCreate(kind=RequestKind.stay_of_removal, filed_at=at), at
        )
        request_service.record_determination(
            session,
            actor,
            denied,
            DeterminationIn(outcome="denied", decided_at=at + timedelta(hours=1)),
            at + timedelta(hours=1),
        )
        alert = Alert(
            organization_id=north.org.id,
            case_id=case.id,
            kind="removal_imminent",
            rung=6,
            due_at=NOW,
            dedupe_key=f"test:{case.id}",
            raised_at=at,
        )
        session.add(alert)
        outbox.enqueue(
            session,
            organization_id=north.org.id,
            to_phone="+12025550142",
            kind="request_filed",
            dedupe_key=f"test-n:{case.id}",
            language="en",
            params={"request_kind": "release"},
            case_id=case.id,
            contact_id=family.id,
            now=at,
        )
        shift = OnCallShift(
            organization_id=north.org.id,
            name="Volunteer",
            phone="+12025550177",
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=8),
        )
        session.add(shift)
        session.flush()
        return {
            "shift": shift.id,
            "case": case.id,
            "contact": family.id,
            "spare_contact": spare.id,
            "filed": filed.id,
            "denied": denied.id,
            "alert": alert.id,
        }


# operation id → (resource of the path id, body, expected status for the own organisation)
CALLS: dict[str, tuple[str | None, dict[str, Any] | None, int]] = {
    "create_case": (None, {"given_name": "Test"}, 201),
    "list_cases": (None, None, 200),
    "get_case": ("case", None, 200),
    "update_case": ("case", {"preferred_language": "ht"}, 200),
    "create_contact": ("case", {"role": "counsel", "phone": "202-555-0144"}, 201),
    "update_contact": ("contact", {"language": "ht"}, 200),
    "delete_contact": ("spare_contact", None, 204),
    "create_request": ("case", {"kind": "prosecutorial_discretion"}, 201),
    "get_request": ("filed", None, 200),
    "update_request": ("filed", {"notes": "sent by fax"}, 200),
    "record_determination": (
        "filed",
        {"outcome": "granted", "decided_at": (NOW - timedelta(hours=2)).isoformat()},
        200,
    ),
    "record_documentation": (
        "denied",
        {
            "received_at": (NOW - timedelta(hours=1)).isoformat(),
            "language": "es",
            "advised_right_to_appeal": True,
        },
        200,
    ),
    "appeal_request": ("denied", {}, 201),
    "list_alerts": (None, None, 200),
    "acknowledge_alert": ("alert", None, 200),
    "list_notifications": ("case", None, 200),
    "list_field_offices": (None, None, 200),
    "list_facilities": (None, None, 200),
    "create_facility": (
        None,
        {"name": "Test Detention Center", "time_zone": "America/Los_Angeles"},
        201,
    ),
    "list_case_audit": ("case", None, 200),
    "field_office_report_json": (None, None, 200),
    "my_calendar": (None, None, 200),
    "rotate_calendar": (None, None, 200),
    "list_custody_events": ("case", None, 200),
    "create_custody_event": (
        "case",
        {"kind": "whereabouts_unknown", "at": (NOW - timedelta(hours=1)).isoformat()},
        201,
    ),
    "list_shifts": (None, None, 200),
    "create_shift": (
        None,
        {
            "name": "Volunteer",
            "phone": "202-555-0177",
            "starts_at": NOW.isoformat(),
            "ends_at": (NOW + timedelta(hours=8)).isoformat(),
        },
        201,
    ),
    "delete_shift": ("shift", None, 204),
    "list_inbox": (None, None, 200),
    "list_case_messages": ("case", None, 200),
    # "{contact}": the world's resource of that name (filled in by ``_body``).
    "reply_to_case": ("case", {"contact_id": "{contact}", "body": "We are on it."}, 201),
}


def _body(body: dict[str, Any] | None, world: dict[str, Any]) -> dict[str, Any] | None:
    if body is None:
        return None
    return {
        k: str(world[v[1:-1]]) if isinstance(v, str) and v.startswith("{") else v
        for k, v in body.items()
    }


def test_the_table_covers_every_operation() -> None:
    assert set(CALLS) == {op.operation_id for op in OPERATIONS}


def test_other_organisation_ids_answer_404_like_missing_ones(
    client: TestClient, orgs: tuple[Org, Org], world: dict[str, Any]
) -> None:
    north, south = orgs
    for op in OPERATIONS:
        resource, body, own_status = CALLS[op.operation_id]
        if resource is None:
            continue
        url = _url(op.path, world[resource])
        body = _body(body, world)
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        # The other organisation first (its answer must not depend on, nor change, the state).
        other = client.request(op.method, url, headers=south.headers(Role.admin), **kwargs)
        missing = client.request(
            op.method, _url(op.path, uuid.uuid4()), headers=south.headers(Role.admin), **kwargs
        )
        assert other.status_code == 404, (op.path, other.text)
        assert other.json() == missing.json()
    for op in OPERATIONS:
        resource, body, own_status = CALLS[op.operation_id]
        url = _url(op.path, world[resource]) if resource else op.path
        body = _body(body, world)
        kwargs = {"json": body} if body is not None else {}
        own = client.request(op.method, url, headers=north.headers(Role.admin), **kwargs)
        assert own.status_code == own_status, (op.method, op.path, own.text)


def test_lists_never_show_another_organisations_rows(
    client: TestClient, orgs: tuple[Org, Org], world: dict[str, Any]
) -> None:
    north, south = orgs
    assert client.get("/api/cases", headers=south.headers()).json()["items"] == []
    assert client.get("/api/alerts", headers=south.headers()).json()["items"] == []
    own = client.get("/api/cases", headers=north.headers()).json()["items"]
    assert [c["id"] for c in own] == [str(world["case"])]
