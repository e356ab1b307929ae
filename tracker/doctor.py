"""``amparo doctor`` and ``/admin/health``: is this deployment able to alert anyone?

Each check returns ``Result``s (ok / warn / fail, with the fix an operator can act on). The
checks only read: the database, ``BASE_URL/healthz`` and Twilio's REST API (accounts,
numbers, Messaging Services, recent messages' error codes). No phone number, name or
message body is ever put in a result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import ip_address
from urllib.parse import urlsplit

import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from notifications import channels
from tracker import canary
from tracker.db import make_engine
from tracker.settings import Settings
from tracker.vocab import NotificationStatus

# A due SMS older than this means the worker is not sending.
OUTBOX_WARN_AFTER = timedelta(minutes=5)
OUTBOX_FAIL_AFTER = timedelta(minutes=15)
# How far back Twilio's message log is read for error codes.
RECENT_ERRORS_WINDOW = timedelta(days=7)
RECENT_MESSAGES_LIMIT = 500

# Error codes an operator must understand, with what to do. 30034 blocks all traffic.
TWILIO_ERRORS: dict[str, tuple[str, str]] = {
    "30034": (
        "message from an unregistered US 10DLC number (A2P 10DLC)",
        "register a Brand and Campaign for the number (or use a verified toll-free number); "
        "until then US carriers block every message",
    ),
    "30007": (
        "carrier filtering (flagged as spam or unregistered traffic)",
        "finish A2P 10DLC or toll-free verification; keep texts short and expected",
    ),
    "21610": (
        "recipient replied STOP (opted out)",
        "nothing to fix: they will get no SMS until they reply START",
    ),
}


class Status(StrEnum):
    ok = "ok"
    warn = "warn"
    fail = "fail"


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.value.upper():4} {self.name}: {self.detail}"
        if self.fix and self.status is not Status.ok:
            text += f" — fix: {self.fix}"
        return text


def _ok(name: str, detail: str) -> Result:
    return Result(name, Status.ok, detail)


def _warn(name: str, detail: str, fix: str) -> Result:
    return Result(name, Status.warn, detail, fix)


def _fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, Status.fail, detail, fix)


# --- database, keys, clock, outbox -------------------------------------------------------


def _head_revision() -> str | None:
    from tracker.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def check_schema(connection: Connection) -> Result:
    current = MigrationContext.configure(connection).get_current_revision()
    head = _head_revision()
    if current == head:
        return _ok("database", f"reachable, schema at the latest revision ({head})")
    return _fail(
        "database",
        f"schema at {current or 'nothing'}, the code expects {head}",
        "run `amparo migrate`, then restart web, clock and worker",
    )


def check_keys(connection: Connection, settings: Settings) -> Result:
    state = canary.state(connection, settings.data_keys)
    count = len(settings.data_keys)
    if state is canary.CanaryState.ok:
        return _ok("data keys", f"{count} key(s); the key canary decrypts")
    if state is canary.CanaryState.wrong_keys:
        return _fail(
            "data keys",
            "DATA_KEYS cannot decrypt the key canary: every name, A-number and phone stored "
            "here is unreadable with these keys",
            "set DATA_KEYS (and DATA_INDEX_KEY) to the keys this database was written with, "
            "from your offline escrow copy; never generate new ones over existing data",
        )
    if canary.sample_opens(connection, settings.data_keys) is False:
        return _fail(
            "data keys",
            "DATA_KEYS cannot decrypt the data stored here (and there is no key canary yet)",
            "set DATA_KEYS (and DATA_INDEX_KEY) to the keys this database was written with, "
            "from your offline escrow copy; then run `amparo migrate` to write the canary",
        )
    return _warn(
        "data keys",
        f"no key canary yet ({state.value}), so the keys cannot be checked",
        "run `amparo migrate` (it writes the canary with the current keys)",
    )


def check_clock(session: Session, now: datetime) -> Result:
    from tracker.web import health

    clock = health.clock_health(session, now)
    if clock.state in (health.OK, health.STARTING):
        return _ok("clock", "every sweep ran recently")
    if clock.state == health.STALE:
        late = ", ".join(clock.stale_jobs) or "the clock"
        age = f" (oldest heartbeat {now - clock.last_beat} ago)" if clock.last_beat else ""
        return _fail(
            "clock",
            f"stale: {late} has not run for three intervals{age}; deadline alerts are not "
            "being raised",
            "restart the clock process: `systemctl restart amparo-clock` (or `amparo clock`); "
            "check its log with `journalctl -u amparo-clock`",
        )
    return _fail(
        "clock",
        "no clock has ever run against this database; deadline alerts are not being raised",
        "start the clock: `systemctl enable --now amparo-clock` (or `amparo clock`)",
    )


def check_outbox(session: Session, now: datetime) -> Result:
    from tracker.models import Notification

    oldest, count = session.execute(
        select(func.min(Notification.next_attempt_at), func.count()).where(
            Notification.status == NotificationStatus.queued,
            Notification.next_attempt_at <= now,
        )
    ).one()
    if oldest is None:
        return _ok("outbox", "no SMS waiting to be sent")
    age = now - oldest
    minutes = int(age.total_seconds() // 60)
    detail = f"{count} SMS due, the oldest waiting {minutes} min"
    fix = (
        "restart the worker: `systemctl restart amparo-worker` (or `amparo worker`); "
        "check `journalctl -u amparo-worker` for Twilio errors"
    )
    if age >= OUTBOX_FAIL_AFTER:
        return _fail("outbox", f"stuck: {detail}", fix)
    if age >= OUTBOX_WARN_AFTER:
        return _warn("outbox", f"slow: {detail}", fix)
    return _ok("outbox", detail)


def database_checks(settings: Settings, now: datetime) -> list[Result]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            results = [check_schema(connection), check_keys(connection, settings)]
            if results[0].status is Status.fail:
                return results
            with Session(bind=connection) as session:
                results += [check_clock(session, now), check_outbox(session, now)]
            return results
    except Exception as exc:  # any failure to reach or read the database is this check's fail
        return [
            _fail(
                "database",
                f"cannot use the database ({type(exc).__name__})",
                "check DATABASE_URL and that PostgreSQL is running "
                "(`systemctl status postgresql`); then run `amparo migrate`",
            )
        ]
    finally:
        engine.dispose()


# --- BASE_URL -----------------------------------------------------------------------------


def _is_local(host: str) -> bool:
    if host in ("localhost", "testserver"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(settings: Settings, http: httpx.Client) -> list[Result]:
    parts = urlsplit(settings.base_url)
    host = parts.hostname or ""
    results: list[Result] = []
    if parts.scheme == "https":
        results.append(_ok("base url", f"{settings.base_url} is https"))
    elif _is_local(host):
        results.append(
            _warn(
                "base url",
                f"{settings.base_url} is a local address: Twilio cannot reach it",
                "set BASE_URL to the public https address before going live",
            )
        )
    else:
        results.append(
            _fail(
                "base url",
                f"{settings.base_url} is not https: sign-ins and case data would cross the "
                "network in clear",
                "put the app behind the TLS proxy (deploy/Caddyfile) and set "
                "BASE_URL=https://your.domain",
            )
        )
    url = f"{settings.base_url}/healthz"
    try:
        response = http.get(url, timeout=10)
    except httpx.HTTPError as exc:
        results.append(
            _fail(
                "healthz",
                f"{url} did not answer ({type(exc).__name__})",
                "start the web process (`systemctl status amparo-web`), check the proxy and "
                "DNS, and that BASE_URL is this deployment's public address",
            )
        )
        return results
    status = _json_field(response, "status")
    if response.status_code == 200 and status == "ok":
        results.append(_ok("healthz", f"{url} answers ok"))
    else:
        results.append(
            _fail(
                "healthz",
                f"{url} answered HTTP {response.status_code} ({status or 'not Amparo'})",
                "see the clock and database lines above; if BASE_URL points at another "
                "server, fix BASE_URL or the DNS record",
            )
        )
    return results


def _json_field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return str(value) if value is not None else None


# --- Twilio -------------------------------------------------------------------------------


def inbound_sms_url(settings: Settings) -> str:
    """Where Twilio must POST incoming SMS."""
    from tracker.web import webhooks

    return settings.base_url + webhooks.SMS_PATH


def twilio_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> Client:
    from notifications.twilio import HttpxHttpClient

    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=HttpxHttpClient(timeout=15, transport=transport),
    )
    client.api.base_url = settings.twilio_api_base_url
    client.messaging.base_url = settings.twilio_messaging_api_base_url
    return client


def _twilio_trouble(name: str, exc: Exception, what: str) -> Result:
    if isinstance(exc, TwilioRestException):
        if exc.status in (401, 403):
            return _fail(
                name,
                f"Twilio refused the credentials (HTTP {exc.status}, error {exc.code})",
                "copy the Account SID and Auth Token from the Twilio Console into "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, then restart web and worker",
            )
        if exc.status == 404:
            return _fail(
                name,
                f"{what} was not found on this Twilio account",
                f"check {what} in the Twilio Console and the matching setting",
            )
        return _fail(name, f"Twilio answered HTTP {exc.status} (error {exc.code})", "retry later")
    return _fail(
        name,
        f"cannot reach Twilio ({type(exc).__name__})",
        "check the server's outbound network and TWILIO_API_BASE_URL",
    )


def _webhook_result(name: str, actual: str | None, expected: str, where: str) -> Result:
    if (actual or "").rstrip("/") == expected:
        return _ok(name, f"incoming SMS go to {expected}")
    return _fail(
        name,
        f"incoming SMS go to {actual or 'nowhere'}, not to this deployment: no STATUS, STOP "
        "or acknowledgement replies reach Amparo",
        f"in the Twilio Console, {where}, set 'A message comes in' to {expected} (HTTP POST)",
    )


def check_number(client: Client, settings: Settings) -> list[Result]:
    number = settings.twilio_from_number
    try:
        found = client.incoming_phone_numbers.list(phone_number=number, limit=20)
    except Exception as exc:  # every failure of this call is reported, never raised
        return [_twilio_trouble("sender", exc, "TWILIO_FROM_NUMBER")]
    match = next((n for n in found if n.phone_number == number), None)
    if match is None:
        return [
            _fail(
                "sender",
                "TWILIO_FROM_NUMBER is not a number on this Twilio account",
                "buy or port the number into this account, or correct TWILIO_FROM_NUMBER",
            )
        ]
    capabilities = match.capabilities or {}
    results = []
    if capabilities.get("sms") is False:
        results.append(_fail("sender", "the number cannot send SMS", "use an SMS-capable number"))
    else:
        results.append(_ok("sender", "the number is on this account and can send SMS"))
    results.append(
        _webhook_result(
            "inbound webhook",
            match.sms_url,
            inbound_sms_url(settings),
            "Phone Numbers > Manage > Active numbers > (the number) > Messaging",
        )
    )
    return results


def check_service(client: Client, settings: Settings) -> list[Result]:
    sid = settings.twilio_messaging_service_sid
    try:
        service = client.messaging.v1.services(sid).fetch()
        senders = service.phone_numbers.list(limit=20)
    except Exception as exc:  # every failure of these calls is reported, never raised
        return [_twilio_trouble("sender", exc, "TWILIO_MESSAGING_SERVICE_SID")]
    results = []
    if senders:
        results.append(_ok("sender", f"Messaging Service has {len(senders)} number(s)"))
    else:
        results.append(
            _fail(
                "sender",
                "the Messaging Service has no phone number in its sender pool: it cannot send",
                "Messaging > Services > (the service) > Sender Pool: add your number",
            )
        )
    where = "Messaging > Services > (the service) > Integration"
    if service.use_inbound_webhook_on_number:
        results.append(
            _warn(
                "inbound webhook",
                "the Messaging Service defers incoming SMS to each number's own webhook",
                f"in {where}, choose 'Send a webhook' with {inbound_sms_url(settings)}",
            )
        )
    else:
        results.append(
            _webhook_result(
                "inbound webhook", service.inbound_request_url, inbound_sms_url(settings), where
            )
        )
    return results


def check_recent_errors(client: Client, now: datetime) -> Result:
    try:
        messages = client.messages.list(
            date_sent_after=now - RECENT_ERRORS_WINDOW, limit=RECENT_MESSAGES_LIMIT
        )
    except Exception as exc:  # every failure of this call is reported, never raised
        return _twilio_trouble("recent errors", exc, "the message log")
    codes = Counter(str(m.error_code) for m in messages if m.error_code)
    if not codes:
        return _ok("recent errors", f"none in the last {len(messages)} message(s)")
    parts = []
    for code, count in codes.most_common():
        meaning = TWILIO_ERRORS.get(code, ("see twilio.com/docs/api/errors/" + code, ""))[0]
        parts.append(f"{count}× {code} {meaning}")
    fixes = [TWILIO_ERRORS[c][1] for c in codes if c in TWILIO_ERRORS and c != "21610"]
    detail = f"in the last {len(messages)} message(s): " + "; ".join(parts)
    if "30034" in codes:
        return _fail("recent errors", detail, "; ".join(fixes))
    if set(codes) - {"21610"}:
        return _warn("recent errors", detail, "; ".join(fixes) or "look the codes up")
    return _ok("recent errors", detail)


def twilio_checks(
    settings: Settings, now: datetime, transport: httpx.BaseTransport | None = None
) -> list[Result]:
    if settings.sms_transport != "twilio":
        return [
            _warn(
                "twilio",
                f"SMS_TRANSPORT={settings.sms_transport}: no SMS leaves this server",
                "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and a sender (docs/deploy.md)",
            )
        ]
    client = twilio_client(settings, transport)
    try:
        try:
            account = client.api.v2010.accounts(settings.twilio_account_sid).fetch()
        except Exception as exc:  # every failure of this call is reported, never raised
            return [_twilio_trouble("twilio credentials", exc, "TWILIO_ACCOUNT_SID")]
        if account.status != "active":
            return [
                _fail(
                    "twilio credentials",
                    f"the Twilio account is {account.status}",
                    "reactivate the account in the Twilio Console (billing)",
                )
            ]
        results = [_ok("twilio credentials", "accepted; the account is active")]
        if settings.twilio_messaging_service_sid:
            results += check_service(client, settings)
        elif settings.twilio_from_number:
            results += check_number(client, settings)
        else:
            results.append(
                _fail(
                    "sender",
                    "no sender configured",
                    "set TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER",
                )
            )
        results.append(check_recent_errors(client, now))
        return results
    finally:
        client.http_client.close()


# --- all ---------------------------------------------------------------------------------


def check_whatsapp_templates(settings: Settings) -> Result:
    """A broken ``WHATSAPP_TEMPLATES`` is ignored at send time (WhatsApp falls back to SMS):
    say so here rather than let it pass unnoticed."""
    problem = channels.check_templates(settings.whatsapp_templates)
    if problem:
        return _fail("whatsapp templates", problem, "fix WHATSAPP_TEMPLATES (README, WhatsApp)")
    count = len(channels.templates(settings.whatsapp_templates))
    return _ok("whatsapp templates", f"{count} kind × language templates")


def run_checks(
    settings: Settings, now: datetime, transport: httpx.BaseTransport | None = None
) -> list[Result]:
    """Every check, in the order an operator should fix them. ``transport`` is the seam for
    the tests' loopback stand-ins (BASE_URL and Twilio)."""
    results = database_checks(settings, now)
    with httpx.Client(transport=transport, follow_redirects=False) as http:
        results += check_base_url(settings, http)
    results += twilio_checks(settings, now, transport)
    if settings.whatsapp_templates:
        results.append(check_whatsapp_templates(settings))
    return results


def failed(results: list[Result]) -> bool:
    return any(r.status is Status.fail for r in results)
