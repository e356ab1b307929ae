"""The read-only operations (the list, one case, one request) authenticate from plain columns
(``authenticate(objects=False)``): the same answers as with the token's ORM objects, the
organisation's own thresholds, and the same refusals."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import Alert, ApiToken, Organization, User
from tracker.schemas import CaseCreate
from tracker.services import cases as case_service
from tracker.vocab import Role


def _case_with_removal_in(org: Org, hours: int) -> str:
    with db.session_scope() as session:
        case = case_service.create_case(
            session,
            org.actor(),
            CaseCreate(given_name="Ana", removal_scheduled_at=NOW + timedelta(hours=hours)),
            NOW - timedelta(days=1),
        )
        return str(case.id)


def _rungs(answer: dict[str, Any]) -> list[Any]:
    # (No facility at intake: its whereabouts_unknown flag has no rung.)
    return [(f["kind"], f["rung"]) for f in answer["flags"] if f["rung"] is not None]


def test_reads_apply_each_organisations_own_ladder(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, south = orgs
    with db.session_scope() as session:
        org = session.get(Organization, north.id)
        assert org is not None
        org.alert_ladder_hours = [48, 12]
    north_case = _case_with_removal_in(north, 10)
    south_case = _case_with_removal_in(south, 10)
    for _ in range(2):  # and again: nothing of one request's organisation stays for the next
        one = client.get(f"/api/cases/{north_case}", headers=north.headers())
        assert one.status_code == 200 and _rungs(one.json()) == [("removal_imminent", 12)]
        other = client.get(f"/api/cases/{south_case}", headers=south.headers())
        assert other.status_code == 200 and _rungs(other.json()) == [("removal_imminent", 24)]
        page = client.get("/api/cases?flag=removal_imminent", headers=north.headers())
        assert [(c["id"], _rungs(c)) for c in page.json()["items"]] == [
            (north_case, [("removal_imminent", 12)])
        ]


def test_reads_refuse_revoked_and_deactivated_tokens_and_other_organisations_cases(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, south = orgs
    case_id = _case_with_removal_in(north, 10)
    assert client.get(f"/api/cases/{case_id}", headers=south.headers()).status_code == 404
    assert client.get(f"/api/cases/{case_id}", headers=north.headers()).status_code == 200
    with db.session_scope() as session:
        token = session.scalar(
            select(ApiToken).where(ApiToken.user_id == north.users[Role.attorney].id)
        )
        assert token is not None
        token.revoked_at = NOW
        hotline = session.get(User, north.users[Role.hotline].id)
        assert hotline is not None
        hotline.active = False
    for path in (f"/api/cases/{case_id}", "/api/cases"):
        assert client.get(path, headers=north.headers()).status_code == 401
        assert client.get(path, headers=north.headers(Role.hotline)).status_code == 401
        assert client.get(path, headers=north.headers(Role.coordinator)).status_code == 200


def test_a_read_records_the_tokens_last_use_at_most_once_a_minute(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    user_id = north.users[Role.hotline].id

    def last_used() -> object:
        with db.session_scope() as session:
            return session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user_id))

    assert last_used() is None
    assert client.get("/api/cases", headers=north.headers(Role.hotline)).status_code == 200
    assert last_used() == NOW
    with db.session_scope() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.user_id == user_id))
        assert token is not None
        token.last_used_at = NOW - timedelta(seconds=30)
    assert client.get("/api/cases", headers=north.headers(Role.hotline)).status_code == 200
    assert last_used() == NOW - timedelta(seconds=30)  # within the minute: not written again
    with db.session_scope() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.user_id == user_id))
        assert token is not None
        token.last_used_at = NOW - timedelta(minutes=5)
    assert client.get("/api/cases", headers=north.headers(Role.hotline)).status_code == 200
    assert last_used() == NOW


def test_intake_applies_each_organisations_own_ladder(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    """Intake too authenticates from plain columns (``Operation.plain_auth``): its answer and
    the alert it raises at once follow the organisation's own ladder."""
    north, south = orgs
    with db.session_scope() as session:
        org = session.get(Organization, north.id)
        assert org is not None
        org.alert_ladder_hours = [48, 12]
    body = {"given_name": "Ana", "removal_scheduled_at": (NOW + timedelta(hours=10)).isoformat()}
    for _ in range(2):
        for who, rung in ((north, 12), (south, 24)):
            answer = client.post("/api/cases", json=body, headers=who.headers(Role.hotline))
            assert answer.status_code == 201, answer.text
            assert _rungs(answer.json()) == [("removal_imminent", rung)]
            with db.session_scope() as session:
                alert = session.scalars(
                    select(Alert).where(Alert.case_id == uuid.UUID(answer.json()["id"]))
                ).one()
                assert (alert.kind, alert.rung) == ("removal_imminent", rung)
