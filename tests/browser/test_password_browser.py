"""A first sign-in with a one-time password in a real Chromium: forced to choose a new one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.browser.conftest import Server
from tracker.schemas import UserCreate
from tracker.services import Actor
from tracker.services.orgs import create_user

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}


def test_one_time_password_leads_to_a_new_password(server: Server, browser: Any) -> None:
    now = datetime.now(UTC)
    with server.sessions() as s, s.begin():
        org = factories.org(s, now, "Browser Password Hotline (fictional)")
        user, one_time = create_user(
            s, Actor.system("test"), org, UserCreate(email="first@example.org", role="hotline"), now
        )
        email = user.email
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(server.base_url + "/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", one_time)
        page.click("button[type=submit]")
        page.wait_for_selector("#password-required")
        # Elsewhere is out of reach until the password is changed.
        page.goto(server.base_url + "/cases/new")
        page.wait_for_selector("#password-required")
        submit = "form[action='/password'] button[type=submit]"  # not the sign-out button
        page.fill("input[name=current]", one_time)
        page.fill("input[name=new]", "password12345")
        page.fill("input[name=confirm]", "password12345")
        page.click(submit)
        assert "too easy to guess" in page.inner_text("#password-error")
        page.fill("input[name=current]", one_time)
        page.fill("input[name=new]", "lantern orchard velvet 1987 quiver")
        page.fill("input[name=confirm]", "lantern orchard velvet 1987 quiver")
        page.click(submit)
        page.wait_for_selector("#queue", state="attached")
        assert page.url.rstrip("/") == server.base_url
    finally:
        context.close()
