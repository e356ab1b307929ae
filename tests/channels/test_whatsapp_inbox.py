"""The two-way inbox on WhatsApp: a family's WhatsApp text lands in the inbox, and a reply
goes back on WhatsApp while the 24-hour window is open, by SMS after it, and not at all to a
WhatsApp-only family whose window has closed (no template carries a person's own words)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from tests.channels.conftest import WHATSAPP_FROM, channel_settings
from tests.notifications import helpers
from tests.notifications.helpers import NOON, StandIn
from tracker.models import ConversationMessage, Notification
from tracker.services import ServiceError, conversations
from tracker.services import inbound as inbound_service
from tracker.vocab import MessageDirection


def _sent(session: Session, stand_in: StandIn) -> dict[str, str]:
    session.commit()
    transport = helpers.twilio_transport(stand_in, whatsapp_from=WHATSAPP_FROM)
    helpers.dispatcher(transport).run(once=True)
    (form,) = stand_in.forms
    return form


def test_a_whatsapp_question_is_answered_on_whatsapp_inside_the_window(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    w.family.introduced_at = NOON
    inbound_service.handle(session, f"whatsapp:{w.family.phone}", "¿Dónde está?", NOON)
    (question,) = session.scalars(select(ConversationMessage))
    assert question.direction is MessageDirection.inbound and question.channel == "whatsapp"

    actor = factories.actor_for(w.attorney)
    reply = conversations.reply(session, actor, w.case, w.family.id, "Está en otro centro", NOON)
    assert reply.channel == "whatsapp"
    form = _sent(session, StandIn())
    assert form["To"] == f"whatsapp:{w.family.phone}" and form["From"] == WHATSAPP_FROM
    assert form["Body"] == "Está en otro centro" and "ContentSid" not in form


def test_after_the_window_the_reply_goes_by_sms_when_consented(session: Session) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp", "sms"])
    w.family.introduced_at = NOON
    w.family.last_inbound_at = NOON - timedelta(hours=25)
    actor = factories.actor_for(w.attorney)
    reply = conversations.reply(session, actor, w.case, w.family.id, "Le llamamos hoy", NOON)
    assert reply.channel == "sms"
    form = _sent(session, StandIn())
    assert form["To"] == w.family.phone and form["Body"] == "Le llamamos hoy"


def test_a_whatsapp_only_family_out_of_the_window_is_refused_and_nothing_written(
    session: Session,
) -> None:
    channel_settings(session)
    w = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp"])
    w.family.introduced_at = NOON
    w.family.last_inbound_at = NOON - timedelta(hours=25)
    session.flush()
    before = session.scalar(select(Notification.id).limit(1))
    actor = factories.actor_for(w.attorney)
    with pytest.raises(ServiceError) as refused:
        conversations.reply(session, actor, w.case, w.family.id, "Hola", NOON)
    assert "contact_id" in refused.value.fields
    assert session.scalar(select(Notification.id).limit(1)) == before
    assert not list(session.scalars(select(ConversationMessage)))
