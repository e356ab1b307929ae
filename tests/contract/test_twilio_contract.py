"""Every form the dispatcher posts to Twilio checked against Twilio's own OpenAPI description.

Two stand-ins: an in-process httpx transport that validates each form against
``CreateMessageRequest`` (plus the rules the spec cannot express), and Stoplight Prism
serving the spec on loopback. Both the spec and Prism are npm development dependencies
(``package.json``): Twilio's OpenAPI description comes from ``@twilio-alpha/mcp``, which ships
``twilio-oai/spec/json/twilio_api_v2010.json``. ``make test`` runs ``npm ci``; the tests run it
themselves when ``node_modules`` is missing, and are skipped only when npm itself is missing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import outbox
from notifications.events import notify_family
from notifications.transports import Outgoing
from notifications.twilio import TwilioTransport
from tests import prism as prism_mock
from tests.notifications import helpers
from tests.notifications.helpers import ACCOUNT_SID, AUTH_TOKEN, NOON, StandIn
from tracker import db
from tracker.models import Notification
from tracker.vocab import NotificationStatus

MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def spec_path() -> Path:
    return prism_mock.twilio_spec()


def create_message_schema() -> dict[str, Any]:
    spec = json.loads(spec_path().read_text())
    body = spec["paths"][MESSAGES_PATH]["post"]["requestBody"]["content"]
    schema: dict[str, Any] = body["application/x-www-form-urlencoded"]["schema"]
    assert schema.get("title") == "CreateMessageRequest"
    # Its enums are $refs into the document's components: carry them along.
    return {**schema, "components": spec["components"]}


def contract_violations(form: dict[str, str], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema_rs.validator_for(schema, validate_formats=True)
    problems = [e.message for e in validator.iter_errors(form)]
    unknown = set(form) - set(schema["properties"])
    problems += [f"unknown parameter {name}" for name in sorted(unknown)]
    # What the spec leaves to prose: a sender, a body, E.164 numbers.
    if not (form.get("From") or form.get("MessagingServiceSid")):
        problems.append("neither From nor MessagingServiceSid")
    if not form.get("Body") and not form.get("ContentSid") and not form.get("MediaUrl"):
        problems.append("no Body")
    if not E164.match(form.get("To", "")):
        problems.append(f"To is not E.164: {form.get('To')!r}")
    if form.get("From") and not E164.match(form["From"]):
        problems.append("From is not E.164")
    return problems


def _queue_everything(session: Session) -> int:
    w = helpers.world(session, language="es")
    notify_family(session, w.case, "request_filed", "r", NOON, {"request_kind": "release"})
    outbox.enqueue(
        session,
        organization_id=w.org.id,
        to_phone=w.attorney.phone or "",
        kind="removal_imminent",
        dedupe_key="contract-counsel",
        params={"first_name": "Ana", "rung": 6, "local_time": "Tue 24 Nov, 14:00 CST"},
        user_id=w.attorney.id,
        urgent=True,
        now=NOON,
    )
    session.commit()
    return 3


def _statuses() -> list[Notification]:
    with db.get_sessionmaker()() as s:
        rows = list(s.scalars(select(Notification)))
        s.expunge_all()
    return rows


@pytest.mark.parametrize("sender", ["messaging_service", "from_number"])
def test_every_posted_form_matches_create_message_request(session: Session, sender: str) -> None:
    schema = create_message_schema()
    expected = _queue_everything(session)
    stand_in = StandIn()
    transport = TwilioTransport(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_base_url="http://127.0.0.1:9",
        public_base_url="http://testserver",
        messaging_service_sid=helpers.MESSAGING_SERVICE_SID
        if sender == "messaging_service"
        else "",
        from_number="+12025550100" if sender == "from_number" else "",
        http_transport=httpx.MockTransport(stand_in.handler),
    )
    helpers.dispatcher(transport).run(once=True)
    assert len(stand_in.forms) == expected
    for form, path in zip(stand_in.forms, stand_in.paths, strict=True):
        assert path == MESSAGES_PATH.replace("{AccountSid}", ACCOUNT_SID)
        assert contract_violations(form, schema) == [], form
        assert ("From" in form) is (sender == "from_number")
    assert {r.status for r in _statuses()} == {NotificationStatus.sent}


def test_the_contract_check_has_teeth() -> None:
    schema = create_message_schema()
    good = {
        "To": "+12025550101",
        "Body": "hi",
        "MessagingServiceSid": helpers.MESSAGING_SERVICE_SID,
        "StatusCallback": "http://testserver/webhooks/twilio/status/x",
    }
    assert contract_violations(good, schema) == []
    assert contract_violations({**good, "StatusCallback": "not a url"}, schema)
    assert contract_violations({**good, "MessagingServiceSid": "MG123"}, schema)
    assert contract_violations({"To": "+12025550101", "Body": "hi"}, schema)
    assert contract_violations({**good, "Body": ""}, schema)
    assert contract_violations({**good, "Colour": "red"}, schema)


# --- Prism ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with prism_mock.running(prism_mock.prism_binary(), spec_path(), log_path, 60) as url:
        yield url, log_path


@pytest.mark.slow
def test_dispatcher_against_prism_serving_twilios_spec(
    session: Session, prism: tuple[str, Path]
) -> None:
    base_url, log_path = prism
    expected = _queue_everything(session)
    transport = TwilioTransport(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_base_url=base_url,
        public_base_url="http://testserver",
        messaging_service_sid=helpers.MESSAGING_SERVICE_SID,
        timeout=30,
    )
    helpers.dispatcher(transport).run(once=True)
    rows = _statuses()
    assert len(rows) == expected
    assert {r.status for r in rows} == {NotificationStatus.sent}, [r.error_message for r in rows]
    assert all(r.provider_sid for r in rows)
    # Prism logs each request-validation fault with a cross; none may appear.
    assert "✖" not in log_path.read_text()


@pytest.mark.slow
def test_prism_refuses_a_form_that_breaks_the_spec(
    session: Session, prism: tuple[str, Path]
) -> None:
    base_url, _ = prism
    _queue_everything(session)
    # An invalid StatusCallback URL: Prism answers 422, which is a permanent failure here.
    transport = TwilioTransport(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_base_url=base_url,
        public_base_url="not a url",
        messaging_service_sid=helpers.MESSAGING_SERVICE_SID,
        timeout=30,
    )
    helpers.dispatcher(transport).run(once=True)
    rows = _statuses()
    assert {r.status for r in rows} == {NotificationStatus.failed}
    assert all(r.error_code == "422" for r in rows), [r.error_message for r in rows]


# --- The message list (the crash check before a re-send) ------------------------------


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema terms (a ``null`` type allowed)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


def test_the_message_list_request_and_answer_match_the_spec(session: Session) -> None:
    """What the dispatcher asks before re-sending a retaken row, and what the stand-ins
    answer (``bench.twilio_messages``), both checked against ``GET …/Messages.json``."""
    spec = json.loads(spec_path().read_text())
    operation = spec["paths"][MESSAGES_PATH]["get"]
    allowed = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    components = _nullable(spec["components"])
    answer_schema = {
        **_nullable(operation["responses"]["200"]["content"]["application/json"]["schema"]),
        "components": components,
    }
    message_schema = {
        "$ref": "#/components/schemas/api.v2010.account.message",
        "components": components,
    }
    stand_in = StandIn()
    transport = helpers.twilio_transport(stand_in)
    since = datetime.now(UTC) - timedelta(minutes=1)
    try:
        created = transport.send(Outgoing(uuid.uuid4(), "+12025550123", "Hola", "released"))
        transport.send(Outgoing(uuid.uuid4(), "+12025550124", "Hola", "released"))
        found = transport.sent_since("+12025550123", since)
    finally:
        transport.close()
    assert [m.sid for m in found] == [created.sid] and found[0].body == "Hola"
    (query,) = stand_in.lists
    assert set(query) <= allowed, set(query) - allowed
    assert query["To"] == "+12025550123" and "DateSent>" in query
    # Relative page URIs, as in Twilio's own examples: formats are not checked here.
    page = stand_in.store.list_page(MESSAGES_PATH.replace("{AccountSid}", ACCOUNT_SID), query)
    assert jsonschema_rs.validator_for(answer_schema).is_valid(page)
    assert page["messages"] and all(
        jsonschema_rs.validator_for(message_schema).is_valid(m) for m in page["messages"]
    )
    assert not jsonschema_rs.validator_for(answer_schema).is_valid({**page, "page": "zero"})
