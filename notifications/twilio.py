"""Twilio: the ``twilio`` library's client over one httpx connection pool, and error classes.

``TWILIO_API_BASE_URL`` points the client at a stand-in in tests (``client.api.base_url``);
``HttpxHttpClient(transport=...)`` is the seam where in-process stand-ins plug in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifications import voice
from notifications.transports import Outgoing, RemoteMessage, SendResult, TransportError
from tracker.settings import Settings

log = logging.getLogger("amparo.sms.twilio")

T = TypeVar("T")

# How many of a recipient's recent messages the crash check reads at most: far more than
# one worker can have in flight to one number.
ADOPTION_LIST_LIMIT = 200

# The recipient can never receive from us: retrying cannot help.
OPTED_OUT_CODES = frozenset({"21610"})  # "Attempt to send to unsubscribed recipient"
BAD_NUMBER_CODES = frozenset(
    {
        "21211",  # invalid 'To' phone number
        "21214",  # 'To' phone number cannot be reached
        "21217",  # phone number does not appear to be valid
        "21401",  # invalid phone number
        "21612",  # cannot route to this number
        "21614",  # 'To' number is not a valid mobile number
    }
)
# The request itself is wrong for this recipient or region: permanent, but not the number's fault.
PERMANENT_CODES = frozenset({"21408", "21602", "21617", "21635", "30004", "30006"})
# Account-level trouble (credentials, suspended sender) is retried with backoff so that an
# operator can fix it before alerts are given up on.
RETRYABLE_CODES = frozenset({"20003", "20429", "20500", "20503", "30001", "30002"})


def classify(
    status: int, code: str | None, message: str, retry_after: float | None
) -> TransportError:
    """A Twilio API error → permanent or retryable, and what it means for the contact."""
    text = (
        f"Twilio {status}"
        + (f" error {code}" if code else "")
        + (f": {message}" if message else "")
    )
    if code in OPTED_OUT_CODES:
        return TransportError(text, permanent=True, code=code, opted_out=True)
    if code in BAD_NUMBER_CODES:
        return TransportError(text, permanent=True, code=code, bad_number=True)
    if code in PERMANENT_CODES:
        return TransportError(text, permanent=True, code=code)
    if status == 429 or status >= 500 or code in RETRYABLE_CODES or status in (401, 403, 408):
        return TransportError(
            text, permanent=False, code=code or str(status), retry_after=retry_after
        )
    # Any other 4xx: the same request will be refused again.
    return TransportError(text, permanent=True, code=code or str(status))


def wa_address(number: str) -> str:
    """``whatsapp:+E164``, Twilio's address of a WhatsApp user or sender."""
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def _retry_after(headers: httpx.Headers | None) -> float | None:
    if headers is None:
        return None
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


class HttpxHttpClient(HttpClient):  # type: ignore[misc]
    """``twilio.http.HttpClient`` over httpx with explicit timeouts: one ``httpx.Client`` (and
    keep-alive connection) per calling thread.

    Not one client shared by the send threads: httpcore's pool takes one lock and walks every
    waiting request on each request and release, which at ~100 sends in flight cost the
    worker several times the CPU of the HTTP exchange itself. A worker's threads are a fixed
    pool of ``WORKER_CONCURRENCY``, so this is that many connections, as before.
    """

    def __init__(
        self,
        timeout: float = 10.0,
        connect: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(logger=log, is_async=False, timeout=timeout)
        self._timeout = httpx.Timeout(timeout, connect=connect)
        self._transport = transport
        # One TLS context for all the threads' clients: each would otherwise load the CA
        # bundle again (~10 ms of CPU per thread). Unused when a stand-in transport is given.
        self._tls = httpx.create_ssl_context() if transport is None else None
        self._local = threading.local()
        self._clients: dict[threading.Thread, httpx.Client] = {}
        self._clients_lock = threading.Lock()
        self._last = threading.local()

    @property
    def session(self) -> httpx.Client:
        """This thread's client (created on its first request)."""
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                verify=self._tls if self._tls is not None else True,
                transport=self._transport,
                headers={"Accept": "application/json"},
            )
            self._local.client = client
            with self._clients_lock:
                # Threads of an earlier pool that have ended: their connections go too.
                for thread in [t for t in self._clients if not t.is_alive()]:
                    self._clients.pop(thread).close()
                self._clients[threading.current_thread()] = client
        return client

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        response = self.session.request(
            method.upper(),
            uri,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            follow_redirects=allow_redirects,
        )
        self._last.headers = response.headers
        return Response(response.status_code, response.text, dict(response.headers))

    def last_headers(self) -> httpx.Headers | None:
        headers: httpx.Headers | None = getattr(self._last, "headers", None)
        return headers

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class TwilioTransport:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str,
        public_base_url: str,
        messaging_service_sid: str = "",
        from_number: str = "",
        whatsapp_from: str = "",
        voice_from: str = "",
        timeout: float = 10.0,
        connect: float = 5.0,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not (messaging_service_sid or from_number):
            raise ValueError("set TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
        self.http = HttpxHttpClient(timeout=timeout, connect=connect, transport=http_transport)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.client.api.base_url = api_base_url.rstrip("/")
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        self.whatsapp_from = whatsapp_from
        self.voice_from = voice_from
        self.public_base_url = public_base_url.rstrip("/")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        timeout: float = 10.0,
        connect: float = 5.0,
        http_transport: httpx.BaseTransport | None = None,
    ) -> TwilioTransport:
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            api_base_url=settings.twilio_api_base_url,
            public_base_url=settings.base_url,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=settings.twilio_from_number,
            whatsapp_from=settings.twilio_whatsapp_from,
            voice_from=settings.twilio_voice_from,
            timeout=timeout,
            connect=connect,
            http_transport=http_transport,
        )

    def sender(self) -> str:
        return self.messaging_service_sid or self.from_number

    def status_callback(self, message: Outgoing) -> str:
        return f"{self.public_base_url}/webhooks/twilio/status/{message.notification_id}"

    def send(self, message: Outgoing) -> SendResult:
        if message.channel == "whatsapp":
            return self._send_whatsapp(message)
        if message.channel == "voice":
            return self._call_out(message)
        kwargs: dict[str, Any] = {
            "to": message.to,
            "body": message.body,
            "status_callback": self.status_callback(message),
        }
        return self._create_message(kwargs, message.sender or self.sender())

    def _whatsapp_sender(self, message: Outgoing) -> str:
        """``TWILIO_WHATSAPP_FROM``, else the (organisation's or global) Messaging Service,
        which must then have a WhatsApp sender in its pool."""
        if self.whatsapp_from:
            return wa_address(self.whatsapp_from)
        for candidate in (message.sender, self.messaging_service_sid):
            if candidate and candidate.startswith("MG"):
                return candidate
        raise TransportError(
            "no WhatsApp sender: set TWILIO_WHATSAPP_FROM or TWILIO_MESSAGING_SERVICE_SID",
            permanent=True,
            code="no-sender",
        )

    def _send_whatsapp(self, message: Outgoing) -> SendResult:
        """Messages.json to ``whatsapp:+E164``: a Content template outside WhatsApp's 24-hour
        window, a free-form body inside it (``notifications.channels`` chose)."""
        sender = self._whatsapp_sender(message)
        kwargs: dict[str, Any] = {
            "to": wa_address(message.to),
            "status_callback": self.status_callback(message),
        }
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            kwargs["content_variables"] = message.content_variables or "{}"
        else:
            kwargs["body"] = message.body
        return self._create_message(kwargs, sender)

    def _create_message(self, kwargs: dict[str, Any], sender: str) -> SendResult:
        """POST Messages.json from ``sender``: a Messaging Service (MG…) or an address."""
        if sender.startswith("MG"):
            kwargs["messaging_service_sid"] = sender
        else:
            kwargs["from_"] = sender
        created = self._call(lambda: self.client.messages.create(**kwargs))
        if not created.sid:
            raise TransportError("Twilio answered without a message SID", permanent=False)
        return SendResult(
            sid=str(created.sid), status=str(created.status or "queued"), sender=sender
        )

    def _voice_sender(self, message: Outgoing) -> str:
        """A call comes from a number: ``TWILIO_VOICE_FROM``, the organisation's own number,
        else ``TWILIO_FROM_NUMBER`` (a Messaging Service cannot place calls)."""
        for candidate in (self.voice_from, message.sender, self.from_number):
            if candidate and candidate.startswith("+"):
                return candidate
        raise TransportError(
            "no number to call from: set TWILIO_VOICE_FROM or TWILIO_FROM_NUMBER",
            permanent=True,
            code="no-sender",
        )

    def _call_out(self, message: Outgoing) -> SendResult:
        """Calls.json: the TwiML inline, the outcome to the same status callback as an SMS."""
        sender = self._voice_sender(message)
        twiml = voice.call_twiml(message.body, message.language, message.kind, self.public_base_url)
        created = self._call(
            lambda: self.client.calls.create(
                to=message.to,
                from_=sender,
                twiml=twiml,
                status_callback=self.status_callback(message),
            )
        )
        if not created.sid:
            raise TransportError("Twilio answered without a call SID", permanent=False)
        return SendResult(
            sid=str(created.sid), status=str(created.status or "queued"), sender=sender
        )

    def _call(self, call: Callable[[], T]) -> T:
        """One API call, its failures translated to ``TransportError``."""
        try:
            return call()
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code is not None else None
            raise classify(
                int(exc.status), code, str(exc.msg or ""), _retry_after(self.http.last_headers())
            ) from exc
        except TwilioException as exc:  # e.g. a list page it could not read
            # Not the exception's text: it can echo a response carrying a phone number.
            raise TransportError(
                f"Twilio answered what the client could not read ({type(exc).__name__})",
                permanent=False,
            ) from exc
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"timeout talking to Twilio ({type(exc).__name__})", permanent=False, code="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                f"connection error talking to Twilio ({type(exc).__name__})",
                permanent=False,
                code="connection",
            ) from exc

    def sent_since(
        self, to: str, since: datetime, sender: str | None = None
    ) -> list[RemoteMessage]:
        """``GET …/Messages.json?To=…&DateSent>=…``: our outbound messages to ``to`` since then.

        Twilio does not echo the ``StatusCallback``, so the caller matches on the body; the
        sender is matched here (the messaging service, or the from number).
        """
        found = self._call(
            lambda: self.client.messages.list(
                to=to, date_sent_after=since, page_size=50, limit=ADOPTION_LIST_LIMIT
            )
        )
        sender = sender or self.sender()
        ours: list[RemoteMessage] = []
        for message in found:
            if not str(message.direction or "").startswith("outbound"):
                continue
            if sender.startswith("MG"):
                if message.messaging_service_sid != sender:
                    continue
            elif message.from_ != sender:
                continue
            if message.sid and message.body is not None and message.date_created is not None:
                ours.append(
                    RemoteMessage(str(message.sid), str(message.body), message.date_created)
                )
        return ours

    def close(self) -> None:
        self.http.close()
