"""The two-way inbox on both backends (issue 15): a family's free-text question reaches the
inbox with its unread count, the attorney is told (without a word of it), and the reply
reaches the family's phone through the dispatcher and a Twilio stand-in, with its delivery
status from the status callback. Another organisation sees none of it."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from tests import factories
from tests.contract.test_twilio_contract import contract_violations, create_message_schema
from tests.notifications import helpers
from tests.notifications.helpers import NOON, Clock, StandIn
from tests.notifications.test_webhooks import BASE, post, sms
from tracker.models import AuditEntry, ConversationMessage, Notification
from tracker.schemas import ContactCreate
from tracker.services import Actor, ServiceError, conversations
from tracker.services import contacts as contact_service
from tracker.services.orgs import create_token
from tracker.settings import get_settings
from tracker.vocab import NotificationStatus, Role
from tracker.web.app import create_app

QUESTION = "¿Dónde está mi esposo? Lo movieron anoche."
ANSWER = "Está en Krome. La abogada le llama hoy a las 3."
APP_NOW = NOON + timedelta(minutes=5)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(
        get_settings(), twilio_auth_token=helpers.AUTH_TOKEN, base_url=BASE
    )
    app = create_app(settings)
    # Time passes a second each time the app asks, so that messages keep their order.
    ticks = itertools.count()
    app.state.clock = lambda: APP_NOW + timedelta(seconds=next(ticks))
    with TestClient(app, base_url=BASE) as c:
        yield c


@dataclasses.dataclass
class Story:
    w: helpers.World
    headers: dict[str, str]
    other_headers: dict[str, str]
    case_id: uuid.UUID
    family_id: uuid.UUID
    family_phone: str
    attorney_phone: str


def _story(session: Session) -> Story:
    w = helpers.world(session)
    w.case.attorney_id = w.attorney.id
    token = create_token(session, Actor.system("test"), w.attorney, NOON)
    other = factories.org(session, NOON)
    other_admin = factories.user(session, other, NOON, role=Role.admin)
    other_token = create_token(session, Actor.system("test"), other_admin, NOON)
    story = Story(
        w,
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"Bearer {other_token}"},
        w.case.id,
        w.family.id,
        w.family.phone,
        w.attorney.phone or "",
    )
    session.commit()
    return story


def _notices(session: Session) -> list[Notification]:
    """Read with the test's session, then end its transaction: on SQLite an open one holds
    the write lock the app's requests need."""
    session.commit()
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.kind == conversations.NOTICE_KIND)
            .order_by(Notification.created_at)
        )
    )
    session.commit()
    return rows


def _counts(session: Session) -> tuple[int, int, int]:
    session.commit()
    counts = (
        int(session.scalar(select(func.count()).select_from(ConversationMessage)) or 0),
        int(session.scalar(select(func.count()).select_from(Notification)) or 0),
        int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0),
    )
    session.commit()
    return counts


def test_a_familys_question_is_answered_from_the_app_and_the_answer_is_delivered(
    client: TestClient, session: Session
) -> None:
    s = _story(session)

    # 1. The family texts a question: the inbox shows it, unread.
    reply = sms(client, s.family_phone, QUESTION)
    assert "una persona le responder" in reply
    inbox = client.get("/api/inbox", headers=s.headers).json()
    assert inbox["unread"] == 1
    [row] = inbox["items"]
    assert row["case_id"] == str(s.case_id) and row["contact_id"] == str(s.family_id)
    assert row["unread"] == 1 and row["last_direction"] == "in"
    assert row["first_name"] == "Ana" and "Pérez" not in str(inbox)
    assert QUESTION not in str(inbox)  # the list shows who waits, not what they wrote

    # 2. The attorney is told by SMS, with nothing of the message nor whose case it is.
    [notice] = _notices(session)
    assert notice.to_phone == s.attorney_phone and notice.urgent
    for secret in ("esposo", "movieron", "Ana", "Pérez", s.family_phone[-4:]):
        assert secret not in notice.body
    assert "new message" in notice.body
    # A second line before anyone read the first wakes nobody again.
    sms(client, s.family_phone, "Por favor llámenme.")
    assert len(_notices(session)) == 1
    assert client.get("/api/inbox", headers=s.headers).json()["unread"] == 2

    # 3. Opening the conversation reads it (audited); the count drops to zero.
    thread = client.get(f"/api/cases/{s.case_id}/messages", headers=s.headers).json()
    assert [m["body"] for m in thread["items"]] == [QUESTION, "Por favor llámenme."]
    assert {m["status"] for m in thread["items"]} == {"received"}
    assert client.get("/api/inbox", headers=s.headers).json()["unread"] == 0
    session.commit()
    opened = session.scalar(
        select(AuditEntry).where(
            AuditEntry.entity == "conversation", AuditEntry.entity_id == str(s.case_id)
        )
    )
    assert opened is not None and opened.changes["marked_read"] == [0, 2]
    session.commit()

    # 4. The reply goes through the outbox, counted before it goes.
    r = client.post(
        f"/api/cases/{s.case_id}/messages",
        json={"contact_id": str(s.family_id), "body": ANSWER},
        headers=s.headers,
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["direction"] == "out" and sent["status"] == "queued" and sent["segments"] == 1
    notification_id = sent["notification_id"]
    session.commit()
    audit = session.scalar(
        select(AuditEntry).where(
            AuditEntry.entity == "conversation_message", AuditEntry.entity_id == sent["id"]
        )
    )
    assert audit is not None and audit.changes["body"] == [None, "[redacted]"]
    assert audit.actor_id == s.w.attorney.id
    # Encrypted at rest: the stored text is not the text.
    raw = session.execute(text("SELECT body FROM conversation_messages")).scalars().all()
    assert len(raw) == 3
    assert all(QUESTION not in str(v) and ANSWER not in str(v) for v in raw)
    session.commit()

    # 5. The dispatcher posts it to Twilio (a stand-in): to the family's phone, as typed.
    stand_in = StandIn()
    clock = Clock(APP_NOW + timedelta(minutes=30))
    session.commit()
    helpers.dispatcher(helpers.twilio_transport(stand_in), clock=clock).run(once=True)
    [form] = [f for f in stand_in.forms if f["Body"] == ANSWER]
    assert form["To"] == s.family_phone
    assert form["StatusCallback"] == f"{BASE}/webhooks/twilio/status/{notification_id}"
    assert contract_violations(form, create_message_schema()) == []
    after = client.get(f"/api/cases/{s.case_id}/messages", headers=s.headers).json()["items"]
    assert after[-1]["status"] == "sent"

    # 6. Twilio's status callback: the conversation shows it delivered.
    row = session.get(Notification, uuid.UUID(notification_id))
    assert row is not None and row.provider_sid and row.status is NotificationStatus.sent
    sid = row.provider_sid
    session.commit()
    path = f"/webhooks/twilio/status/{notification_id}"
    callback = post(client, path, {"MessageSid": sid, "MessageStatus": "delivered"})
    assert callback.status_code == 204  # type: ignore[attr-defined]
    after = client.get(f"/api/cases/{s.case_id}/messages", headers=s.headers).json()["items"]
    assert [(m["direction"], m["status"]) for m in after] == [
        ("in", "received"),
        ("in", "received"),
        ("out", "delivered"),
    ]


def test_another_organisation_cannot_see_or_answer_the_conversation(
    client: TestClient, session: Session
) -> None:
    s = _story(session)
    sms(client, s.family_phone, QUESTION)
    assert client.get("/api/inbox", headers=s.other_headers).json() == {
        "items": [],
        "unread": 0,
        "next_cursor": None,
    }
    before = _counts(session)
    read = client.get(f"/api/cases/{s.case_id}/messages", headers=s.other_headers)
    missing = client.get(f"/api/cases/{uuid.uuid4()}/messages", headers=s.other_headers)
    assert read.status_code == 404 and read.json() == missing.json()
    answer = client.post(
        f"/api/cases/{s.case_id}/messages",
        json={"contact_id": str(s.family_id), "body": "Hello"},
        headers=s.other_headers,
    )
    assert answer.status_code == 404
    assert _counts(session) == before
    # Still unread for its own organisation: the other's attempt read nothing.
    assert client.get("/api/inbox", headers=s.headers).json()["unread"] == 1


def _refused(client: TestClient, s: Story, body: dict[str, Any]) -> dict[str, str]:
    r = client.post(f"/api/cases/{s.case_id}/messages", json=body, headers=s.headers)
    assert r.status_code == 422, r.text
    fields: dict[str, str] = r.json()["error"]["fields"]
    return fields


def test_bad_replies_are_refused_with_the_field_and_reason_and_write_nothing(
    client: TestClient, session: Session
) -> None:
    s = _story(session)
    actor = factories.actor_for(s.w.attorney)
    case = s.w.case
    case = session.merge(case)
    unconsented = contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(role="family", phone=helpers.next_phone(), sms_consent=False),
        NOON,
    )
    stopped = contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(role="counsel", phone=helpers.next_phone()),
        NOON,
    )
    stopped.opted_out_at = NOON
    elsewhere = factories.case(session, actor, NOON, given_name="Otra")
    foreign = contact_service.add_contact(
        session,
        actor,
        elsewhere,
        ContactCreate(role="family", phone=helpers.next_phone(), sms_consent=True),
        NOON,
    )
    session.commit()
    ids = {k: str(v.id) for k, v in (("u", unconsented), ("s", stopped), ("f", foreign))}
    family = str(s.family_id)
    before = _counts(session)

    assert "empty" in _refused(client, s, {"contact_id": family, "body": "   "})["body"]
    too_long = _refused(client, s, {"contact_id": family, "body": "a" * 1601})["body"]
    assert "1600 characters" in too_long
    # 700 characters of a non-Latin script: under 1,600 characters, but 11 UCS-2 segments.
    assert (
        "10 SMS segments" in _refused(client, s, {"contact_id": family, "body": "漢" * 700})["body"]
    )
    assert "opted out" in _refused(client, s, {"contact_id": ids["s"], "body": "Hi"})["contact_id"]
    assert "not agreed" in _refused(client, s, {"contact_id": ids["u"], "body": "Hi"})["contact_id"]
    assert (
        "no such contact"
        in _refused(client, s, {"contact_id": ids["f"], "body": "Hi"})["contact_id"]
    )
    assert "contact_id" in _refused(client, s, {"body": "Hi"})
    assert _counts(session) == before


def test_with_no_attorney_whoever_is_on_call_is_told(session: Session) -> None:
    w = helpers.world(session)
    volunteer = "+13125550188"
    from tracker.schemas import ShiftCreate
    from tracker.services import oncall

    admin = factories.actor_for(factories.user(session, w.org, NOON, role=Role.admin))
    oncall.create_shift(
        session,
        admin,
        ShiftCreate(
            name="Night Volunteer",
            phone=volunteer,
            starts_at=NOON - timedelta(hours=1),
            ends_at=NOON + timedelta(hours=4),
        ),
        NOON,
    )
    conversations.receive(session, w.family, "Help", NOON)
    [notice] = _notices(session)
    assert notice.to_phone == volunteer and "Help" not in notice.body
    # Out of the shift, the organisation's on-call number.
    w.org.oncall_phone = "+12025550198"
    conversations.mark_read(session, admin, w.case.id, None, NOON)
    conversations.receive(session, w.family, "Again", NOON + timedelta(hours=6))
    assert [n.to_phone for n in _notices(session)] == [volunteer, "+12025550198"]


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("ñé" * 80, "GSM-7", 1),  # GSM-7 has these accents
        ("€" * 80, "GSM-7", 1),  # an extension character costs two
        ("€" * 81, "GSM-7", 2),
        ("\u201cOK\u201d \u2014 yes", "GSM-7", 1),  # phones' quotes and dashes, straightened
        ("á" * 70, "UCS-2", 1),  # á is not GSM-7
        ("á" * 71, "UCS-2", 2),
        ("á" * 134, "UCS-2", 2),
        ("á" * 135, "UCS-2", 3),
        ("\U0001f64f" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("\U0001f64f" * 36, "UCS-2", 2),
    ],
)
def test_reply_segments_are_counted_as_carriers_count_them(
    body: str, encoding: str, segments: int
) -> None:
    counted = conversations.count(body)
    assert (counted.encoding, counted.segments) == (encoding, segments)


def test_the_longest_gsm_reply_allowed_is_1530_characters(session: Session) -> None:
    w = helpers.world(session)
    conversations.check_reply(session, w.case, w.family.id, "a" * 1530)  # 10 segments
    with pytest.raises(ServiceError) as refused:
        conversations.check_reply(session, w.case, w.family.id, "a" * 1531)
    assert "11" in refused.value.fields["body"]


def test_the_inbox_lists_unread_first_and_pages(client: TestClient, session: Session) -> None:
    s = _story(session)
    actor = factories.actor_for(s.w.attorney)
    # An older conversation, answered (read; the last word is ours)...
    case = session.merge(s.w.case)
    family = session.merge(s.w.family)
    conversations.receive(session, family, "Gracias", NOON - timedelta(hours=2))
    conversations.reply(session, actor, case, family.id, "De nada", NOON - timedelta(hours=1))
    # ...and a newer case whose family is still waiting, and a later one also answered.
    waiting = factories.case(session, actor, NOON, given_name="Waiting Person")
    waiting_family = contact_service.add_contact(
        session,
        actor,
        waiting,
        ContactCreate(role="family", phone=helpers.next_phone(), sms_consent=True),
        NOON,
    )
    conversations.receive(session, waiting_family, "Hola?", NOON - timedelta(hours=3))
    session.commit()

    first = client.get("/api/inbox?limit=1", headers=s.headers).json()
    assert [r["case_id"] for r in first["items"]] == [str(waiting.id)]
    assert first["items"][0]["unread"] == 1 and first["unread"] == 1
    assert first["next_cursor"] == "1"
    second = client.get("/api/inbox?limit=1&cursor=1", headers=s.headers).json()
    [answered] = second["items"]
    assert answered["case_id"] == str(s.case_id) and answered["unread"] == 0
    assert answered["last_direction"] == "out" and second["next_cursor"] is None
    bad = client.get("/api/inbox?cursor=x1", headers=s.headers)
    assert bad.status_code == 422 and "cursor" in bad.json()["error"]["fields"]
