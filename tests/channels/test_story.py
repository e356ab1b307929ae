"""Issue 13's "done when", end to end over loopback HTTP on both backends: a WhatsApp family
gets a template with its variables, a voice family a call in their language, a landline is
moved to voice by 21614, and a caller hears their case's status on the voice line."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from notifications.twilio import TwilioTransport
from tests.channels import loopback, twiml
from tests.channels.conftest import VOICE_FROM, WHATSAPP_FROM, channel_settings
from tests.channels.test_voice_line import call
from tests.notifications import helpers
from tests.notifications.helpers import ACCOUNT_SID, AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import Contact
from tracker.services.channels import notify_family
from tracker.settings import get_settings


def test_every_channel_end_to_end(client: TestClient, session: Session) -> None:
    channel_settings(session)
    whatsapp = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp"])
    voice = helpers.world(session, language="pt-BR", channel="voice", consented=["voice"])
    landline = helpers.world(session, language="fr", consented=["sms", "voice"])
    # The landline's first: due a minute earlier, so the refusal below answers its SMS.
    for w, at in ((landline, NOON - timedelta(minutes=1)), (whatsapp, NOON), (voice, NOON)):
        w.family.introduced_at = at
        notify_family(
            session, w.case, "decision_granted", "d", at, {"request_kind": "stay_of_removal"}
        )
    session.commit()
    stand_in = StandIn()
    stand_in.fail_next(400, 21614, "not a mobile number")  # the first post
    with loopback.serving(stand_in) as url:
        transport = TwilioTransport(
            ACCOUNT_SID,
            AUTH_TOKEN,
            api_base_url=url,
            public_base_url=get_settings().base_url,
            messaging_service_sid=helpers.MESSAGING_SERVICE_SID,
            whatsapp_from=WHATSAPP_FROM,
            voice_from=VOICE_FROM,
        )
        # One send at a time, oldest due first.
        helpers.dispatcher(transport, worker_concurrency=1).run(once=True)
    by_to = {f["To"]: f for f in stand_in.forms}
    template = by_to[f"whatsapp:{whatsapp.family.phone}"]
    assert template["ContentSid"].startswith("HX")
    assert json.loads(template["ContentVariables"])["1"] == "Ana"
    spoken = twiml.parse(by_to[voice.family.phone]["Twiml"])
    assert {s.get("language") for s in spoken.findall("Say")} == {"pt-BR"}
    calls = [f for f in stand_in.forms if f["To"] == landline.family.phone and "Twiml" in f]
    assert len(calls) == 1
    assert {s.get("language") for s in twiml.parse(calls[0]["Twiml"]).findall("Say")} == {"fr-FR"}
    with db.get_sessionmaker()() as s:
        moved = s.get(Contact, landline.family.id)
        assert moved is not None and moved.channel == "voice" and not moved.unreachable
    heard = twiml.parse(call(client, {"From": voice.family.phone, "Digits": "1"}, "step=menu"))
    assert "Ana" in (heard.findtext("Say") or "")
