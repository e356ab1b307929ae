"""The public CSV cannot be differenced: whole, finished months or quarters only.

Exports for 1–10 and 1–11 October would differ by exactly the people who filed on the 11th.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests.security.world import NOW, World, build_world, sign_in
from tracker.cli import main
from tracker.report_periods import public_period
from tracker.vocab import Role
from tracker.web.app import create_app

LATER = datetime(2027, 2, 1, tzinfo=UTC)


def test_periods_are_whole_months_or_quarters() -> None:
    assert public_period("2026-10", LATER) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert public_period("2026-Q4", LATER) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert public_period("2026-12", LATER)[1] == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("2026-10-01", "2026-13", "2026-Q5", "2026", "10-2026", "2026-10/2026-11", ""):
        with pytest.raises(ValueError, match=r"month|quarter"):
            public_period(bad, LATER)
    # A running period would grow day by day: two downloads a day apart single that day out.
    with pytest.raises(ValueError, match="not ended"):
        public_period("2027-02", LATER)
    with pytest.raises(ValueError, match="not ended"):
        public_period("2027-Q1", LATER)


@pytest.fixture
def env(db_url: str) -> Iterator[tuple[World, TestClient]]:
    world = build_world()
    app = create_app()
    app.state.clock = lambda: NOW
    with TestClient(app, base_url="http://testserver") as client:
        yield world, client


def test_public_csv_refuses_free_periods(env: tuple[World, TestClient]) -> None:
    world, client = env
    api = world.principals[Role.coordinator.value].headers
    url = "/api/reports/field-offices.csv"
    for params, named in [
        ({"from": "2026-10-01", "to": "2026-10-10"}, {"from", "to"}),
        ({"from": "2026-10-01", "period": "2026-10"}, {"from"}),
        ({"to": "2026-10-11", "period": "2026-10"}, {"to"}),
        ({"period": "2026-10-01"}, {"period"}),
    ]:
        answer = client.get(url, params=params, headers=api)
        assert answer.status_code == 422, (params, answer.text)
        assert set(answer.json()["error"]["fields"]) == named, params
    for period, first, end in [("2026-10", "2026-10-01", "2026-11-01"),
                               ("2026-Q3", "2026-07-01", "2026-10-01")]:  # fmt: skip
        answer = client.get(url, params={"period": period}, headers=api)
        assert answer.status_code == 200, answer.text
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0][:2] == ["period_from", "period_to"]
        assert {(r[0], r[1]) for r in rows[1:]} <= {(first, end)}
    # No period: the last finished month (a fixed period too).
    default = client.get(url, headers=api)
    assert default.status_code == 200
    start = next(csv.reader(io.StringIO(default.text.splitlines()[1])))[0]
    today = datetime.now(UTC)
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert start == f"{last_month}-01"
    # The internal report keeps free periods.
    internal = client.get(
        "/api/reports/field-offices", params={"from": "2026-10-01", "to": "2026-10-11"}, headers=api
    )
    assert internal.status_code == 200

    sign_in(client, world.principals[Role.admin.value])
    page = client.get("/reports")
    assert 'action="/reports/field-offices.csv"' in page.text and 'name="period"' in page.text
    assert (
        client.get("/reports/field-offices.csv", params={"from": "2026-10-01"}).status_code == 422
    )
    download = client.get("/reports/field-offices.csv", params={"period": "2026-Q3"})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]


def test_cli_public_csv_needs_a_period(
    env: tuple[World, TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    org = "Security Hotline A"
    assert main(["report", "--csv", "--org", org, "--from", "2026-10-01"]) == 1
    err = capsys.readouterr().err
    assert "--from" in err and "period=" in err
    assert main(["report", "--csv", "--org", org, "--period", "2026-Q3"]) == 0
    assert capsys.readouterr().out.startswith("period_from,period_to")
    assert main(["report", "--org", org, "--from", "2026-10-01", "--to", "2026-10-11"]) == 0
