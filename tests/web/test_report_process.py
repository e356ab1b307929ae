"""Reports computed in a child process (``tracker.web.report_process``): the same answers as in
the request's own thread, really computed elsewhere, and a dead report process replaced."""

from __future__ import annotations

import os
import signal

import pytest
from starlette.testclient import TestClient

from tests.web.conftest import Org
from tests.web.test_reports_web import _seed
from tracker import db, reports
from tracker.settings import get_settings
from tracker.vocab import Role
from tracker.web import report_process

PERIOD = {"from": "2026-01-01", "to": "2026-11-23"}
CSV_PERIOD = {"period": "2026-10"}


def _processes(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setenv("REPORT_PROCESSES", str(n))
    get_settings.cache_clear()
    db.reset()


def _answers(client: TestClient, org: Org) -> tuple[dict[str, object], str]:
    headers = org.headers(Role.coordinator)
    figures = client.get("/api/reports/field-offices", params=PERIOD, headers=headers)
    public = client.get("/api/reports/field-offices.csv", params=CSV_PERIOD, headers=headers)
    assert figures.status_code == 200, figures.text
    assert public.status_code == 200, public.text
    return figures.json(), public.text


def test_a_report_process_gives_the_answers_of_the_request_thread(
    client: TestClient, orgs: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    north, _ = orgs
    _seed(north, 6)
    _seed(north, 5, "denied")
    _processes(monkeypatch, 0)
    in_thread = _answers(client, north)
    assert in_thread[0]["total"]["filed"] == 11  # type: ignore[index]
    # The public CSV counts the requests themselves (``with_rows``), not only the figures.
    assert "field_office,All,11," in in_thread[1]

    _processes(monkeypatch, 1)

    # The report code of THIS process now fails: only a report computed elsewhere answers.
    def broken(*_args: object, **_kwargs: object) -> reports.Report:
        raise RuntimeError("computed in the web process")

    monkeypatch.setattr(reports, "field_office_report", broken)
    assert _answers(client, north) == in_thread


def test_a_report_process_that_dies_is_replaced(
    client: TestClient, orgs: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    north, _ = orgs
    _seed(north, 3)
    _processes(monkeypatch, 1)
    first = _answers(client, north)
    pool = report_process._pool
    assert pool is not None
    for pid in list(pool._processes):  # the executor's own record of its children
        os.kill(pid, signal.SIGKILL)
    assert _answers(client, north) == first
    assert report_process._pool is not None and report_process._pool is not pool
