"""The follow-up page in a real headless Chromium: a coordinator sees what did not arrive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from notifications import outbox
from notifications.events import notify_family
from tests import factories
from tests.browser.conftest import ARTIFACTS, Server, browser, server  # noqa: F401
from tracker.models import Notification
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service
from tracker.vocab import Role

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def _seed(srv: Server) -> str:
    now = datetime.now(UTC)
    with srv.sessions() as s, s.begin():
        org = factories.org(s, now, "Outbox Browser Hotline (fictional)")
        user = factories.user(s, org, now, role=Role.coordinator)
        actor = factories.actor_for(user)
        case = factories.case(s, actor, now, given_name="Rosa", family_name="Ejemplo")
        contact = contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="family", phone="+12025550177", language="es", sms_consent=True),
            now,
        )
        # Quiet hours off for this organisation: the embedded worker may send at once.
        org.quiet_hours = "off"
        notify_family(s, case, "released", "browser", now)
        s.flush()
        row = s.scalars(select(Notification).where(Notification.case_id == case.id)).first()
        assert row is not None
        outbox.mark_failed(s, row.id, "30005", "Twilio reported undelivered (unknown number)", now)
        contact.unreachable = True
        contact.unreachable_since = now
        return user.email


def test_outbox_page_in_chromium(server: Server, browser: Any) -> None:  # noqa: F811
    email = _seed(server)
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    try:
        page.goto(server.base_url + "/outbox")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/outbox")
        failed = page.locator("tr.failed-row")
        assert failed.count() >= 1
        text = failed.first.inner_text()
        assert "30005" in text and "Rosa" in text and "Ejemplo" not in text
        assert "0177" in text and "+12025550177" not in text
        unreachable = page.locator("tr.unreachable-row").first.inner_text()
        assert "Rosa" in unreachable and "family" in unreachable
        page.click("tr.unreachable-row a")
        page.wait_for_url("**/cases/*")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "outbox-case.png"))
    finally:
        context.close()
