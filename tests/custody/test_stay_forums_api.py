"""Stays from every forum through the API, on SQLite and PostgreSQL: the forum is recorded
(unknown → 422, nothing written), a granted temporary BIA stay lifts the removal alert and its
expiry climbs the ladder, the case says which forum protects until when, reports count by forum,
and rows from before forums existed read as ICE stays."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.migrate import upgrade
from tracker.models import Alert, AuditEntry, Request
from tracker.types import EncryptedText, UTCDateTime
from tracker.vocab import Role

H = timedelta(hours=1)


def _count(model: type, *where: Any) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _case(client: TestClient, org: Org, **fields: Any) -> str:
    body = {"given_name": "Ana", **fields}
    r = client.post("/api/cases", json=body, headers=org.headers(Role.hotline))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _stay(client: TestClient, org: Org, case_id: str, forum: str) -> dict[str, Any]:
    r = client.post(
        f"/api/cases/{case_id}/requests",
        json={"kind": "stay_of_removal", "forum": forum, "filed_at": (NOW - 2 * H).isoformat()},
        headers=org.headers(),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_unknown_forum_answers_422_and_writes_nothing(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    case_id = _case(client, north)
    before = _count(Request), _count(AuditEntry)
    bad = client.post(
        f"/api/cases/{case_id}/requests",
        json={"kind": "stay_of_removal", "forum": "supreme_court"},
        headers=north.headers(),
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"forum"}
    assert (_count(Request), _count(AuditEntry)) == before
    assert _stay(client, north, case_id, "district_court")["forum"] == "district_court"
    default = client.post(
        f"/api/cases/{case_id}/requests", json={"kind": "release"}, headers=north.headers()
    )
    assert default.json()["forum"] == "ice" and default.json()["temporary"] is False


def test_a_temporary_stay_needs_an_expiry_and_a_grant(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    stay = _stay(client, north, _case(client, north), "circuit_court")
    for body, field in [
        ({"outcome": "granted", "temporary": True}, "stay_expires_at"),
        ({"outcome": "denied", "temporary": True}, "temporary"),
    ]:
        r = client.post(
            f"/api/requests/{stay['id']}/determination",
            json={**body, "decided_at": (NOW - H).isoformat()},
            headers=north.headers(),
        )
        assert r.status_code == 422 and field in r.json()["error"]["fields"], r.text
    with db.session_scope() as session:
        row = session.get(Request, uuid.UUID(stay["id"]))
        assert row is not None and row.status.value == "filed" and not row.temporary


def test_a_temporary_bia_stay_lifts_the_removal_alert_and_its_expiry_alerts(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    case_id = _case(client, north, removal_scheduled_at=(NOW + 5 * H).isoformat())
    client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "counsel", "phone": "+1 202 555 0101"},
        headers=north.headers(),
    )
    open_removal = (
        Alert.case_id == uuid.UUID(case_id),
        Alert.kind == "removal_imminent",
        Alert.resolved_at.is_(None),
    )
    assert _count(Alert, *open_removal) == 1
    stay = _stay(client, north, case_id, "bia")
    decided = client.post(
        f"/api/requests/{stay['id']}/determination",
        json={
            "outcome": "granted",
            "decided_at": (NOW - H).isoformat(),
            "stay_expires_at": (NOW + 20 * H).isoformat(),
            "temporary": True,
        },
        headers=north.headers(),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["temporary"] is True and decided.json()["forum"] == "bia"
    assert {f["kind"] for f in decided.json()["flags"]} == {"documentation_due", "stay_expiring"}
    assert _count(Alert, *open_removal) == 0
    assert (
        _count(Alert, Alert.kind == "stay_expiring", Alert.rung == 24, Alert.resolved_at.is_(None))
        == 1
    )
    case = client.get(f"/api/cases/{case_id}", headers=north.headers()).json()
    assert "removal_imminent" not in [f["kind"] for f in case["flags"]]
    assert case["protected_by"]["forum"] == "bia" and case["protected_by"]["temporary"] is True
    assert case["protected_by"]["expires_at"].startswith((NOW + 20 * H).date().isoformat())
    listed = client.get("/api/cases", headers=north.headers()).json()["items"]
    assert [c["protected_by"]["forum"] for c in listed if c["id"] == case_id] == ["bia"]


def test_reports_break_stays_down_by_forum(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    for forum in ("bia", "bia", "immigration_judge"):
        _stay(client, north, _case(client, north), forum)
    client.post(
        f"/api/cases/{_case(client, north)}/requests",
        json={"kind": "release", "filed_at": (NOW - H).isoformat()},
        headers=north.headers(),
    )
    r = client.get(
        "/api/reports/field-offices",
        params={"from": "2026-11-01", "to": "2026-11-24"},
        headers=north.headers(Role.coordinator),
    )
    assert r.status_code == 200, r.text
    forums = {g["key"]: (g["label"], g["filed"]) for g in r.json()["stay_forums"]}
    assert forums == {"bia": ("BIA", 2), "immigration_judge": ("Immigration judge", 1)}
    assert r.json()["total"]["filed"] == 4


def test_requests_from_before_forums_migrate_to_ice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0002")
    engine = db.make_engine(url)
    org, case, request = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    meta = sa.MetaData()
    orgs = sa.Table(
        "organizations",
        meta,
        sa.Column("id", sa.Uuid()),
        sa.Column("name", sa.String()),
        sa.Column("alert_ladder_hours", sa.JSON()),
        sa.Column("unanswered_days", sa.JSON()),
        sa.Column("default_unanswered_days", sa.Integer()),
        sa.Column("escalation_delay_minutes", sa.Integer()),
        sa.Column("retention_days", sa.Integer()),
        sa.Column("time_zone", sa.String()),
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
    )
    cases = sa.Table(
        "cases",
        meta,
        sa.Column("id", sa.Uuid()),
        sa.Column("organization_id", sa.Uuid()),
        sa.Column("given_name", EncryptedText()),
        sa.Column("custody_status", sa.String()),
        sa.Column("factors", sa.JSON()),
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
    )
    requests = sa.Table(
        "requests",
        meta,
        sa.Column("id", sa.Uuid()),
        sa.Column("case_id", sa.Uuid()),
        sa.Column("kind", sa.String()),
        sa.Column("status", sa.String()),
        sa.Column("created_at", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime()),
    )
    try:
        with engine.begin() as conn:
            conn.execute(
                orgs.insert().values(
                    id=org,
                    name="Old",
                    alert_ladder_hours=[72, 24, 6],
                    unanswered_days={},
                    default_unanswered_days=14,
                    escalation_delay_minutes=60,
                    retention_days=365,
                    time_zone="America/New_York",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            conn.execute(
                cases.insert().values(
                    id=case,
                    organization_id=org,
                    given_name="Ana",
                    custody_status="detained",
                    factors=[],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            conn.execute(
                requests.insert().values(
                    id=request,
                    case_id=case,
                    kind="stay_of_removal",
                    status="granted",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT forum, temporary FROM requests WHERE kind = 'stay_of_removal'")
            ).one()
        assert row[0] == "ice" and not row[1]
    finally:
        engine.dispose()


def test_pages_record_the_forum_and_say_which_stay_protects_until_when(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    travel(client)
    case_id = _case(client, north, removal_scheduled_at=(NOW + 5 * H).isoformat())
    token = signed_in(client, north.users[Role.attorney].email)
    added = client.post(
        f"/cases/{case_id}/requests",
        data={
            "csrf_token": token,
            "kind": "stay_of_removal",
            "forum": "circuit_court",
            "filed_at": "2026-11-23T04:00",
        },
    )
    assert added.status_code == 200 and "Circuit court" in added.text
    with db.session_scope() as session:
        stay = session.scalar(select(Request).where(Request.case_id == uuid.UUID(case_id)))
        assert stay is not None and stay.forum.value == "circuit_court"
        stay_id = stay.id
    decided = client.post(
        f"/requests/{stay_id}/determination",
        data={
            "csrf_token": token,
            "outcome": "granted",
            "decided_at": "2026-11-23T05:00",
            "stay_expires_at": "2026-11-24T05:00",
            "temporary": "on",
        },
    )
    assert decided.status_code == 200, decided.text
    banner = decided.text.split('id="protecting-stay"', 1)[1].split("</p>", 1)[0]
    assert 'data-forum="circuit_court"' in decided.text
    assert "temporary stay from Circuit court" in " ".join(banner.split())
    assert "until" in banner and 'data-flag="removal_imminent"' not in decided.text
    queue = client.get("/")
    note = queue.text.split('class="stay-note"', 1)[1].split("</span>", 1)[0]
    assert "Circuit court" in note and "until" in note
