"""The import page: pasted CSV or spreadsheet cells, the same row/column report as the CLI."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import Case, Facility
from tracker.vocab import Role


def _cases() -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_import_page_reports_rows_and_imports_pasted_cells(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    travel(client)
    token = signed_in(client, north.users[Role.hotline].email)
    form = client.get("/import")
    assert form.status_code == 200 and "family_sms_consent" in form.text

    bad = client.post(
        "/import",
        data={
            "csrf_token": token,
            "csv": "given_name,a_number\nGood,123456789\n,\nBad,12\n",
        },
    )
    assert bad.status_code == 422
    assert "row 4, column a_number: an A-number has 8 or 9 digits" in bad.text
    assert _cases() == 0

    dry = client.post(
        "/import",
        data={"csrf_token": token, "csv": "given_name,country_of_birth\nAna,MX\n", "dry_run": "1"},
    )
    assert dry.status_code == 200 and "dry run: 1 of 1 rows valid" in dry.text
    assert _cases() == 0

    # Cells copied from a spreadsheet arrive tab-separated.
    pasted = "given_name\tfamily_name\tfield_office_code\nAna\tSample\tATL\nLuis\t\tHOU\n"
    done = client.post("/import", data={"csrf_token": token, "csv": pasted})
    assert done.status_code == 200 and "imported 2 of 2 cases" in done.text
    assert _cases() == 2
    with db.session_scope() as session:
        assert {c.organization_id for c in session.scalars(select(Case))} == {north.org.id}

    template = client.get("/import/template.csv")
    assert template.text.startswith("given_name,family_name,a_number")


def test_import_page_is_for_admins_and_hotline(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    travel(client)
    signed_in(client, north.users[Role.coordinator].email)
    assert client.get("/import").status_code == 403


def test_import_page_adds_no_facility_for_the_hotline(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    """The page threads the signed-in role to the importer: a hotline volunteer's paste that
    names an unknown facility is refused at that cell; an admin's adds the facility."""
    north, _ = orgs
    travel(client)
    pasted = "given_name,facility\nAna,Pasted Detention Center\n"
    token = signed_in(client, north.users[Role.hotline].email)
    refused = client.post("/import", data={"csrf_token": token, "csv": pasted})
    assert refused.status_code == 422
    assert (
        "row 2, column facility: unknown facility &#34;Pasted Detention Center&#34; "
        "(ask an admin to add it)" in refused.text
    )
    assert _cases() == 0 and _facilities() == []

    client.cookies.clear()
    token = signed_in(client, north.users[Role.admin].email)
    done = client.post("/import", data={"csrf_token": token, "csv": pasted})
    assert done.status_code == 200 and "new facilities: Pasted Detention Center" in done.text
    assert _cases() == 1 and _facilities() == ["Pasted Detention Center"]


def _facilities() -> list[str]:
    with db.session_scope() as session:
        return list(session.scalars(select(Facility.name)))
