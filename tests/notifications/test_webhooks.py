"""Twilio webhooks through the real app: signatures, status callbacks, inbound replies."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notifications import outbox
from notifications.events import notify_family
from tests.notifications import helpers
from tests.notifications.helpers import AUTH_TOKEN, NOON
from tracker import db
from tracker.models import Alert, Contact, Notification, TimelineEvent
from tracker.settings import get_settings
from tracker.vocab import NotificationStatus
from tracker.web.app import create_app

BASE = "http://testserver"


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    settings = dataclasses.replace(get_settings(), twilio_auth_token=AUTH_TOKEN, base_url=BASE)
    app = create_app(settings)
    app.state.clock = lambda: NOON + timedelta(minutes=5)
    with TestClient(app, base_url=BASE) as c:
        yield c


def post(client: TestClient, path: str, form: dict[str, str], token: str = AUTH_TOKEN) -> object:
    signature = RequestValidator(token).compute_signature(BASE + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def fresh(model: type, ident: object) -> object:
    with db.get_sessionmaker()() as s:
        obj = s.get(model, ident)
        s.expunge_all()
    return obj


def count(model: type) -> int:
    with db.get_sessionmaker()() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _queued_family(session: Session) -> tuple[helpers.World, list[Notification]]:
    w = helpers.world(session)
    notify_family(session, w.case, "released", "r", NOON)
    session.commit()
    rows = list(session.scalars(select(Notification).order_by(Notification.created_at)))
    session.commit()
    return w, rows


def test_status_callback_with_a_bad_signature_is_refused(
    client: TestClient, session: Session
) -> None:
    _, rows = _queued_family(session)
    path = f"/webhooks/twilio/status/{rows[0].id}"
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert post(client, path, form, token="wrong-token").status_code == 403  # type: ignore[attr-defined]
    assert client.post(path, data=form).status_code == 403
    tampered = {**form, "MessageStatus": "failed"}
    sig = RequestValidator(AUTH_TOKEN).compute_signature(BASE + path, form)
    r = client.post(path, data=tampered, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 403
    row = fresh(Notification, rows[0].id)
    assert row.status is NotificationStatus.queued and row.provider_sid is None  # type: ignore[attr-defined]


def test_status_moves_forward_only_and_is_idempotent(client: TestClient, session: Session) -> None:
    _, rows = _queued_family(session)
    path = f"/webhooks/twilio/status/{rows[0].id}"
    for status in ("sent", "delivered", "delivered", "sent", "failed", "queued"):
        r = post(client, path, {"MessageSid": "SMabc", "MessageStatus": status})
        assert r.status_code == 204  # type: ignore[attr-defined]
    row = fresh(Notification, rows[0].id)
    assert row.status is NotificationStatus.delivered  # type: ignore[attr-defined]
    assert row.provider_sid == "SMabc" and row.delivered_at is not None  # type: ignore[attr-defined]


def test_unknown_notification_is_404_after_the_signature_check(client: TestClient) -> None:
    path = f"/webhooks/twilio/status/{uuid.uuid4()}"
    assert post(client, path, {"MessageStatus": "delivered"}).status_code == 404  # type: ignore[attr-defined]


def test_two_failures_in_a_row_make_the_contact_unreachable(
    client: TestClient, session: Session
) -> None:
    w, rows = _queued_family(session)
    assert len(rows) == 2
    first = post(
        client,
        f"/webhooks/twilio/status/{rows[0].id}",
        {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"},
    )
    assert first.status_code == 204  # type: ignore[attr-defined]
    contact = fresh(Contact, w.family.id)
    assert not contact.unreachable and contact.consecutive_failures == 1  # type: ignore[attr-defined]
    post(
        client,
        f"/webhooks/twilio/status/{rows[1].id}",
        {"MessageSid": "SM2", "MessageStatus": "failed", "ErrorCode": "30005"},
    )
    contact = fresh(Contact, w.family.id)
    assert contact.unreachable and contact.unreachable_since is not None  # type: ignore[attr-defined]
    row = fresh(Notification, rows[1].id)
    assert row.error_code == "30005" and "inactive" in (row.error_message or "")  # type: ignore[attr-defined]
    with db.get_sessionmaker()() as s:
        kinds = s.scalars(select(TimelineEvent.kind).where(TimelineEvent.case_id == w.case.id))
        assert "contact_unreachable" in list(kinds)


def test_a_delivery_between_failures_resets_the_count(client: TestClient, session: Session) -> None:
    w, rows = _queued_family(session)
    post(client, f"/webhooks/twilio/status/{rows[0].id}", {"MessageStatus": "delivered"})
    post(client, f"/webhooks/twilio/status/{rows[1].id}", {"MessageStatus": "undelivered"})
    contact = fresh(Contact, w.family.id)
    assert not contact.unreachable and contact.consecutive_failures == 1  # type: ignore[attr-defined]


def sms(client: TestClient, sender: str, body: str) -> str:
    # A fresh MessageSid each time: a repeated one is a retry and does nothing.
    sid = f"SM{uuid.uuid4().hex}"
    r = post(client, "/webhooks/twilio/sms", {"From": sender, "Body": body, "MessageSid": sid})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    return str(r.text)  # type: ignore[attr-defined]


def test_stop_opts_out_and_suppresses_then_start_opts_back_in(
    client: TestClient, session: Session
) -> None:
    w, rows = _queued_family(session)
    reply = sms(client, w.family.phone, "Stop")
    assert "<Response><Message>" in reply and "START" in reply
    contact = fresh(Contact, w.family.id)
    assert contact.opted_out_at is not None  # type: ignore[attr-defined]
    assert {fresh(Notification, r.id).status for r in rows} == {NotificationStatus.suppressed}  # type: ignore[attr-defined]
    reply = sms(client, w.family.phone, "START")
    assert fresh(Contact, w.family.id).opted_out_at is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit."])
def test_every_stop_word_opts_out(client: TestClient, session: Session, word: str) -> None:
    w, _ = _queued_family(session)
    sms(client, w.family.phone, word)
    assert fresh(Contact, w.family.id).opted_out_at is not None  # type: ignore[attr-defined]


def test_bad_signature_on_inbound_records_nothing(client: TestClient, session: Session) -> None:
    w, _ = _queued_family(session)
    form = {"From": w.family.phone, "Body": "STOP"}
    r = post(client, "/webhooks/twilio/sms", form, token="not-the-token")
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert fresh(Contact, w.family.id).opted_out_at is None  # type: ignore[attr-defined]


def test_status_from_a_family_number_answers_in_their_language(
    client: TestClient, session: Session
) -> None:
    w, _ = _queued_family(session)
    reply = sms(client, w.family.phone, "estado")
    assert "Ana" in reply and "Sofía" not in reply and "Pérez" not in reply
    assert "detenci" in reply
    assert "Aún no" in reply or "Aun no" in reply


def test_unknown_numbers_get_help_and_nothing_else(client: TestClient, session: Session) -> None:
    _queued_family(session)
    before = count(TimelineEvent)
    reply = sms(client, "+13125550199", "STATUS")  # outside next_phone()'s range
    assert "Amparo sends case updates" in reply and "Ana" not in reply
    assert count(TimelineEvent) == before


def test_counsel_ok_acknowledges_their_most_recent_open_alert(
    client: TestClient, session: Session
) -> None:
    w, _ = _queued_family(session)
    alert = helpers.open_alert(session, w, NOON)
    outbox.enqueue(
        session,
        organization_id=w.org.id,
        to_phone=w.attorney.phone or "",
        kind="removal_imminent",
        dedupe_key=f"n:{alert.id}",
        params={"first_name": "Ana", "rung": 24},
        alert_id=alert.id,
        user_id=w.attorney.id,
        urgent=True,
        now=NOON,
    )
    session.commit()
    reply = sms(client, w.attorney.phone or "", "OK thanks")
    assert "acknowledged the removal imminent alert for Ana" in reply
    acked = fresh(Alert, alert.id)
    assert acked.acknowledged_via == "sms" and acked.acknowledged_by_id == w.attorney.id  # type: ignore[attr-defined]
    again = sms(client, w.attorney.phone or "", "ACK")
    assert "no open alert" in again


def test_anything_else_goes_to_the_timeline_with_a_follow_up_reply(
    client: TestClient, session: Session
) -> None:
    w, _ = _queued_family(session)
    reply = sms(client, w.family.phone, "¿Dónde está mi esposo?")
    assert "una persona le responder" in reply
    with db.get_sessionmaker()() as s:
        summaries = list(
            s.scalars(
                select(TimelineEvent.summary).where(
                    TimelineEvent.case_id == w.case.id, TimelineEvent.kind == "sms_received"
                )
            )
        )
    assert summaries == ["SMS from family contact: ¿Dónde está mi esposo?"]


def test_help_names_the_organisation(client: TestClient, session: Session) -> None:
    w, _ = _queued_family(session)
    reply = sms(client, w.family.phone, "AYUDA")
    assert w.org.name in reply and "STOP" in reply
