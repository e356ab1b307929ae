"""The two-way inbox in a real headless Chromium at 375 px (issue 15): a hotline volunteer sees
the unread count, opens the inbox and the conversation, watches the SMS counter and replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests import factories
from tests.browser.conftest import ARTIFACTS, Server
from tracker.models import ConversationMessage, Notification
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service
from tracker.services import conversations
from tracker.vocab import MessageDirection, Role

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
PHONE = {"width": 375, "height": 812}
QUESTION = "Lo movieron anoche, ¿dónde está?"
ANSWER = "Está en Krome. Le llamamos hoy."


def _seed(server: Server) -> tuple[str, str]:
    """A volunteer and a case whose family texted a question: (e-mail, case id)."""
    now = datetime.now(UTC)
    with server.sessions() as s, s.begin():
        org = factories.org(s, now, "Inbox Browser Hotline (fictional)")
        volunteer = factories.user(s, org, now, role=Role.hotline, name="Test Volunteer")
        attorney = factories.user(s, org, now, role=Role.attorney, phone="+12025550131")
        actor = factories.actor_for(attorney)
        case = factories.case(
            s, actor, now - timedelta(days=1), given_name="Marta", attorney_id=attorney.id
        )
        family = contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="family", phone="+12025550132", language="es", sms_consent=True),
            now - timedelta(days=1),
        )
        conversations.receive(s, family, QUESTION, now - timedelta(minutes=3))
        return volunteer.email, str(case.id)


def test_a_volunteer_answers_a_family_from_a_phone(server: Server, browser: Any) -> None:
    email, case_id = _seed(server)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(server.base_url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#queue")

        # The unread count in the navigation, readable at 375 px without sideways scrolling.
        assert page.inner_text("#inbox-unread") == "1"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.click("#nav-inbox")
        page.wait_for_selector("#inbox")
        assert "1 unread" in page.inner_text("#inbox")
        page.click(f"li.conversation-row[data-case-id='{case_id}'] a")
        page.wait_for_selector("#thread")
        assert QUESTION in page.inner_text("#thread")
        # Opening it read it.
        assert page.locator("#inbox-unread").count() == 0

        # The counter follows the typing (the server's count, mirrored in amparo.js).
        page.fill("textarea[name=body]", "a" * 161)
        assert "161 characters · 2 SMS segments (GSM-7)" in page.inner_text("#reply-count")
        page.fill("textarea[name=body]", "á" * 71)
        assert "71 characters · 2 SMS segments (UCS-2)" in page.inner_text("#reply-count")
        page.fill("textarea[name=body]", ANSWER)
        assert "1 SMS segment (UCS-2)" in page.inner_text("#reply-count")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "inbox-thread.png"), full_page=True)
        page.click("form[data-form=reply] button[type=submit]")
        page.wait_for_selector("li.message-out")
        assert ANSWER in page.inner_text("li.message-out")
        status = page.get_attribute("li.message-out", "data-status")
        assert status in ("queued", "sending", "sent", "delivered")
    finally:
        context.close()

    with server.sessions() as s:
        [reply] = s.scalars(
            select(ConversationMessage).where(
                ConversationMessage.direction == MessageDirection.outbound
            )
        ).all()
        assert reply.body == ANSWER and reply.author_id is not None
        notification = s.get(Notification, reply.notification_id)
        assert notification is not None and notification.to_phone == "+12025550132"
        assert notification.body == ANSWER
