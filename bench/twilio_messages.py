"""The Message resources a Twilio stand-in has created, and its answer to Twilio's list request.

Shared by the loopback stand-ins (the dispatch benchmark's, the reliability tests', the
in-process one of the SMS tests) so that each answers ``GET …/Messages.json`` as Twilio's
OpenAPI description says (``ListMessageResponse``; ``To``, ``From``, ``DateSent``,
``DateSent<``, ``DateSent>``, ``PageSize``, ``Page`` filters; RFC 2822 times; newest first).
``tests/contract/test_twilio_contract.py`` checks this answer and the request against the spec.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode


def rfc2822(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


@dataclass
class MessageStore:
    """Every message accepted, as Twilio's Message resource."""

    account_sid: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, form: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        sid = "SM" + uuid.uuid4().hex
        service = form.get("MessagingServiceSid")
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": rfc2822(now),
            # The stand-in "sends" at once: Twilio sets date_sent when the carrier takes it.
            "date_sent": rfc2822(now),
            "date_updated": rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            # With a messaging service Twilio picks the number; this one is fictional.
            "from": form.get("From") or "+12025550199",
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "_at": now,
        }
        with self.lock:
            self.messages.append(message)
        return public(message)

    def list_page(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        """The ``ListMessageResponse`` for ``query`` (one page)."""
        with self.lock:
            found = [m for m in self.messages if _matches(m, query)]
        found.sort(key=lambda m: m["_at"], reverse=True)
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        page = max(0, int(query.get("Page") or 0))
        chunk = found[page * size : (page + 1) * size]
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(n: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': n})}"

        more = (page + 1) * size < len(found)
        return {
            "messages": [public(m) for m in chunk],
            "end": page * size + max(0, len(chunk) - 1),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": uri(page),
        }


def public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _moment(raw: str) -> datetime | date:
    """``DateSent`` values: ``YYYY-MM-DD`` or an ISO 8601 time (what twilio-python sends)."""
    if len(raw) == 10:
        return date.fromisoformat(raw)
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _on_or_after(at: datetime, bound: datetime | date) -> bool:
    return at.date() >= bound if not isinstance(bound, datetime) else at >= bound


def _on_or_before(at: datetime, bound: datetime | date) -> bool:
    return at.date() <= bound if not isinstance(bound, datetime) else at <= bound


def _matches(message: dict[str, Any], query: dict[str, str]) -> bool:
    at: datetime = message["_at"]
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    if "DateSent>" in query and not _on_or_after(at, _moment(query["DateSent>"])):
        return False
    if "DateSent<" in query and not _on_or_before(at, _moment(query["DateSent<"])):
        return False
    if "DateSent" in query:
        bound = _moment(query["DateSent"])
        if not (_on_or_after(at, bound) and _on_or_before(at, bound)):
            return False
    return True
