"""Voice calls (issue 13, item 3): urgent family updates by a call whose TwiML speaks the
contact's language (a recording where Twilio has no voice), never in quiet hours, and call
outcomes through the same status callback and "unreachable after two failures" rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests.channels import twiml
from tests.channels.conftest import BASE, VOICE_FROM
from tests.notifications import helpers
from tests.notifications.helpers import ACCOUNT_SID, AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import Contact, Notification, TimelineEvent
from tracker.services.channels import notify_family
from tracker.settings import get_settings
from tracker.vocab import NotificationStatus

CALLS_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def _dispatch(stand_in: StandIn, clock: helpers.Clock | None = None) -> None:
    transport = helpers.twilio_transport(stand_in, voice_from=VOICE_FROM)
    helpers.dispatcher(transport, clock=clock).run(once=True)


def _calls(stand_in: StandIn) -> list[dict[str, str]]:
    pairs = zip(stand_in.forms, stand_in.paths, strict=True)
    return [form for form, path in pairs if path.endswith(CALLS_PATH)]


def test_a_decision_is_phoned_in_spanish(session: Session) -> None:
    w = helpers.world(session, language="es", channel="voice", consented=["voice", "sms"])
    w.family.introduced_at = NOON
    notify_family(session, w.case, "decision_granted", "d", NOON, {"request_kind": "release"})
    session.commit()
    stand_in = StandIn()
    _dispatch(stand_in)
    (call,) = _calls(stand_in)
    assert call["To"] == w.family.phone and call["From"] == VOICE_FROM
    assert call["StatusCallback"].startswith(get_settings().base_url + "/webhooks/twilio/status/")
    root = twiml.parse(call["Twiml"])
    assert root.tag == "Response"
    says = root.findall("Say")
    assert len(says) == 2 and {s.get("language") for s in says} == {"es-US"}
    assert says[0].get("voice") == "Polly.Lupe"
    assert "Ana" in (says[0].text or "") and "Pérez" not in call["Twiml"]
    assert "concedió" in (says[0].text or "") or "otorg" in (says[0].text or "")
    row = session.scalars(select(Notification)).one()
    session.refresh(row)
    assert row.channel == "voice" and row.status is NotificationStatus.sent
    assert (row.provider_sid or "").startswith("CA")


def test_haitian_creole_plays_a_shipped_recording(session: Session, client: TestClient) -> None:
    w = helpers.world(session, language="ht", channel="voice", consented=["voice"])
    w.family.introduced_at = NOON
    notify_family(session, w.case, "released", "r", NOON)
    session.commit()
    stand_in = StandIn()
    _dispatch(stand_in)
    (call,) = _calls(stand_in)
    root = twiml.parse(call["Twiml"])
    plays = [p.text or "" for p in root.findall("Play")]
    assert root.findall("Say") == [] and len(plays) == 2
    assert plays[0] == get_settings().base_url + "/static/voice/ht/released.wav"
    served = client.get("/static/voice/ht/released.wav")
    assert served.status_code == 200 and served.content[:4] == b"RIFF"


def test_only_urgent_updates_are_phoned(session: Session) -> None:
    w = helpers.world(session, language="es", channel="voice", consented=["voice", "sms"])
    notify_family(session, w.case, "request_filed", "f", NOON, {"request_kind": "release"})
    session.commit()
    rows = list(session.scalars(select(Notification)))
    assert {r.channel for r in rows} == {"sms"}  # the introduction and the filing: texts
    summaries = list(
        session.scalars(
            select(TimelineEvent.summary).where(TimelineEvent.kind == "channel_fallback")
        )
    )
    assert len(summaries) == 2 and all(
        "only decisions, releases and transfers" in s for s in summaries
    )


def test_never_called_during_quiet_hours(session: Session) -> None:
    night = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)  # 23:00 in New York
    w = helpers.world(session, night, language="es", channel="voice", consented=["voice"])
    w.org.quiet_hours = "21:00-08:00"  # tests set QUIET_HOURS=off
    w.family.introduced_at = night
    notify_family(session, w.case, "released", "r", night)
    session.commit()
    row = session.scalars(select(Notification)).one()
    assert row.channel == "voice" and row.urgent is False
    assert row.next_attempt_at == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)  # 08:00 local
    session.commit()  # SQLite: the read's transaction holds the writer lock
    stand_in = StandIn()
    _dispatch(stand_in, helpers.Clock(night + timedelta(minutes=1)))
    assert stand_in.forms == []


def _status(client: TestClient, row_id: uuid.UUID, status: str) -> None:
    path = f"/webhooks/twilio/status/{row_id}"
    form = {"CallSid": "CA" + uuid.uuid4().hex, "CallStatus": status}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(BASE + path, form)
    r = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 204, r.text


def test_call_outcomes_are_delivery_statuses(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="es", channel="voice", consented=["voice"])
    w.family.introduced_at = NOON
    for key in ("a", "b", "c"):
        notify_family(session, w.case, "released", key, NOON)
    session.commit()
    rows = list(session.scalars(select(Notification).order_by(Notification.dedupe_key)))
    session.commit()
    _status(client, rows[0].id, "completed")
    _status(client, rows[1].id, "busy")
    _status(client, rows[2].id, "no-answer")
    with db.get_sessionmaker()() as s:
        got = {n.dedupe_key: n for n in s.scalars(select(Notification))}
        assert got[rows[0].dedupe_key].status is NotificationStatus.delivered
        busy = got[rows[1].dedupe_key]
        assert busy.status is NotificationStatus.undelivered
        assert "busy" in (busy.error_message or "")
        contact = s.get(Contact, w.family.id)
        # Only voice was consented: two failed calls in a row make the family unreachable.
        assert contact is not None and contact.unreachable
