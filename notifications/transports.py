"""How an SMS leaves: one small interface, a ``log`` transport and (in ``twilio.py``) Twilio.

A transport either returns the provider's message id or raises ``TransportError`` saying
whether trying again could help (``permanent``) and what it means for the recipient.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tracker.settings import Settings
from tracker.validators import mask_phone

log = logging.getLogger("amparo.sms")


@dataclass(frozen=True)
class Outgoing:
    notification_id: uuid.UUID
    to: str
    body: str
    kind: str
    segments: int = 1
    # The organisation's own sender (a Messaging Service SID "MG…" or an E.164 number);
    # None: the transport's configured one.
    sender: str | None = None
    # sms | whatsapp | voice; the language speaks a call, the template carries WhatsApp
    # outside its 24-hour window (``notifications.channels``).
    channel: str = "sms"
    language: str = "en"
    content_sid: str | None = None
    content_variables: str | None = None


@dataclass(frozen=True)
class RemoteMessage:
    """A message the provider holds from our sender (for adoption after a crash)."""

    sid: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str
    sender: str


class TransportError(Exception):
    """A send that did not happen. ``permanent``: the same request can never succeed."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str | None = None,
        opted_out: bool = False,
        bad_number: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.opted_out = opted_out
        self.bad_number = bad_number
        self.retry_after = retry_after


class Transport(Protocol):
    name: str

    def sender(self) -> str: ...

    def send(self, message: Outgoing) -> SendResult: ...

    def sent_since(
        self, to: str, since: datetime, sender: str | None = None
    ) -> list[RemoteMessage]:
        """Messages from ``sender`` (else our default sender) to ``to`` created at or after
        ``since`` (raises
        ``TransportError`` when the provider cannot say)."""
        ...

    def close(self) -> None: ...


class LogTransport:
    """The embedded default: the SMS is logged (kind, id, segments, masked recipient) and counts
    as sent. Not the body: it may carry a first name, and logs travel further than the
    ``/outbox`` page and the case page, where those allowed to read it see it.
    """

    name = "log"

    def sender(self) -> str:
        return "log"

    def send(self, message: Outgoing) -> SendResult:
        log.info(
            "%s %s to %s (%s, %d segment%s)",
            message.channel,
            message.notification_id,
            mask_phone(message.to),
            message.kind,
            message.segments,
            "" if message.segments == 1 else "s",
        )
        return SendResult(sid=f"LG{uuid.uuid4().hex}", status="sent", sender="log")

    def sent_since(
        self, to: str, since: datetime, sender: str | None = None
    ) -> list[RemoteMessage]:
        # The log keeps no list to ask: a row retaken after a crash cannot be adopted and is
        # logged again (at-least-once, as before).
        return []

    def close(self) -> None:
        return None


def make_transport(settings: Settings, timeout: float = 10.0, connect: float = 5.0) -> Transport:
    if settings.sms_transport == "twilio":
        from notifications.twilio import TwilioTransport

        return TwilioTransport.from_settings(settings, timeout=timeout, connect=connect)
    return LogTransport()
