"""Cases through the API: intake, reads (audited), edits, bad input, and the urgency queue."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import Alert, AuditEntry, Case, Facility, FieldOffice
from tracker.schemas import DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import FacilityKind, RequestKind, Role


def _count(model: type) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _office_id() -> str:
    with db.session_scope() as session:
        office = session.scalars(select(FieldOffice).order_by(FieldOffice.code)).first()
        assert office is not None
        return str(office.id)


def test_intake_read_and_patch_are_audited(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    created = client.post(
        "/api/cases",
        json={
            "given_name": "Ana",
            "family_name": "Pérez",
            "a_number": "A-12-345-678",
            "country_of_birth": "gt",
            "preferred_language": "ES",
            "removal_scheduled_at": (NOW + timedelta(hours=20)).isoformat(),
            "factors": ["pregnant", "caretaker"],
            "attorney_id": str(north.users[Role.attorney].id),
        },
        headers=north.headers(Role.hotline),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["a_number"] == "012345678"
    assert body["country_of_birth"] == "GT"
    assert body["preferred_language"] == "es"
    assert body["factors"] == ["caretaker", "pregnant"]
    assert created.headers["location"] == f"/api/cases/{body['id']}"
    assert [(f["kind"], f["rung"]) for f in body["flags"]] == [("removal_imminent", 24)]
    assert body["contacts"] == [] and body["requests"] == []

    got = client.get(f"/api/cases/{body['id']}", headers=north.headers(Role.coordinator))
    assert got.status_code == 200 and got.json()["given_name"] == "Ana"

    patched = client.patch(
        f"/api/cases/{body['id']}",
        json={"removal_scheduled_at": None, "custody_status": "released"},
        headers=north.headers(Role.attorney),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["flags"] == [] and patched.json()["custody_status"] == "released"

    with db.session_scope() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == body["id"]).order_by(AuditEntry.id)
        ).all()
        assert [(e.action, e.actor_id) for e in entries] == [
            ("create", north.users[Role.hotline].id),
            ("read", north.users[Role.coordinator].id),
            ("update", north.users[Role.attorney].id),
        ]
        assert entries[2].changes["custody_status"] == ["detained", "released"]
        assert entries[2].changes["removal_scheduled_at"][1] is None


def test_a_number_formats(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    for raw, expected in [
        ("A-123-456-789", "123456789"),
        ("A123456789", "123456789"),
        ("123456789", "123456789"),
        ("12345678", "012345678"),
    ]:
        r = client.post(
            "/api/cases", json={"given_name": "X", "a_number": raw}, headers=north.headers()
        )
        assert r.status_code == 201 and r.json()["a_number"] == expected


BAD_INTAKES: list[tuple[dict[str, Any], str]] = [
    ({}, "given_name"),
    ({"given_name": "  "}, "given_name"),
    ({"given_name": "A", "a_number": "A-12"}, "a_number"),
    ({"given_name": "A", "country_of_birth": "Mexico"}, "country_of_birth"),
    ({"given_name": "A", "removal_scheduled_at": "2026-11-24T10:00:00"}, "removal_scheduled_at"),
    (
        {"given_name": "A", "removal_scheduled_at": "9999-12-31T23:00:00-05:00"},
        "removal_scheduled_at",
    ),
    ({"given_name": "A", "factors": ["tall"]}, "factors"),
    ({"given_name": "A", "facility_id": "6a1b7e1e-0000-4000-8000-000000000000"}, "facility_id"),
    ({"given_name": "A", "attorney_id": "not-a-uuid"}, "attorney_id"),
    ({"given_name": "A", "flags": []}, "flags"),
    ({"given_name": "A\u0000B"}, "given_name"),
    ({"given_name": "A", "custody_status": "deported"}, "custody_status"),
]


def test_bad_intake_is_a_422_naming_the_field_and_writes_nothing(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    before = (_count(Case), _count(AuditEntry))
    for payload, field in BAD_INTAKES:
        r = client.post("/api/cases", json=payload, headers=north.headers())
        assert r.status_code == 422, (payload, r.text)
        assert field in r.json()["error"]["fields"], (payload, r.json())
    # The attorney of another organisation is not a valid reference either.
    other = client.post(
        "/api/cases",
        json={"given_name": "A", "attorney_id": str(orgs[1].users[Role.attorney].id)},
        headers=north.headers(),
    )
    assert other.status_code == 422 and "attorney_id" in other.json()["error"]["fields"]
    assert (_count(Case), _count(AuditEntry)) == before


def test_bad_patch_writes_nothing(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    case_id = client.post("/api/cases", json={"given_name": "A"}, headers=north.headers()).json()[
        "id"
    ]
    before = _count(AuditEntry)
    for payload, field in [
        ({"custody_status": None}, "custody_status"),
        ({"factors": None}, "factors"),
        ({"given_name": None}, "given_name"),
        ({"a_number": "12"}, "a_number"),
        ({"closed": "maybe"}, "closed"),
    ]:
        r = client.patch(f"/api/cases/{case_id}", json=payload, headers=north.headers())
        assert r.status_code == 422 and field in r.json()["error"]["fields"], (payload, r.text)
    assert _count(AuditEntry) == before
    got = client.get(f"/api/cases/{case_id}", headers=north.headers()).json()
    assert got["given_name"] == "A" and got["custody_status"] == "detained"


_created = itertools.count()


def _case(org: Org, **fields: Any) -> str:
    """A case created a little after the previous one (so that creation order is the order),
    at a facility unless told otherwise (one opened nowhere is flagged whereabouts_unknown after
    a day, and these cases were opened three days ago)."""
    fields.setdefault("given_name", "Test")
    at = NOW - timedelta(days=3) + timedelta(seconds=next(_created))
    with db.session_scope() as session:
        if "facility_id" not in fields:
            held = session.scalar(select(Facility).where(Facility.name == "Test Held Center"))
            if held is None:
                held = Facility(name="Test Held Center", time_zone="America/Chicago")
                session.add(held)
                session.flush()
            fields["facility_id"] = held.id
        return str(
            case_service.create_case(session, org.actor(), case_service.CaseCreate(**fields), at).id
        )


def _decided_request(case_id: str, org: Org, decided_at: Any, outcome: str = "granted") -> str:
    with db.session_scope() as session:
        case = case_service.get_case(session, org.actor(), __import__("uuid").UUID(case_id))
        req = request_service.create_request(
            session,
            org.actor(),
            case,
            RequestCreate(kind=RequestKind.release, filed_at=decided_at - timedelta(days=1)),
            decided_at,
        )
        request_service.record_determination(
            session,
            org.actor(),
            req,
            DeterminationIn(outcome=outcome, decided_at=decided_at),  # type: ignore[arg-type]
            decided_at,
        )
        return str(req.id)


def _ids(client: TestClient, org: Org, query: str = "") -> list[str]:
    r = client.get(f"/api/cases?{query}", headers=org.headers())
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


def test_queue_order_filters_and_pagination(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, south = orgs
    office = _office_id()
    attorney = str(north.users[Role.attorney].id)
    # Created in this order, so created_at ties are broken by id only where equal.
    late = _case(north, removal_scheduled_at=NOW + timedelta(hours=200))  # no flag yet
    soon = _case(
        north,
        given_name="María José",
        family_name="Gómez",
        a_number="987654321",
        removal_scheduled_at=NOW + timedelta(hours=5),
        field_office_id=office,
    )
    in_50h = _case(north, removal_scheduled_at=NOW + timedelta(hours=50), attorney_id=attorney)
    documented = _case(north)
    _decided_request(documented, north, NOW - timedelta(hours=1))  # due in 47 h
    unscheduled_1 = _case(north)
    unscheduled_2 = _case(north)
    closed = _case(north)
    with db.session_scope() as session:
        case = session.get(Case, __import__("uuid").UUID(closed))
        assert case is not None
        case.closed_at = NOW - timedelta(days=1)
    _case(south, removal_scheduled_at=NOW + timedelta(hours=1))  # never in north's queue

    # Flags first by soonest due (5 h, 47 h, 50 h), then by removal, then by creation.
    expected = [soon, documented, in_50h, late, unscheduled_1, unscheduled_2]
    r = client.get("/api/cases", headers=north.headers())
    items = r.json()["items"]
    assert [c["id"] for c in items] == expected
    assert r.json()["next_cursor"] is None
    assert [f["kind"] for f in items[1]["flags"]] == ["documentation_due"]
    assert items[1]["flags"][0]["request_id"] is not None
    assert items[0]["flags"][0]["rung"] == 6 and items[2]["flags"][0]["rung"] == 72

    # Every page size walks the same order, without repeats or gaps.
    for limit in (1, 2, 4):
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(f"/api/cases?{query}", headers=north.headers()).json()
            assert len(page["items"]) <= limit
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, limit

    assert _ids(client, north, "closed=true")[-1] == closed
    assert _ids(client, north, "flag=removal_imminent") == [soon, in_50h]
    assert _ids(client, north, "flag=documentation_due") == [documented]
    assert _ids(client, north, "flag=unanswered") == []
    assert _ids(client, north, f"field_office_id={office}") == [soon]
    assert _ids(client, north, f"attorney_id={attorney}") == [in_50h]
    assert _ids(client, north, "q=maria") == [soon]
    assert _ids(client, north, "q=GOMEZ%20Jos%C3%A9") == [soon]
    assert _ids(client, north, "q=Gomez%20Pedro") == []
    assert _ids(client, north, "q=A-987-654-321") == [soon]
    assert _ids(client, south, "q=A-987-654-321") == []

    for bad in ("cursor=nonsense", "limit=0", "limit=201", "flag=late", "closed=perhaps"):
        r = client.get(f"/api/cases?{bad}", headers=north.headers())
        assert r.status_code == 422, bad
        assert set(r.json()["error"]["fields"]) == {bad.split("=")[0]}


def test_a_granted_stay_lifts_the_removal_flag(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    stayed = _case(north, removal_scheduled_at=NOW + timedelta(hours=3))
    flagged = _case(north, removal_scheduled_at=NOW + timedelta(hours=30))
    r = client.post(
        f"/api/cases/{stayed}/requests",
        json={"kind": "stay_of_removal", "filed_at": (NOW - timedelta(days=2)).isoformat()},
        headers=north.headers(),
    )
    assert r.status_code == 201
    assert _ids(client, north) == [stayed, flagged]
    decided = client.post(
        f"/api/requests/{r.json()['id']}/determination",
        json={"outcome": "granted", "decided_at": (NOW - timedelta(hours=1)).isoformat()},
        headers=north.headers(),
    )
    assert decided.status_code == 200, decided.text
    # The stay's documentation is now due (47 h), after the 30 h removal of the other case.
    items = client.get("/api/cases", headers=north.headers()).json()["items"]
    assert [c["id"] for c in items] == [flagged, stayed]
    assert [f["kind"] for f in items[1]["flags"]] == ["documentation_due"]


def test_facility_sets_the_field_office(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    office = _office_id()
    facility = client.post(
        "/api/facilities",
        json={
            "name": "Test Processing Center",
            "field_office_id": office,
            "time_zone": "America/Chicago",
        },
        headers=north.headers(Role.admin),
    )
    assert facility.status_code == 201, facility.text
    case = client.post(
        "/api/cases",
        json={"given_name": "A", "facility_id": facility.json()["id"]},
        headers=north.headers(Role.hotline),
    )
    assert case.status_code == 201 and case.json()["field_office_id"] == office
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Facility)) == 1


def test_intake_raises_what_is_due_at_once_in_the_same_request(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    """A removal inside the alert ladder, or a staging facility, alerts as the case is opened;
    a case with nothing due raises nothing. The answer's flags are the rules' at intake."""
    north, _ = orgs
    with db.session_scope() as session:
        staging = Facility(name="Fictional Staging", time_zone="America/Chicago")
        staging.kind = FacilityKind.staging
        held = Facility(name="Fictional Held Center", time_zone="America/Chicago")
        session.add_all([staging, held])
        session.flush()
        staging_id, held_id = str(staging.id), str(held.id)
    soon = (NOW + timedelta(hours=5)).isoformat()
    later = (NOW + timedelta(days=30)).isoformat()
    for body, raised in (
        ({"facility_id": held_id, "removal_scheduled_at": later}, set()),
        ({"facility_id": held_id, "removal_scheduled_at": soon}, {("removal_imminent", 6)}),
        ({"facility_id": staging_id}, {("removal_likely", None)}),
    ):
        r = client.post("/api/cases", json={"given_name": "Ana", **body}, headers=north.headers())
        assert r.status_code == 201, r.text
        assert {(f["kind"], f["rung"]) for f in r.json()["flags"]} == raised, body
        with db.session_scope() as session:
            alerts = session.execute(
                select(Alert.kind, Alert.rung, Alert.resolved_at).where(
                    Alert.case_id == uuid.UUID(r.json()["id"])
                )
            ).all()
        assert {(kind, rung) for kind, rung, _ in alerts} == raised, body
        assert all(resolved is None for _, _, resolved in alerts)
