"""The web's composition root: every JSON route is an operation of /openapi.json, and no
report request holds the event loop while it queries."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from tests.web.conftest import NOW, Org
from tracker.vocab import Role
from tracker.web import reports_routes
from tracker.web.app import create_app

# Routes that answer something else than JSON (their errors aside): each names what it answers.
NOT_JSON: dict[tuple[str, str], str] = {
    ("GET", "/api/reports/field-offices.csv"): "CSV",
    ("GET", "/calendar/{token}.ics"): "iCalendar",
    ("POST", "/webhooks/twilio/status/{notification_id}"): "empty (Twilio callback)",
    ("POST", "/webhooks/twilio/sms"): "TwiML",
    ("POST", "/webhooks/twilio/voice"): "TwiML",
    ("GET", "/reports/field-offices.csv"): "CSV",
    ("GET", "/import/template.csv"): "CSV",
    ("GET", "/static"): "files",
    ("GET", "/openapi.json"): "the document itself",
}
PAGE_PREFIXES = (
    "/login",
    "/logout",
    "/admin",
    "/cases",
    "/requests",
    "/alerts",
    "/reports",
    "/inbox",
)
PAGES = {"/", "/import", "/outbox", "/password", "/language"}


def _route_keys() -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for route in create_app().routes:
        if isinstance(route, Route):
            path = route.path.replace("{id:uuid}", "{id}")
            keys.update((m, path) for m in (route.methods or {"GET"}) - {"HEAD"})
        elif isinstance(route, Mount):
            keys.add(("GET", route.path))
    return keys


def _is_page(path: str) -> bool:
    return path in PAGES or (path.startswith(PAGE_PREFIXES) and not path.endswith(".csv"))


def test_every_json_route_is_documented(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    documented = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    routes = _route_keys()
    # Everything documented is served...
    assert documented <= routes, documented - routes
    # ...and everything served is documented, an HTML page, or one of the other outputs.
    rest = {k for k in routes - documented if not _is_page(k[1])}
    assert rest == set(NOT_JSON), rest ^ set(NOT_JSON)
    assert not any(path.startswith("/api/") for _, path in routes - documented - set(NOT_JSON))
    for path in ("/api/reports/field-offices", "/api/me/calendar", "/healthz"):
        assert path in doc["paths"], path


def _blocking_report(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Event, threading.Event, list[bool]]:
    """Make the report wait until released; record whether it ran on an event loop's thread."""
    entered, release = threading.Event(), threading.Event()
    on_loop: list[bool] = []
    real: Callable[..., Any] = reports_routes.field_office_report

    def slow(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        entered.set()
        # Blocks the event loop for 10 s if this runs on it (the assertion below then fails).
        release.wait(timeout=10)
        return real(*args, **kwargs)

    monkeypatch.setattr(reports_routes, "field_office_report", slow)
    return entered, release, on_loop


@pytest.mark.parametrize("path", ["/api/reports/field-offices", "/api/reports/field-offices.csv"])
def test_a_slow_report_does_not_block_other_requests(
    path: str, orgs: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a report computes (off the event loop), a cheap request is answered, and so is
    an intake: a write. A report in a write transaction would hold SQLite's write lock (BEGIN
    IMMEDIATE) the whole time, and every write — a case read's audit row too — would wait."""
    north, _ = orgs
    entered, release, on_loop = _blocking_report(monkeypatch)
    app = create_app()
    app.state.clock = lambda: NOW

    async def scenario() -> tuple[int, int, int, bool]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            report = asyncio.create_task(http.get(path, headers=north.headers(Role.admin)))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            cheap = await asyncio.wait_for(http.get("/openapi.json"), timeout=5)
            intake = await asyncio.wait_for(
                http.post(
                    "/api/cases", json={"given_name": "Rosa"}, headers=north.headers(Role.hotline)
                ),
                timeout=5,
            )
            still_running = not report.done()
            release.set()
            return cheap.status_code, intake.status_code, (await report).status_code, still_running

    try:
        cheap_status, intake_status, report_status, still_running = asyncio.run(scenario())
    finally:
        release.set()
    assert cheap_status == 200 and intake_status == 201 and report_status == 200
    # Both were answered while the report was still querying, off the loop.
    assert still_running
    assert on_loop == [False]
