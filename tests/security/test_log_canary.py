"""Canary: known names, A-numbers, phones and a calendar token never reach any log line.

Every logger is captured (root at DEBUG, SQLAlchemy's engine logger included) while the app
takes intake (API and form, with a validation error), searches, imports (with a bad row),
dispatches SMS, answers inbound replies and serves a calendar feed; then no captured line,
traceback included, holds any spelling of the canaries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from jobs.clock import run_digest_job, run_sweep_job
from jobs.sweeps import SWEEPS
from notifications.dispatcher import Dispatcher
from notifications.transports import LogTransport
from tests.security.world import NOW, World, build_world, csrf_of, sign_in
from tracker.services.delivery import REACTIONS
from tracker.settings import get_settings
from tracker.vocab import Role
from tracker.web.app import create_app

AUTH_TOKEN = "canary-auth-token-0123456789abcdef"
LATER = NOW + timedelta(days=15)
GIVEN, FAMILY, CONTACT = "Zyxcanary", "Qwertovich", "Pluvialis"
FORM_GIVEN, FORM_FAMILY = "Ombrelune", "Vardaxian"
IMPORT_GIVEN, BAD_IMPORT_GIVEN = "Tessaloria", "Krumbleworth"
A_NUMBER, FORM_A_NUMBER, IMPORT_A_NUMBER = "987654321", "876543219", "765432198"
PHONE, FORM_PHONE, IMPORT_PHONE = "+12025550177", "+12025550166", "+12025550155"


def _spellings() -> set[str]:
    found = {GIVEN, FAMILY, CONTACT, FORM_GIVEN, FORM_FAMILY, IMPORT_GIVEN, BAD_IMPORT_GIVEN}
    for digits in (A_NUMBER, FORM_A_NUMBER, IMPORT_A_NUMBER):
        found |= {digits, f"A-{digits[:3]}-{digits[3:6]}-{digits[6:]}", f"A{digits}"}
    for phone in (PHONE, FORM_PHONE, IMPORT_PHONE):
        national = phone[2:]
        found |= {
            national,
            f"({national[:3]}) {national[3:6]}-{national[6:]}",
            f"{national[:3]}-{national[3:6]}-{national[6:]}",
            f"{national[3:6]}-{national[6:]}",
            f"{national[3:6]}{national[6:]}",
        }
    return {s.casefold() for s in found}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the traceback too, when there is one


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    # Loggers with their own level or handlers (uvicorn's, SQLAlchemy's) are opened up too.
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.level, lg.propagate, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.propagate = True
        lg.disabled = False
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for lg, level, propagate, disabled in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.disabled = disabled


@pytest.fixture
def env(
    db_url: str, monkeypatch: pytest.MonkeyPatch, captured: Capture
) -> Iterator[tuple[World, TestClient, Capture]]:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("SMS_TRANSPORT", "log")
    get_settings.cache_clear()
    world = build_world()
    app = create_app()
    app.state.clock = lambda: NOW
    with TestClient(app, base_url="http://testserver") as client:
        yield world, client, captured
    get_settings.cache_clear()


def _access_line(path: str) -> None:
    # What uvicorn's access logger emits for a request (its record shape, in-process).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200
    )


def test_no_identity_reaches_any_log_line(env: tuple[World, TestClient, Capture]) -> None:
    world, client, captured = env
    api = world.principals[Role.admin.value].headers
    facility = str(world.facility_id)

    # Intake through the API, with a family contact who consents to SMS.
    case = client.post(
        "/api/cases",
        json={"given_name": GIVEN, "family_name": FAMILY, "a_number": A_NUMBER,
              "facility_id": facility,
              "removal_scheduled_at": (LATER + timedelta(hours=10)).isoformat()},
        headers=api,
    )  # fmt: skip
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    contact = client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "family", "name": CONTACT, "phone": PHONE, "language": "es",
              "sms_consent": True},
        headers=api,
    )  # fmt: skip
    assert contact.status_code == 201, contact.text
    filed = client.post(
        f"/api/cases/{case_id}/requests", json={"kind": "release", "status": "filed"}, headers=api
    )
    assert filed.status_code == 201, filed.text  # the family is told: an SMS is queued
    # A bad API body that echoes nothing of itself to the log.
    bad = client.post(
        "/api/cases", json={"given_name": GIVEN, "a_number": "A-12-" + A_NUMBER}, headers=api
    )
    assert bad.status_code == 422

    # Search, API and page.
    assert client.get("/api/cases", params={"q": FAMILY}, headers=api).status_code == 200
    token = sign_in(client, world.principals[Role.admin.value])
    assert client.get("/", params={"q": FAMILY}).status_code == 200
    _access_line(f"/?q={FAMILY}")
    _access_line(f"/api/cases?q={GIVEN}&limit=5")

    # Form intake: first with a validation error (a bad A-number), then valid.
    form = {
        "csrf_token": token, "given_name": FORM_GIVEN, "family_name": FORM_FAMILY,
        "a_number": "A-" + FORM_A_NUMBER + "0", "facility_id": facility,
        "family_phone": FORM_PHONE, "family_name_contact": CONTACT, "family_language": "en",
        "family_consent": "1",
    }  # fmt: skip
    refused = client.post("/cases/new", data=form, follow_redirects=False)
    assert refused.status_code in (200, 422) and "A-number" in refused.text
    made = client.post(
        "/cases/new", data=form | {"a_number": FORM_A_NUMBER}, follow_redirects=False
    )
    assert made.status_code == 303, made.text[:500]

    # Import: a good row and a bad one (a broken A-number and phone).
    csv = (
        "given_name,family_name,a_number,facility,family_phone,family_sms_consent\n"
        f"{IMPORT_GIVEN},{FAMILY},{IMPORT_A_NUMBER},Security Test Facility (fictional),"
        f"{IMPORT_PHONE},yes\n"
        f"{BAD_IMPORT_GIVEN},{FAMILY},A-{IMPORT_A_NUMBER}99,,{IMPORT_PHONE}9,maybe\n"
    )
    page = client.get("/import")
    imported = client.post("/import", data={"csrf_token": csrf_of(page.text), "csv": csv})
    assert imported.status_code == 422 and "row 3" in imported.text.lower(), imported.text[:300]
    imported = client.post(
        "/import", data={"csrf_token": csrf_of(page.text), "csv": csv, "skip_invalid": "1"}
    )
    assert imported.status_code == 200, imported.text[:300]

    # The clock: every sweep and the digest, 15 days on (unanswered request, removal near).
    for name in SWEEPS:
        run_sweep_job(name, 60.0, clock=lambda: LATER)
    run_digest_job(60.0, clock=lambda: LATER)

    # SMS: the worker sends everything queued above through the log transport.
    dispatcher = Dispatcher(
        settings=get_settings(), reactions=REACTIONS, transport=LogTransport(), clock=lambda: LATER
    )
    try:
        stats = dispatcher.run(once=True)
    finally:
        dispatcher.close()
    assert stats.as_dict().get("sent", 0) >= 1, stats.as_dict()

    # Inbound replies from the family's phone, signed as Twilio signs them.
    base = get_settings().base_url
    for n, body in enumerate(("STATUS", f"hola soy {CONTACT} {FAMILY}")):
        params = {"MessageSid": f"SM{n:032d}", "From": PHONE, "To": "+12025550100",
                  "Body": body, "AccountSid": "AC" + "0" * 32}  # fmt: skip
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            base + "/webhooks/twilio/sms", params
        )
        with TestClient(client.app, base_url="http://testserver") as twilio:  # no cookies
            answer = twilio.post(
                "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
            )
        assert answer.status_code == 200, answer.text

    # The calendar feed: its URL is the credential.
    url = client.get("/api/me/calendar", headers=api).json()["url"]
    calendar_token = re.sub(r"\.ics$", "", url.rsplit("/", 1)[1])
    feed = client.get(f"/calendar/{calendar_token}.ics")
    assert feed.status_code == 200
    _access_line(f"/calendar/{calendar_token}.ics")

    lines = captured.lines
    assert any("sqlalchemy.engine" in line for line in lines), "SQL was logged (and captured)"
    assert any("parameters hidden" in line for line in lines), "hide_parameters=True"
    assert any(line.startswith("amparo.sms") for line in lines), "the SMS transport logged"
    assert any(line.startswith("jobs.clock") and "sweep" in line for line in lines), "sweeps ran"
    assert any(line.startswith("uvicorn.access") for line in lines)
    secrets = _spellings() | {calendar_token.casefold()}
    leaks = sorted(
        {f"{secret!r} in: {line[:300]}" for line in lines for secret in secrets
         if secret in line.casefold()}
    )  # fmt: skip
    assert leaks == [], "\n".join(leaks[:20])


def test_a_validation_error_in_a_traceback_does_not_echo_what_was_typed() -> None:
    # A form error that escapes to the error log (``log.error(..., exc_info=...)``) carries the
    # exception's text: it names fields and reasons, never the values.
    from pydantic import ValidationError

    from tracker.schemas import CaseCreate, ContactCreate

    with pytest.raises(ValidationError) as case_error:
        CaseCreate.model_validate(
            {"given_name": GIVEN, "family_name": FAMILY, "a_number": "A-12-" + A_NUMBER,
             "factors": "x", "removal_scheduled_at": "0001-01-01T00:00:00Z"}
        )  # fmt: skip
    with pytest.raises(ValidationError) as contact_error:
        ContactCreate.model_validate({"role": "family", "name": CONTACT, "phone": PHONE + "99"})
    for error in (case_error.value, contact_error.value):
        text = str(error).casefold() + repr(error).casefold()
        assert "a_number" in text or "phone" in text
        assert not [s for s in _spellings() if s in text], text


def test_uvicorn_access_log_of_a_real_server_is_redacted(db_url: str) -> None:
    # The way ``amparo serve`` runs it: the app built first, then uvicorn configures logging.
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    handler = Capture()
    access = logging.getLogger("uvicorn.access")
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        access.addHandler(handler)
        base = f"http://127.0.0.1:{port}"
        httpx.get(f"{base}/calendar/SeCrEtCaLeNdArToKeN123.ics")
        httpx.get(f"{base}/?q={FAMILY}")
        httpx.get(f"{base}/api/cases?q={GIVEN}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        access.removeHandler(handler)
    assert len(handler.lines) == 3, handler.lines
    text = "\n".join(handler.lines).casefold()
    for secret in ("secretcalendartoken123", FAMILY.casefold(), GIVEN.casefold()):
        assert secret not in text, text
    assert "/calendar/[redacted]" in text and "/api/cases?[redacted]" in text
