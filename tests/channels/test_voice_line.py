"""The voice status line (issue 13, item 4): signature-checked TwiML, a menu in a known
caller's language, the STATUS text spoken, a language menu and nothing else for strangers."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from tests import factories
from tests.channels import twiml
from tests.channels.conftest import BASE
from tests.notifications import helpers
from tests.notifications.helpers import AUTH_TOKEN, NOON
from tracker.schemas import ContactCreate
from tracker.services import contacts as contact_service

PATH = "/webhooks/twilio/voice"


def call(client: TestClient, form: dict[str, str], query: str = "", token: str = AUTH_TOKEN) -> str:
    path = PATH + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(BASE + path, form)
    r = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return r.text


def test_a_known_family_hears_a_menu_then_their_status_in_spanish(
    client: TestClient, session: Session
) -> None:
    w = helpers.world(session, language="es")
    session.commit()
    form = {"From": w.family.phone, "To": "+12025550100", "CallSid": "CA" + "1" * 32}
    menu = twiml.parse(call(client, form))
    (gather,) = menu.findall("Gather")
    assert gather.get("numDigits") == "1" and gather.get("language") == "es-US"
    assert gather.get("action") == f"{BASE}{PATH}?step=menu"
    (prompt,) = gather.findall("Say")
    assert prompt.get("language") == "es-US" and "Oprima 1" in (prompt.text or "")
    answer = twiml.parse(call(client, {**form, "Digits": "1"}, "step=menu"))
    (said,) = answer.findall("Say")
    text = said.text or ""
    assert said.get("language") == "es-US" and "Ana" in text
    assert "Sofía" not in text and "Pérez" not in text and w.org.name in text
    assert answer.findall("Hangup")
    # Any other key: the menu again, never the status.
    again = twiml.parse(call(client, {**form, "Digits": "9"}, "step=menu"))
    assert again.findall("Gather") and "Ana" not in call(
        client, {**form, "Digits": "9"}, "step=menu"
    )


def test_a_creole_caller_hears_recordings(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="ht")
    session.commit()
    form = {"From": w.family.phone, "CallSid": "CA" + "2" * 32}
    menu = twiml.parse(call(client, form))
    (gather,) = menu.findall("Gather")
    assert [p.text for p in gather.findall("Play")] == [f"{BASE}/static/voice/ht/menu.wav"]
    answer = twiml.parse(call(client, {**form, "Digits": "1"}, "step=menu"))
    assert [p.text for p in answer.findall("Play")] == [f"{BASE}/static/voice/ht/status.wav"]
    assert client.get("/static/voice/ht/status.wav").status_code == 200


def test_unknown_numbers_get_a_language_menu_and_nothing_about_any_case(
    client: TestClient, session: Session
) -> None:
    helpers.world(session, language="es")
    session.commit()
    form = {"From": "+12025550999", "CallSid": "CA" + "3" * 32}
    menu = twiml.parse(call(client, form))
    (gather,) = menu.findall("Gather")
    assert gather.get("action") == f"{BASE}{PATH}?step=lang"
    assert "español" in (gather.findtext("Say") or "")
    # Pressing 1 on the status step does not help a stranger either.
    for query, digits in (("step=lang", "2"), ("step=menu", "1")):
        text = call(client, {**form, "Digits": digits}, query)
        assert "Ana" not in text and "Amparo" not in text.split("<Say", 1)[0]
    spanish = twiml.parse(call(client, {**form, "Digits": "2"}, "step=lang"))
    said = spanish.find("Say")
    assert said is not None and said.get("language") == "es-US"
    assert "No encontramos su número" in (spanish.findtext("Say") or "")


def test_only_the_callers_own_organisation_is_told(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="es")
    # Another organisation knows the same number on a case of its own, texted last: the
    # caller is routed there and hears that organisation's case only.
    other = factories.org(session, NOON, "Other Org")
    lawyer = factories.user(session, other, NOON)
    case = factories.case(session, factories.actor_for(lawyer), NOON, given_name="Bea")
    contact_service.add_contact(
        session,
        factories.actor_for(lawyer),
        case,
        ContactCreate(role="family", phone=w.family.phone, language="es", sms_consent=True),
        NOON,
    )
    session.commit()
    form = {"From": w.family.phone, "CallSid": "CA" + "4" * 32, "Digits": "1"}
    text = call(client, form, "step=menu")
    assert ("Ana" in text) != ("Bea" in text)


def test_a_forged_signature_is_refused(client: TestClient, session: Session) -> None:
    w = helpers.world(session, language="es")
    session.commit()
    form = {"From": w.family.phone, "CallSid": "CA" + "5" * 32, "Digits": "1"}
    signature = RequestValidator("not-the-token").compute_signature(BASE + PATH, form)
    r = client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 403 and "Ana" not in r.text


def test_every_recorded_clip_is_shipped() -> None:
    from pathlib import Path

    from notifications import voice

    static = Path(__file__).resolve().parents[2] / "tracker" / "static" / "voice"
    for language in voice.RECORDED:
        for clip in voice.RECORDED_CLIPS:
            path = static / language / f"{clip}.wav"
            assert path.read_bytes()[:4] == b"RIFF", path
