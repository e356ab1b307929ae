"""Fallback between channels (issue 13, item 5): a landline (21614) moves the family to
voice; two undelivered in a row on one channel try the next consented one; each step is
audited and on the case timeline, and "unreachable" comes only when every channel failed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.channels.conftest import BASE, VOICE_FROM, WHATSAPP_FROM
from tests.notifications import helpers
from tests.notifications.helpers import AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import AuditEntry, Contact, Notification, TimelineEvent
from tracker.services.channels import notify_family
from tracker.vocab import NotificationStatus


def _dispatch(stand_in: StandIn) -> None:
    transport = helpers.twilio_transport(
        stand_in, voice_from=VOICE_FROM, whatsapp_from=WHATSAPP_FROM
    )
    # After the webhooks' clock (NOON + 5 min): what they queued is due.
    clock = helpers.Clock(NOON + timedelta(minutes=10))
    helpers.dispatcher(transport, clock=clock).run(once=True)


def _events(kind: str) -> list[str]:
    with db.get_sessionmaker()() as s:
        return list(s.scalars(select(TimelineEvent.summary).where(TimelineEvent.kind == kind)))


def test_a_landline_is_switched_to_voice_and_the_call_goes_out(session: Session) -> None:
    w = helpers.world(session, language="es", consented=["sms", "voice"])
    notify_family(session, w.case, "released", "r", NOON)
    session.commit()
    stand_in = StandIn()
    stand_in.fail_next(400, 21614, "To number is not a valid mobile number")
    _dispatch(stand_in)  # the introduction is refused; the release waits, then moves
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.channel == "voice" and not contact.unreachable
        rows = {(n.kind, n.channel): n for n in s.scalars(select(Notification))}
        assert rows[("introduction", "sms")].status is NotificationStatus.failed
        assert rows[("released", "sms")].status is NotificationStatus.suppressed
        assert "21614" in (rows[("released", "sms")].error_message or "")
        # Introductions are not phoned: recorded as not sent, with why.
        assert rows[("introduction", "voice")].status is NotificationStatus.suppressed
        # Queued in the same transaction, and phoned in the same worker run.
        assert rows[("released", "voice")].status is NotificationStatus.sent
        audited = s.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_id == str(w.family.id), AuditEntry.action == "update"
            )
        ).all()
        assert any(a.changes.get("channel") == ["sms", "voice"] for a in audited)
    (switched,) = _events("channel_switched")
    assert "voice instead of sms" in switched and "21614" in switched
    (call,) = [f for f in stand_in.forms if "Twiml" in f]
    assert call["To"] == w.family.phone and "<Say" in call["Twiml"]
    assert len(stand_in.forms) == 2  # the refused SMS and the call; the release never as SMS


def test_a_landline_without_voice_consent_is_unreachable(session: Session) -> None:
    w = helpers.world(session, language="es", consented=["sms"])
    notify_family(session, w.case, "released", "r", NOON)
    session.commit()
    stand_in = StandIn()
    stand_in.fail_next(400, 21614)
    _dispatch(stand_in)
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.channel == "sms" and contact.unreachable
    assert _events("channel_switched") == []


def _report(client: TestClient, row: Notification, status: str) -> None:
    path = f"/webhooks/twilio/status/{row.id}"
    form = {"MessageSid": row.provider_sid or "", "MessageStatus": status, "ErrorCode": "30003"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE + path, form)
    r = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 204, r.text


def _sent(channel: str) -> list[Notification]:
    with db.get_sessionmaker()() as s:
        rows = list(
            s.scalars(
                select(Notification)
                .where(Notification.channel == channel, Notification.provider_sid.is_not(None))
                .order_by(Notification.created_at, Notification.kind)
            )
        )
        s.expunge_all()
    return rows


def test_two_undelivered_in_a_row_try_the_next_channel_then_unreachable(
    client: TestClient, session: Session
) -> None:
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    w.family.last_inbound_at = NOON  # the window is open: free-form WhatsApp
    w.family.introduced_at = NOON
    notify_family(session, w.case, "released", "a", NOON)
    notify_family(session, w.case, "decision_granted", "b", NOON, {"request_kind": "release"})
    session.commit()
    _dispatch(StandIn())
    first, second = _sent("whatsapp")
    _report(client, first, "undelivered")
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.channel == "whatsapp" and not contact.unreachable
    _report(client, second, "undelivered")
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.channel == "sms" and not contact.unreachable
        resent = s.scalars(select(Notification).where(Notification.channel == "sms")).one()
        assert resent.kind == second.kind and resent.dedupe_key.endswith(":via:sms")
    (switched,) = _events("channel_switched")
    assert "2 whatsapp messages in a row were not delivered" in switched
    # SMS fails twice as well: every consented channel tried, now unreachable.
    _dispatch(StandIn())
    session.expire_all()  # the webhook moved the contact to SMS
    notify_family(session, w.case, "released", "c", NOON)
    session.commit()
    _dispatch(StandIn())
    sms = _sent("sms")
    assert len(sms) == 2
    _report(client, sms[0], "undelivered")
    _report(client, sms[1], "undelivered")
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.unreachable and contact.consecutive_failures == 4
    assert len(_events("channel_switched")) == 1
    assert _events("contact_unreachable")


def test_a_delivery_in_between_starts_the_count_again(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="es", consented=["sms", "voice"])
    w.family.introduced_at = NOON
    for key in ("a", "b", "c"):
        notify_family(session, w.case, "released", key, NOON)
    session.commit()
    _dispatch(StandIn())
    rows = _sent("sms")
    _report(client, rows[0], "undelivered")
    _report(client, rows[1], "delivered")
    _report(client, rows[2], "undelivered")
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.channel == "sms" and not contact.unreachable
    assert _events("channel_switched") == []
