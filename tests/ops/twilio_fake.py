"""A Twilio (and BASE_URL) stand-in for the doctor: in process (``httpx.MockTransport``) or on
loopback (``serve()``), with a configurable account, and every request recorded so that its
form can be checked against Twilio's OpenAPI description (``spec_violations``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.prism import twilio_spec

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
SERVICE_SID = "MG" + "0" * 31 + "2"
NUMBER = "+12025550100"
PUBLIC = "https://amparo.example.org"


@dataclass
class FakeTwilio:
    token: str = AUTH_TOKEN
    account_status: str = "active"
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    service: dict[str, Any] | None = None
    service_numbers: list[str] = field(default_factory=list)
    error_codes: list[int | None] = field(default_factory=list)
    healthz: tuple[int, dict[str, Any]] = (200, {"status": "ok", "database": "ok"})
    seen: list[httpx.Request] = field(default_factory=list)

    @classmethod
    def healthy(cls, base_url: str = PUBLIC, *, service: bool = False) -> FakeTwilio:
        fake = cls()
        inbound = f"{base_url}/webhooks/twilio/sms"
        fake.numbers[NUMBER] = {
            "sid": "PN" + "0" * 31 + "3",
            "phone_number": NUMBER,
            "sms_url": inbound,
            "sms_method": "POST",
            "capabilities": {"sms": True, "voice": True, "mms": False, "fax": False},
        }
        if service:
            fake.service = {
                "sid": SERVICE_SID,
                "account_sid": ACCOUNT_SID,
                "inbound_request_url": inbound,
                "inbound_method": "POST",
                "use_inbound_webhook_on_number": False,
            }
            fake.service_numbers = [NUMBER]
        fake.error_codes = [None, None, 21610]
        return fake

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _authorised(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{self.token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == "/healthz":
            return httpx.Response(self.healthz[0], json=self.healthz[1])
        if not self._authorised(request):
            return httpx.Response(
                401,
                json={"code": 20003, "message": "Authenticate", "status": 401},
            )
        query = dict(request.url.params)
        if match := re.fullmatch(r"/2010-04-01/Accounts/(\w+)\.json", path):
            return httpx.Response(200, json={"sid": match.group(1), "status": self.account_status})
        if path.endswith("/IncomingPhoneNumbers.json"):
            found = [n for k, n in self.numbers.items() if k == query.get("PhoneNumber")]
            return httpx.Response(200, json={"incoming_phone_numbers": found, **_page()})
        if path.endswith("/Messages.json"):
            messages = [
                {"sid": f"SM{i:032x}", "status": "failed" if c else "delivered", "error_code": c}
                for i, c in enumerate(self.error_codes)
            ]
            return httpx.Response(200, json={"messages": messages, **_page()})
        if match := re.fullmatch(r"/v1/Services/(\w+)(/PhoneNumbers)?", path):
            if self.service is None or match.group(1) != self.service["sid"]:
                return httpx.Response(
                    404, json={"code": 20404, "message": "not found", "status": 404}
                )
            if match.group(2):
                body = {
                    "phone_numbers": [{"phone_number": n} for n in self.service_numbers],
                    "meta": {"key": "phone_numbers", "next_page_url": None},
                }
                return httpx.Response(200, json=body)
            return httpx.Response(200, json=self.service)
        return httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404})


def _page() -> dict[str, Any]:
    return {"next_page_uri": None, "page": 0, "page_size": 50}


@contextmanager
def serve(fake: FakeTwilio) -> Iterator[str]:
    """``fake`` on a loopback port (for the CLI, which makes its own HTTP clients)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            request = httpx.Request(
                "GET", f"http://{self.headers['Host']}{self.path}", headers=dict(self.headers)
            )
            response = fake.handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- checking the forms against Twilio's own description ----------------------------------


def _template_regex(template: str, parameters: dict[str, dict[str, Any]]) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name in re.findall(r"\{(\w+)\}", template):
        schema = parameters.get(name, {}).get("schema", {})
        inner = schema.get("pattern", "^[^/]+$").lstrip("^").rstrip("$")
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?:{inner})")
    return re.compile(pattern)


def spec_violations(request: httpx.Request, spec: dict[str, Any]) -> list[str]:
    """Why ``request`` is not an operation of ``spec`` (empty when it is)."""
    path = request.url.path
    method = request.method.lower()
    for template, item in spec["paths"].items():
        operation = item.get(method)
        if operation is None:
            continue
        declared = {p["name"]: p for p in operation.get("parameters", [])}
        if not _template_regex(template, declared).fullmatch(path):
            continue
        query_names = {n for n, p in declared.items() if p["in"] == "query"}
        problems = []
        for name, _value in parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True):
            if name not in query_names:
                problems.append(f"{template}: unknown query parameter {name}")
        return problems
    return [f"no {method.upper()} operation for {path}"]


def load_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(twilio_spec(name).read_text())
    return spec
