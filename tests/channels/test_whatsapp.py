"""WhatsApp (issue 13, item 2): templates outside the 24-hour window, free-form inside it,
SMS when no template exists, and inbound WhatsApp on the SMS webhook opening the window."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notifications.transports import Outgoing, TransportError
from tests.channels.conftest import BASE, WHATSAPP_FROM, channel_settings
from tests.notifications import helpers
from tests.notifications.helpers import AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import AuditEntry, Contact, Notification, TimelineEvent
from tracker.services.channels import notify_family
from tracker.vocab import NotificationStatus


def _rows(session: Session) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(select(Notification).order_by(Notification.next_attempt_at)))


def _dispatch(stand_in: StandIn) -> None:
    transport = helpers.twilio_transport(stand_in, whatsapp_from=WHATSAPP_FROM)
    helpers.dispatcher(transport).run(once=True)


def test_outside_the_window_a_template_with_its_variables(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    w.family.introduced_at = NOON  # only the decision: the introduction has its own test
    notify_family(
        session, w.case, "decision_granted", "d1", NOON, {"request_kind": "stay_of_removal"}
    )
    session.commit()
    stand_in = StandIn()
    _dispatch(stand_in)
    (form,) = stand_in.forms
    assert form["To"] == f"whatsapp:{w.family.phone}" and form["From"] == WHATSAPP_FROM
    assert form["ContentSid"] == "HX" + "a" * 32 and "Body" not in form
    variables = json.loads(form["ContentVariables"])
    assert variables["1"] == "Ana" and variables["3"] == w.org.name
    assert variables["2"] and variables["2"] != "stay_of_removal"  # translated label
    (row,) = _rows(session)
    assert row.channel == "whatsapp" and row.status is NotificationStatus.sent


def test_named_variables_and_a_free_form_body_inside_the_window(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp"])
    w.family.introduced_at = NOON
    notify_family(session, w.case, "released", "r1", NOON)
    w.family.last_inbound_at = NOON - timedelta(hours=2)
    notify_family(session, w.case, "released", "r2", NOON)
    session.commit()
    stand_in = StandIn()
    _dispatch(stand_in)
    template, free = sorted(stand_in.forms, key=lambda f: "Body" in f)
    assert template["ContentSid"] == "HX" + "b" * 32
    assert json.loads(template["ContentVariables"])["first_name"] == "Ana"
    assert "ContentSid" not in free and "Ana" in free["Body"] and "Sofía" not in free["Body"]
    assert free["To"].startswith("whatsapp:+")


def test_no_template_and_window_closed_falls_back_to_sms_and_says_why(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    notify_family(session, w.case, "released", "r1", NOON)  # the introduction has no template
    session.commit()
    stand_in = StandIn()
    _dispatch(stand_in)
    intro = next(f for f in stand_in.forms if "ContentSid" not in f)
    assert intro["To"] == w.family.phone and "Body" in intro  # a plain SMS
    rows = {r.kind: r for r in _rows(session)}
    assert rows["introduction"].channel == "sms" and rows["released"].channel == "whatsapp"
    events = list(
        session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "channel_fallback"))
    )
    assert len(events) == 1 and "sent by sms instead of whatsapp" in events[0].summary
    assert "no approved template for introduction in es" in events[0].summary
    audited = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "channel_fallback")
    ).one()
    assert audited.entity_id == str(w.family.id)


def test_no_template_and_no_sms_consent_is_not_sent_and_says_why(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="fr", channel="whatsapp", consented=["whatsapp"])
    w.family.introduced_at = NOON
    notify_family(session, w.case, "released", "r1", NOON)  # no French template
    session.commit()
    (row,) = _rows(session)
    assert row.status is NotificationStatus.suppressed
    assert "24-hour window is closed" in (row.error_message or "")
    event = session.scalars(
        select(TimelineEvent).where(TimelineEvent.kind == "channel_fallback")
    ).one()
    assert "not sent" in event.summary


def test_no_whatsapp_sender_is_a_permanent_failure() -> None:
    stand_in = StandIn()
    transport = helpers.twilio_transport(stand_in)
    transport.messaging_service_sid = ""
    message = Outgoing(uuid.uuid4(), "+12025550123", "Hola", "released", channel="whatsapp")
    try:
        with pytest.raises(TransportError) as refused:
            transport.send(message)
    finally:
        transport.close()
    assert refused.value.permanent and refused.value.code == "no-sender"
    assert stand_in.forms == []


def _inbound(client: TestClient, sender: str, body: str) -> str:
    form = {
        "From": sender,
        "To": WHATSAPP_FROM,
        "Body": body,
        "MessageSid": f"SM{uuid.uuid4().hex}",
    }
    path = "/webhooks/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE + path, form)
    r = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    return r.text


def test_inbound_whatsapp_status_stop_and_the_window(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp"])
    session.commit()
    answer = _inbound(client, f"whatsapp:{w.family.phone}", "estado")
    assert "Ana" in answer and "Pérez" not in answer and "<Message>" in answer
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.last_inbound_at == NOON + timedelta(minutes=5)
    # Free text reaches the timeline like an SMS.
    _inbound(client, f"whatsapp:{w.family.phone}", "¿Hay noticias?")
    with db.get_sessionmaker()() as s:
        kinds = list(
            s.scalars(select(TimelineEvent.kind).where(TimelineEvent.case_id == w.case.id))
        )
        assert "sms_received" in kinds
    _inbound(client, f"whatsapp:{w.family.phone}", "STOP")
    with db.get_sessionmaker()() as s:
        contact = s.get(Contact, w.family.id)
        assert contact is not None and contact.opted_out_at is not None
    # An unknown WhatsApp number learns nothing.
    assert "Ana" not in _inbound(client, "whatsapp:+12025550999", "estado")


def test_a_broken_template_setting_falls_back_instead_of_failing(session: Session) -> None:
    from notifications import channels

    assert channels.check_templates('{"released": {"es": "not-a-sid"}}')
    assert channels.check_templates("/nonexistent/templates.json")
    assert channels.check_templates("") is None
    session.info["settings"] = dataclasses.replace(
        db.settings_of(session), whatsapp_templates="{broken"
    )
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    w.family.introduced_at = NOON
    assert notify_family(session, w.case, "released", "r", NOON) == 1
    (row,) = _rows(session)
    assert row.channel == "sms"


def test_the_doctor_reports_a_broken_template_setting() -> None:
    from tracker.doctor import Status, check_whatsapp_templates
    from tracker.settings import get_settings

    broken = dataclasses.replace(get_settings(), whatsapp_templates='{"released": 3}')
    assert check_whatsapp_templates(broken).status is Status.fail
    good = dataclasses.replace(
        get_settings(), whatsapp_templates='{"released": {"es": "HX' + "0" * 32 + '"}}'
    )
    assert check_whatsapp_templates(good).status is Status.ok
