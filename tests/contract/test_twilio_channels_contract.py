"""WhatsApp Messages.json and voice Calls.json forms checked against Twilio's OpenAPI
description (``CreateMessageRequest``, ``CreateCallRequest``), in-process and against Prism,
like the SMS forms in ``test_twilio_contract``; the calls' TwiML parsed as XML and checked
against Twilio's TwiML reference (``tests/channels/twiml.py``) — issue 13, item 7."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications.twilio import TwilioTransport
from tests import prism as prism_mock
from tests.channels import twiml
from tests.channels.conftest import VOICE_FROM, WHATSAPP_FROM, channel_settings
from tests.notifications import helpers
from tests.notifications.helpers import ACCOUNT_SID, AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import Notification
from tracker.services.channels import notify_family
from tracker.vocab import NotificationStatus

MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
CALLS_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
WHATSAPP = re.compile(r"^whatsapp:\+[1-9]\d{6,14}$")


def request_schema(path: str, title: str) -> dict[str, Any]:
    spec = json.loads(prism_mock.twilio_spec().read_text())
    body = spec["paths"][path]["post"]["requestBody"]["content"]
    schema: dict[str, Any] = body["application/x-www-form-urlencoded"]["schema"]
    assert schema.get("title") == title
    return {**schema, "components": spec["components"]}


def _spec_problems(form: dict[str, str], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    problems = [e.message for e in validator.iter_errors(form)]
    problems += [f"unknown parameter {n}" for n in sorted(set(form) - set(schema["properties"]))]
    return problems


def whatsapp_violations(form: dict[str, str], schema: dict[str, Any]) -> list[str]:
    """``CreateMessageRequest`` plus what Twilio's WhatsApp guide adds in prose."""
    problems = _spec_problems(form, schema)
    if not WHATSAPP.match(form.get("To", "")):
        problems.append(f"To is not whatsapp:+E164: {form.get('To')!r}")
    if form.get("From") and not WHATSAPP.match(form["From"]):
        problems.append("From is not whatsapp:+E164")
    if not (form.get("From") or form.get("MessagingServiceSid")):
        problems.append("neither From nor MessagingServiceSid")
    if bool(form.get("Body")) == bool(form.get("ContentSid")):
        problems.append("exactly one of Body (inside the window) and ContentSid (a template)")
    if form.get("ContentSid"):
        try:
            variables = json.loads(form.get("ContentVariables", ""))
        except json.JSONDecodeError:
            variables = None
        if not isinstance(variables, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
        ):
            problems.append("ContentVariables is not a JSON object of strings")
    return problems


def call_violations(form: dict[str, str], schema: dict[str, Any]) -> list[str]:
    """``CreateCallRequest`` plus the prose: E.164 numbers, TwiML (or a URL) to run."""
    problems = _spec_problems(form, schema)
    for name in ("To", "From"):
        if not E164.match(form.get(name, "")):
            problems.append(f"{name} is not E.164")
    if not (form.get("Twiml") or form.get("Url") or form.get("ApplicationSid")):
        problems.append("no Twiml, Url or ApplicationSid")
    if form.get("Twiml"):
        try:
            problems += twiml.violations(twiml.ET.fromstring(form["Twiml"]))
        except twiml.ET.ParseError as exc:
            problems.append(f"Twiml is not XML: {exc}")
    return problems


def _queue_every_channel(session: Session) -> int:
    channel_settings(session)
    template = helpers.world(session, language="es", channel="whatsapp", consented=["whatsapp"])
    template.family.introduced_at = NOON
    notify_family(
        session, template.case, "decision_granted", "t", NOON, {"request_kind": "release"}
    )
    free = helpers.world(session, language="pt", channel="whatsapp", consented=["whatsapp"])
    free.family.introduced_at = NOON
    free.family.last_inbound_at = NOON
    notify_family(session, free.case, "released", "f", NOON)
    for language in ("es", "en", "fr", "pt-BR", "ht"):
        called = helpers.world(session, language=language, channel="voice", consented=["voice"])
        called.family.introduced_at = NOON
        notify_family(session, called.case, "released", "v", NOON)
    session.commit()
    return 7


def _transport(stand_in: StandIn | None, base_url: str, sender: str) -> TwilioTransport:
    return TwilioTransport(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_base_url=base_url,
        public_base_url="http://testserver",
        messaging_service_sid=helpers.MESSAGING_SERVICE_SID,
        whatsapp_from=WHATSAPP_FROM if sender == "from" else "",
        voice_from=VOICE_FROM,
        timeout=30,
        http_transport=httpx.MockTransport(stand_in.handler) if stand_in else None,
    )


def _rows() -> list[Notification]:
    with db.get_sessionmaker()() as s:
        rows = list(s.scalars(select(Notification)))
        s.expunge_all()
    return rows


@pytest.mark.parametrize("sender", ["from", "messaging_service"])
def test_every_whatsapp_and_call_form_matches_twilios_spec(session: Session, sender: str) -> None:
    messages = request_schema(MESSAGES_PATH, "CreateMessageRequest")
    calls = request_schema(CALLS_PATH, "CreateCallRequest")
    expected = _queue_every_channel(session)
    stand_in = StandIn()
    helpers.dispatcher(_transport(stand_in, "http://127.0.0.1:9", sender)).run(once=True)
    assert len(stand_in.forms) == expected
    seen = {"call": 0, "whatsapp": 0}
    for form, path in zip(stand_in.forms, stand_in.paths, strict=True):
        if path == CALLS_PATH.replace("{AccountSid}", ACCOUNT_SID):
            assert call_violations(form, calls) == [], form
            seen["call"] += 1
        else:
            assert path == MESSAGES_PATH.replace("{AccountSid}", ACCOUNT_SID)
            assert whatsapp_violations(form, messages) == [], form
            assert ("From" in form) is (sender == "from")
            seen["whatsapp"] += 1
    assert seen == {"call": 5, "whatsapp": 2}
    assert {r.status for r in _rows()} == {NotificationStatus.sent}


def test_the_channel_contract_checks_have_teeth() -> None:
    messages = request_schema(MESSAGES_PATH, "CreateMessageRequest")
    calls = request_schema(CALLS_PATH, "CreateCallRequest")
    good_message = {
        "To": "whatsapp:+12025550101",
        "From": WHATSAPP_FROM,
        "ContentSid": "HX" + "a" * 32,
        "ContentVariables": '{"1": "Ana"}',
        "StatusCallback": "http://testserver/webhooks/twilio/status/x",
    }
    assert whatsapp_violations(good_message, messages) == []
    assert whatsapp_violations({**good_message, "To": "+12025550101"}, messages)
    assert whatsapp_violations({**good_message, "ContentSid": "HX123"}, messages)
    assert whatsapp_violations({**good_message, "ContentVariables": "Ana"}, messages)
    assert whatsapp_violations({**good_message, "Body": "hola"}, messages)
    good_call = {
        "To": "+12025550101",
        "From": VOICE_FROM,
        "Twiml": '<Response><Say language="es-US" voice="Polly.Lupe">Hola</Say></Response>',
        "StatusCallback": "http://testserver/webhooks/twilio/status/x",
    }
    assert call_violations(good_call, calls) == []
    assert call_violations({**good_call, "Twiml": "<Response><Say>hi"}, calls)
    assert call_violations(
        {**good_call, "Twiml": '<Response><Say language="ht">x</Say></Response>'}, calls
    )
    assert call_violations(
        {**good_call, "Twiml": "<Response><Play>/static/x.wav</Play></Response>"}, calls
    )
    assert call_violations({**good_call, "StatusCallback": "not a url"}, calls)
    assert call_violations({k: v for k, v in good_call.items() if k != "From"}, calls)
    assert call_violations({**good_call, "Colour": "red"}, calls)


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    spec = prism_mock.twilio_spec()
    with prism_mock.running(prism_mock.prism_binary(), spec, log_path, 60) as url:
        yield url, log_path


@pytest.mark.slow
def test_whatsapp_and_calls_against_prism_serving_twilios_spec(
    session: Session, prism: tuple[str, Path]
) -> None:
    base_url, log_path = prism
    expected = _queue_every_channel(session)
    helpers.dispatcher(_transport(None, base_url, "from")).run(once=True)
    rows = _rows()
    assert len(rows) == expected
    assert {r.status for r in rows} == {NotificationStatus.sent}, [r.error_message for r in rows]
    assert all(r.provider_sid for r in rows)
    assert "✖" not in log_path.read_text()
