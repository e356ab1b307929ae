"""Staging facilities on SQLite and PostgreSQL: the facility kind through the API and the admin
page; a case placed at a staging facility with no stay alerts ``removal_likely`` at once (no
removal date needed), the sweep finds staged cases it missed, acknowledgement and escalation work
as for ``removal_imminent``, and a stay from any forum lifts the alert."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from jobs.sweeps import sweep as one_sweep
from tests.jobs.world import ONCALL, T0, alerts, new_case, sms, world
from tests.jobs.world import sweep as run_sweeps
from tests.web.conftest import Org
from tests.web.pages_support import signed_in
from tracker import db
from tracker.models import Facility
from tracker.schemas import CaseUpdate, DeterminationIn, RequestCreate
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import FacilityKind, NotificationStatus, RequestKind, Role, StayForum

H = timedelta(hours=1)


def _staging(session: Session) -> Facility:
    staging = Facility(name="Fictional Staging", time_zone="America/Chicago")
    staging.kind = FacilityKind.staging
    staging.field_office_id = None
    session.add(staging)
    session.flush()
    return staging


def test_facility_kind_in_the_api_and_unknown_kind_422(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    made = client.post(
        "/api/facilities",
        json={"name": "Airport Staging", "time_zone": "America/Chicago", "kind": "staging"},
        headers=north.headers(Role.admin),
    )
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "staging"
    plain = client.post(
        "/api/facilities",
        json={"name": "County Jail", "time_zone": "America/Chicago"},
        headers=north.headers(Role.admin),
    )
    assert plain.json()["kind"] == "detention"
    bad = client.post(
        "/api/facilities",
        json={"name": "Somewhere", "time_zone": "America/Chicago", "kind": "airport"},
        headers=north.headers(Role.admin),
    )
    assert bad.status_code == 422 and set(bad.json()["error"]["fields"]) == {"kind"}
    listed = client.get("/api/facilities", headers=north.headers()).json()["items"]
    assert {f["name"]: f["kind"] for f in listed} == {
        "Airport Staging": "staging",
        "County Jail": "detention",
    }
    # A case placed there is flagged at once, with no removal date.
    case = client.post(
        "/api/cases",
        json={"given_name": "Ana", "facility_id": made.json()["id"]},
        headers=north.headers(Role.hotline),
    )
    assert [f["kind"] for f in case.json()["flags"]] == ["removal_likely"]
    queue = client.get("/api/cases?flag=removal_likely", headers=north.headers()).json()
    assert [c["id"] for c in queue["items"]] == [case.json()["id"]]


def test_admin_page_adds_a_staging_facility(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    token = signed_in(client, north.users[Role.admin].email)
    r = client.post(
        "/admin/facilities",
        data={
            "csrf_token": token,
            "name": "Fictional Hold Room",
            "time_zone": "America/Chicago",
            "kind": "staging",
        },
    )
    assert r.status_code == 200 and 'data-kind="staging"' in r.text
    with db.session_scope() as session:
        kind = session.scalar(select(Facility.kind).where(Facility.name == "Fictional Hold Room"))
    assert kind is FacilityKind.staging


def test_transfer_to_staging_alerts_counsel_acknowledged_like_removal(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    assert alerts(session, case) == []
    staging = _staging(session)
    moved = T0 + H
    case_service.update_case(session, w.actor, case, CaseUpdate(facility_id=staging.id), moved)
    session.commit()
    [alert] = alerts(session, case, "removal_likely")
    assert alert.due_at == moved and alert.rung is None
    bodies = sms(session, alert)
    assert {m.kind for m in bodies} == {"removal_likely"} and len(bodies) == 2
    assert all(m.urgent for m in bodies)
    assert "staging facility" in bodies[0].body and "Fictitia" not in bodies[0].body
    alert_service.acknowledge(session, w.actor, alert, moved + 5 * 60 * timedelta(seconds=1))
    assert run_sweeps(session, moved + 2 * H) == {}
    assert alerts(session, case, "removal_likely")[0].escalated_at is None


def test_unacknowledged_removal_likely_escalates_to_the_hotline(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    staging = _staging(session)
    case_service.update_case(session, w.actor, case, CaseUpdate(facility_id=staging.id), T0)
    assert run_sweeps(session, T0 + 61 * 60 * timedelta(seconds=1)) == {"escalation": 1}
    [alert] = alerts(session, case, "removal_likely")
    assert alert.escalated_at is not None
    assert [m.to_phone for m in sms(session, alert, "escalation")] == [ONCALL]


def test_the_staging_sweep_finds_cases_the_writes_did_not_flag(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    session.commit()
    # The facility is reclassified (a plain data fix, no case write): only the sweep can see it.
    session.execute(
        update(Facility).where(Facility.id == w.facility.id).values(kind=FacilityKind.staging)
    )
    session.commit()
    outcome = one_sweep("staging", T0 + H)
    assert outcome.candidates == 1 and dict(outcome.raised) == {"removal_likely": 1}
    again = one_sweep("staging", T0 + 2 * H)
    assert again.candidates == 0 and again.total == 0
    session.expire_all()
    assert len(alerts(session, case, "removal_likely")) == 1


def test_a_stay_from_any_forum_lifts_removal_likely(session: Session) -> None:
    w = world(session)
    case = new_case(session, w)
    staging = _staging(session)
    case_service.update_case(session, w.actor, case, CaseUpdate(facility_id=staging.id), T0)
    stay = request_service.create_request(
        session,
        w.actor,
        case,
        RequestCreate(kind=RequestKind.stay_of_removal, forum=StayForum.bia, filed_at=T0),
        T0,
    )
    request_service.record_determination(
        session,
        w.actor,
        stay,
        DeterminationIn(
            outcome="granted", decided_at=T0 + H, stay_expires_at=T0 + 30 * H, temporary=True
        ),
        T0 + H,
    )
    session.commit()
    [alert] = alerts(session, case, "removal_likely")
    assert alert.resolution == "stay_granted"
    assert {m.status for m in sms(session, alert)} <= {
        NotificationStatus.suppressed,
        NotificationStatus.queued,
    }
    # The temporary stay lapses: the sweep flags the person again.
    assert run_sweeps(session, T0 + 30 * H + 1 * timedelta(seconds=1)).get("removal_likely") == 1
    assert (
        session.scalar(
            select(func.count()).where(
                alert_service.Alert.case_id == case.id,
                alert_service.Alert.kind == "removal_likely",
                alert_service.Alert.resolved_at.is_(None),
            )
        )
        == 1
    )


def test_the_staging_sweep_reads_through_indexes(db_url: str) -> None:
    inspector = inspect(db.get_engine())
    facilities = {ix["name"] for ix in inspector.get_indexes("facilities")}
    cases = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("cases")}
    assert "ix_facilities_staging" in facilities
    assert cases["ix_cases_facility_id"] == ["facility_id"]
