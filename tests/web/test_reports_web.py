"""Reports over HTTP: the JSON and CSV API (scoped, role-checked, 422 on a bad period) and the
page with its SVG charts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import FieldOffice
from tracker.schemas import DeterminationIn, RequestCreate
from tracker.services import requests as request_service
from tracker.vocab import Role


def _seed(org: Org, n: int, outcome: str = "granted") -> None:
    with db.session_scope() as session:
        actor = org.actor(Role.attorney)
        office = session.scalar(select(FieldOffice.id).where(FieldOffice.code == "ATL"))
        for i in range(n):
            case = factories.case(session, actor, NOW, given_name=f"P{i}", field_office_id=office)
            req = request_service.create_request(
                session,
                actor,
                case,
                # Filed in October: a whole month that the public CSV can cover.
                RequestCreate(kind="release", filed_at=NOW - timedelta(days=30 + i)),
                NOW,
            )
            request_service.record_determination(
                session,
                actor,
                req,
                DeterminationIn(outcome=outcome, decided_at=NOW - timedelta(days=25)),
                NOW,
            )


def test_api_report_is_scoped_and_role_checked(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, south = orgs
    _seed(north, 6)
    _seed(south, 2, "denied")
    period = {"from": "2026-01-01", "to": "2026-11-23"}
    r = client.get(
        "/api/reports/field-offices", params=period, headers=north.headers(Role.coordinator)
    )
    assert r.status_code == 200
    body = r.json()
    assert body["total"]["granted"] == 6 and body["total"]["denied"] == 0
    assert [o["key"] for o in body["field_offices"]] == ["ATL"]
    assert body["field_offices"][0]["by_kind"]["release"]["filed"] == 6
    south_body = client.get(
        "/api/reports/field-offices", params=period, headers=south.headers(Role.admin)
    ).json()
    assert south_body["total"]["denied"] == 2 and south_body["total"]["granted"] == 0
    assert (
        client.get("/api/reports/field-offices", headers=north.headers(Role.hotline)).status_code
        == 403
    )
    assert client.get("/api/reports/field-offices").status_code == 401
    bad = client.get(
        "/api/reports/field-offices",
        params={"from": "yesterday", "to": "2026-01-01T00:00"},
        headers=north.headers(),
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"from", "to"}
    backwards = client.get(
        "/api/reports/field-offices",
        params={"from": "2026-05-01", "to": "2026-04-01"},
        headers=north.headers(),
    )
    assert backwards.status_code == 422 and "to" in backwards.json()["error"]["fields"]

    csv_response = client.get(
        "/api/reports/field-offices.csv", params={"period": "2026-10"}, headers=north.headers()
    )
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_response.text)))
    atl = next(r for r in rows if r[2] == "field_office" and r[3] == "ATL")
    assert atl[4] == "6" and atl[5] == "6"  # six filed, six granted: publishable
    for row in rows[1:]:
        assert all(v == "*" or int(v) >= 5 or v == "0" for v in row[4:])


def test_reports_page_renders_charts_for_readers_only(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    _seed(north, 5)
    travel(client)
    signed_in(client, north.users[Role.coordinator].email)
    page = client.get("/reports", params={"from": "2026-01-01", "to": "2026-11-23"})
    assert page.status_code == 200
    for chart in ("chart-grant-rate", "chart-documented", "chart-decisions"):
        assert f'id="{chart}"' in page.text
    assert "Atlanta Field Office" in page.text and "100%" in page.text
    download = client.get("/reports/field-offices.csv", params={"period": "2026-Q3"})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    bad = client.get("/reports", params={"from": "soon"})
    assert bad.status_code == 200 and "from: not a date" in bad.text

    client.post("/logout", data={"csrf_token": signed_in(client, north.users[Role.hotline].email)})
    signed_in(client, north.users[Role.hotline].email)
    assert client.get("/reports").status_code == 403
