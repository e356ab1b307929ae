"""Twilio webhooks: delivery status callbacks and inbound SMS, signature-checked.

Every request must carry a valid ``X-Twilio-Signature`` computed over ``BASE_URL`` + path
(the public URL Twilio called) and the form; anything else is answered 403 and nothing is
recorded. Without ``TWILIO_AUTH_TOKEN`` no signature can be valid, so every call is refused.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications import messages, voice
from tracker import db
from tracker.models import Notification
from tracker.services import delivery, inbound
from tracker.settings import Settings
from tracker.types import utcnow
from tracker.validators import mask_phone
from tracker.web.errors import error_response

# Where Twilio posts incoming SMS (the number's or Messaging Service's inbound webhook);
# ``amparo doctor`` checks the Twilio side points here.
SMS_PATH = "/webhooks/twilio/sms"
# Where Twilio posts incoming calls (the number's "A call comes in" webhook): the status line.
VOICE_PATH = "/webhooks/twilio/voice"

log = logging.getLogger("amparo.sms.webhooks")

MAX_FORM_FIELDS = 100


def _settings(request: Request) -> Settings:
    # Built once by the composition root (``create_app(settings)``).
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    """Now, from ``app.state.clock`` when a test travels in time."""
    now_fn: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return now_fn()


def public_url(request: Request, settings: Settings) -> str:
    url = settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def _verified_form(request: Request) -> dict[str, str] | None:
    settings = _settings(request)
    signature = request.headers.get("x-twilio-signature", "")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    await form.close()
    if not settings.twilio_auth_token or not signature:
        return None
    validator = RequestValidator(settings.twilio_auth_token)
    if not validator.validate(public_url(request, settings), params, signature):
        return None
    return params


def _forbidden() -> Response:
    return PlainTextResponse("invalid signature", status_code=403)


async def status_callback(request: Request) -> Response:
    params = await _verified_form(request)
    if params is None:
        log.warning("status callback with a bad signature refused")
        return _forbidden()
    try:
        notification_id = uuid.UUID(request.path_params["notification_id"])
    except ValueError:
        return PlainTextResponse("not found", status_code=404)
    now = _now(request)

    def apply() -> bool:
        with db.session_scope() as session:
            notification = session.get(Notification, notification_id)
            if notification is None:
                return False
            delivery.apply_status(
                session,
                notification,
                # A call's outcome comes as CallStatus/CallSid to the same callback.
                params.get("MessageStatus")
                or params.get("SmsStatus")
                or params.get("CallStatus")
                or "",
                now,
                sid=params.get("MessageSid") or params.get("SmsSid") or params.get("CallSid"),
                error_code=params.get("ErrorCode"),
            )
            return True

    found = await run_in_threadpool(apply)
    if not found:
        return PlainTextResponse("not found", status_code=404)
    return Response(status_code=204)


async def inbound_sms(request: Request) -> Response:
    params = await _verified_form(request)
    if params is None:
        log.warning("inbound SMS with a bad signature refused")
        return _forbidden()
    sender, body = params.get("From", ""), params.get("Body", "")
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        # Twilio always sends one; without it a retry could not be told from a new message.
        return error_response(422, "invalid", "MessageSid is required", {"MessageSid": "required"})
    now = _now(request)

    def handle() -> inbound.Reply | None:
        with db.session_scope() as session:
            return inbound.receive(
                session,
                sid=sid,
                from_raw=sender,
                body=body,
                now=now,
                to=params.get("To", ""),
                messaging_service_sid=params.get("MessagingServiceSid", ""),
            )

    reply = await run_in_threadpool(handle)
    twiml = MessagingResponse()
    if reply is None:
        # A retry or a replay of a message already handled: answered, nothing done again.
        log.info("inbound SMS %s already handled", sid)
    else:
        log.info("inbound SMS from %s: %s", mask_phone(sender) if sender else "?", reply.action)
        twiml.message(reply.text)
    return Response(str(twiml), media_type="application/xml")


def _twiml(text: str) -> Response:
    return Response(text, media_type="application/xml")


async def inbound_voice(request: Request) -> Response:
    """The voice status line: a known family hears, in their language, what STATUS texts;
    anyone else picks a language and hears that the number is unknown (issue 13)."""
    params = await _verified_form(request)
    if params is None:
        log.warning("inbound call with a bad signature refused")
        return _forbidden()
    settings = _settings(request)
    step, digits = request.query_params.get("step", ""), params.get("Digits", "")
    sender = params.get("From", "")
    base = settings.base_url

    def look_up() -> inbound.Caller:
        with db.session_scope() as session:
            return inbound.voice_caller(session, sender, params.get("To", ""))

    caller = await run_in_threadpool(look_up)
    prompts = messages.VOICE_PROMPTS
    if not caller.known:
        if step == "lang" and digits in voice.MENU_LANGUAGES:
            language = voice.MENU_LANGUAGES[digits]
            text = messages.translate(language, prompts["unknown"])
            return _twiml(voice.spoken(text, language, "unknown", base))
        log.info("call from an unknown number: language menu")
        no_input = messages.translate("en", prompts["no_input"])
        return _twiml(voice.language_menu(f"{base}{VOICE_PATH}?step=lang", no_input))
    language = caller.language
    if step == "menu" and digits == "1" and caller.status is not None:
        log.info("call from %s: status", mask_phone(sender) if sender else "?")
        return _twiml(voice.spoken(caller.status, language, "status", base))
    return _twiml(
        voice.status_menu(
            language,
            messages.translate(language, prompts["menu"]),
            messages.translate(language, prompts["no_input"]),
            f"{base}{VOICE_PATH}?step=menu",
            base,
        )
    )
