"""The inbox pages (issue 15): the unread count in the navigation, the inbox list, a
conversation that is read by opening it, and the reply form (CSRF, 422 with reasons,
nothing written) from the inbox and from the case page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW, Org
from tests.web.pages_support import signed_in, travel
from tracker import db
from tracker.models import AuditEntry, ConversationMessage, Notification
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service
from tracker.services import conversations
from tracker.vocab import Role


def _count(model: type, *where: object) -> int:
    with db.session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _asked(org: Org, question: str = "Where is he?") -> tuple[uuid.UUID, uuid.UUID]:
    """A case of ``org`` whose family texted ``question``: (case id, family contact id)."""
    actor = org.actor(Role.attorney)
    with db.session_scope() as s:
        case = factories.case(s, actor, NOW - timedelta(days=1), given_name="Lucía Test")
        # Counsel first: the reply box must still answer the family, who wrote.
        contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="counsel", phone="+12025550149"),
            NOW - timedelta(days=2),
        )
        family = contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="family", phone="+12025550142", language="es", sms_consent=True),
            NOW - timedelta(days=1),
        )
        conversations.receive(s, family, question, NOW - timedelta(minutes=5))
        return case.id, family.id


def _unread_badge(html: str) -> str | None:
    match = re.search(r'id="inbox-unread">(\d+)<', html)
    return match.group(1) if match else None


def test_the_unread_count_the_inbox_and_opening_a_conversation(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    travel(client)
    case_id, _family = _asked(north)
    signed_in(client, north.users[Role.hotline].email)
    queue = client.get("/").text
    assert _unread_badge(queue) == "1"
    inbox = client.get("/inbox")
    assert inbox.status_code == 200
    assert f'href="/inbox/{case_id}"' in inbox.text and "1 unread" in inbox.text
    assert "Where is he?" not in inbox.text
    thread = client.get(f"/inbox/{case_id}")
    assert thread.status_code == 200 and "Where is he?" in thread.text
    assert _unread_badge(client.get("/").text) is None
    assert _count(AuditEntry, AuditEntry.entity == "conversation") == 1


def test_a_reply_from_the_inbox_and_from_the_case_page(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    travel(client)
    case_id, family = _asked(north)
    token = signed_in(client, north.users[Role.hotline].email)
    page = client.get(f"/inbox/{case_id}").text
    assert 'data-sms-counter="reply-count"' in page and "SMS segment" in page
    # The reply answers whoever wrote (not the case's first contact).
    assert f'<option value="{family}"  selected>' in page
    r = client.post(
        f"/cases/{case_id}/messages",
        data={"csrf_token": token, "contact_id": str(family), "body": "Está en Krome."},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/inbox/{case_id}"
    thread = client.get(f"/inbox/{case_id}").text
    assert "Está en Krome." in thread and 'data-status="queued"' in thread

    r = client.post(
        f"/cases/{case_id}/messages",
        data={"csrf_token": token, "contact_id": str(family), "body": "Y mañana.", "back": "case"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}#conversation"
    case_page = client.get(f"/cases/{case_id}").text
    assert 'id="conversation"' in case_page and "Y mañana." in case_page
    assert _count(ConversationMessage, ConversationMessage.direction == "out") == 2
    assert _count(Notification, Notification.kind == conversations.REPLY_KIND) == 2


def test_a_refused_reply_shows_the_reasons_and_keeps_the_text(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    travel(client)
    case_id, family = _asked(north)
    token = signed_in(client, north.users[Role.attorney].email)
    before = _count(Notification), _count(ConversationMessage)
    long_text = "ok " * 600
    r = client.post(
        f"/cases/{case_id}/messages",
        data={"csrf_token": token, "contact_id": str(family), "body": long_text},
    )
    assert r.status_code == 422
    assert "at most 1600 characters" in r.text and long_text.strip() in r.text
    r = client.post(
        f"/cases/{case_id}/messages",
        data={"csrf_token": token, "contact_id": "not-an-id", "body": "Hi", "back": "case"},
    )
    assert r.status_code == 422 and "no such contact on this case" in r.text
    assert 'id="person-name"' in r.text  # the case page, shown again
    assert (_count(Notification), _count(ConversationMessage)) == before


def test_another_organisation_gets_404_and_no_unread_count(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, south = orgs
    travel(client)
    case_id, family = _asked(north)
    token = signed_in(client, south.users[Role.admin].email)
    assert _unread_badge(client.get("/").text) is None
    assert f"/inbox/{case_id}" not in client.get("/inbox").text
    assert client.get(f"/inbox/{case_id}").status_code == 404
    r = client.post(
        f"/cases/{case_id}/messages",
        data={"csrf_token": token, "contact_id": str(family), "body": "Hi"},
    )
    assert r.status_code == 404
    assert _count(ConversationMessage, ConversationMessage.read_at.is_(None)) == 1


def test_coordinators_read_but_get_no_reply_box(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    travel(client)
    case_id, _family = _asked(north)
    signed_in(client, north.users[Role.coordinator].email)
    page = client.get(f"/inbox/{case_id}").text
    assert "Where is he?" in page and 'data-form="reply"' not in page
