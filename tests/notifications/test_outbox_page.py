"""The org-wide outbox page: failed SMS and unreachable contacts, this organisation only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from notifications import outbox
from notifications.events import notify_family
from tests.notifications import helpers
from tests.notifications.helpers import NOON
from tests.web.pages_support import login
from tracker.models import Notification
from tracker.vocab import NotificationStatus
from tracker.web.app import create_app


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app()
    app.state.clock = lambda: NOON
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _failed_world(session: Session, given: str) -> helpers.World:
    w = helpers.world(session)
    w.case.given_name = given
    notify_family(session, w.case, "released", "r", NOON)
    session.flush()
    row = session.scalars(
        select(Notification).where(Notification.case_id == w.case.id).limit(1)
    ).one()
    outbox.mark_failed(
        session, row.id, "21211", "Twilio 400 error 21211: invalid 'To' number", NOON
    )
    w.family.unreachable = True
    w.family.unreachable_since = NOON
    w.family.consecutive_failures = 2
    session.commit()
    return w


def test_outbox_lists_failed_sms_and_unreachable_contacts_of_my_org_only(
    client: TestClient, session: Session
) -> None:
    mine = _failed_world(session, "Lucía")
    _failed_world(session, "Zoraida")  # another organisation
    assert login(client, mine.attorney.email).status_code == 303
    page = client.get("/outbox")
    assert page.status_code == 200
    html = page.text
    assert "Lucía" in html and "Zoraida" not in html
    assert "21211" in html and "invalid" in html
    assert html.count('class="failed-row"') == 1
    assert html.count('class="unreachable-row"') == 1
    assert mine.family.phone not in html  # masked
    assert mine.family.phone[-4:] in html
    assert "Pérez" not in html


def test_outbox_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/outbox", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login")


def test_failed_status_is_kept_in_the_outbox(session: Session) -> None:
    w = _failed_world(session, "Ana")
    statuses = set(
        session.scalars(select(Notification.status).where(Notification.case_id == w.case.id))
    )
    assert NotificationStatus.failed in statuses
