"""A loopback stand-in for Twilio's Messages API that misbehaves on request.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` answers 201 with a fresh SID — or, while a
fault is set, 429 (with Retry-After), 500, or no answer until the client times out.
``GET`` on the same path answers Twilio's message list (``bench.twilio_messages``). Every
request is recorded; ``accepted_by_notification()`` counts the messages Twilio would have
sent, per notification (the id is in the ``StatusCallback`` URL), to find duplicates.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.twilio_messages import MessageStore

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
CALLBACK_ID = re.compile(r"/webhooks/twilio/status/(?P<id>[0-9a-fA-F-]{36})")


@dataclass
class Seen:
    at: float
    status: int
    form: dict[str, str]

    @property
    def notification_id(self) -> str | None:
        found = CALLBACK_ID.search(self.form.get("StatusCallback", ""))
        return found.group("id") if found else None


@dataclass
class StandIn:
    delay: float = 0.0  # seconds before each answer: makes sends "in flight" for a while
    fault: str | None = None  # None, "429", "500", "timeout", or "mixed" (cycles all three)
    hang_seconds: float = 30.0  # how long a "timeout" request is held
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    store: MessageStore = field(default_factory=lambda: MessageStore("AC" + "0" * 32))
    lists: int = 0  # message-list requests answered (the crash check before a re-send)
    active: int = 0  # requests being answered right now
    _n: int = 0

    def idle(self) -> bool:
        with self.lock:
            return self.active == 0

    def accepted(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.status == 201]

    def accepted_by_notification(self) -> Counter[str]:
        return Counter(s.notification_id or "?" for s in self.accepted())

    def faults_answered(self) -> Counter[int]:
        with self.lock:
            return Counter(s.status for s in self.seen if s.status != 201)

    def _decide(self) -> str | None:
        with self.lock:
            self._n += 1
            if self.fault == "mixed":
                return ("429", "500", "timeout")[self._n % 3]
            return self.fault


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            # Twilio's message list (ListMessageResponse): what a worker asks before it
            # re-sends a row whose previous worker died mid-send.
            parts = urlsplit(self.path)
            if MESSAGES.match(parts.path) is None:
                self._answer(404, {"code": 20404, "message": "not found"}, {})
                return
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            with state.lock:
                state.lists += 1
            self._answer(200, state.store.list_page(parts.path, query), {})

        def do_POST(self) -> None:
            with state.lock:
                state.active += 1
            try:
                self._post()
            finally:
                with state.lock:
                    state.active -= 1

        def _post(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            match = MESSAGES.match(self.path)
            if match is None:
                self._answer(404, {"code": 20404, "message": "not found"}, {})
                return
            if state.delay:
                time.sleep(state.delay)
            fault = state._decide()
            if fault == "timeout":
                with state.lock:
                    state.seen.append(Seen(time.monotonic(), 0, form))
                time.sleep(state.hang_seconds)  # the client gives up first
                return
            if fault in ("429", "500"):
                status = int(fault)
                with state.lock:
                    state.seen.append(Seen(time.monotonic(), status, form))
                code = 20429 if status == 429 else 20500
                self._answer(
                    status,
                    {"code": code, "message": "stand-in fault", "status": status},
                    {"Retry-After": "1"} if status == 429 else {},
                )
                return
            created = state.store.create(form)
            with state.lock:
                state.seen.append(Seen(time.monotonic(), 201, form))
            self._answer(201, created, {})

    return Handler


class Server:
    """``with Server(state) as base_url:`` serves the stand-in on 127.0.0.1."""

    def __init__(self, state: StandIn) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
