"""The reports page in a real headless Chromium: charts drawn, no sideways scrolling on a
laptop, a screenshot kept in test-artifacts/reports.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.browser.conftest import ARTIFACTS, Server
from tracker.models import FieldOffice
from tracker.schemas import DeterminationIn, DocumentationIn, RequestCreate
from tracker.services import requests as request_service
from tracker.vocab import Role

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SCREENSHOT = ARTIFACTS / "reports.png"
# (office, granted, denied, documented on time, unanswered)
OFFICES = [("ATL", 9, 4, 10, 1), ("HOU", 3, 9, 4, 3), ("SND", 6, 2, 8, 0), ("NYC", 2, 5, 2, 2)]


def _seed(server: Server) -> str:
    now = datetime.now(UTC)
    with server.sessions() as s, s.begin():
        org = factories.org(s, now, "Reports Browser Hotline (fictional)")
        coordinator = factories.user(s, org, now, role=Role.coordinator)
        actor = factories.actor_for(factories.user(s, org, now, role=Role.attorney))
        races = ["black", "white", "prefer_not_to_say", None]
        countries = ["MX", "GT", "HN", "HT"]
        n = 0
        for code, granted, denied, on_time, unanswered in OFFICES:
            office = s.scalar(select(FieldOffice.id).where(FieldOffice.code == code))
            outcomes = ["granted"] * granted + ["denied"] * denied + [None] * unanswered
            for i, outcome in enumerate(outcomes):
                n += 1
                filed = now - timedelta(days=200 - 12 * (n % 15) - i)
                case = factories.case(
                    s,
                    actor,
                    filed,
                    given_name=f"Sample{n}",
                    field_office_id=office,
                    country_of_birth=countries[n % 4],
                    race=races[n % 4],
                )
                req = request_service.create_request(
                    s, actor, case, RequestCreate(kind="release", filed_at=filed), filed
                )
                if outcome is None:
                    continue
                decided = filed + timedelta(days=3 + n % 9)
                request_service.record_determination(
                    s, actor, req, DeterminationIn(outcome=outcome, decided_at=decided), decided
                )
                if i < on_time:
                    received = decided + timedelta(hours=20)
                    request_service.record_documentation(
                        s,
                        actor,
                        req,
                        DocumentationIn(
                            received_at=received, language="es", advised_right_to_appeal=i % 2 == 0
                        ),
                        received,
                    )
        return coordinator.email


def test_reports_page_draws_its_charts(server: Server, browser: Any) -> None:
    email = _seed(server)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.base_url + "/reports")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#chart-grant-rate")
        assert page.url.startswith(server.base_url + "/reports")
        # One bar per office in each share chart; the decisions chart has columns.
        assert page.locator("#chart-grant-rate rect").count() == len(OFFICES)
        assert page.locator("#chart-documented rect").count() == len(OFFICES)
        assert page.locator("#chart-decisions rect").count() > 4
        box = page.locator("#chart-grant-rate").bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80
        assert "ATL · Atlanta Field Office" in page.inner_text("#by-office")
        assert "Guatemala" in page.inner_text("#by-country")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()
