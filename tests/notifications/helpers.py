"""A small world for the SMS tests, and an in-process Twilio stand-in (httpx.MockTransport)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import httpx
from sqlalchemy.orm import Session

from bench.twilio_messages import MessageStore
from notifications.dispatcher import Dispatcher
from notifications.twilio import TwilioTransport
from tests import factories
from tests.world import NOON_NEW_YORK
from tracker import db
from tracker.models import Alert, Case, Contact, Organization, User
from tracker.schemas import ContactCreate, FacilityCreate
from tracker.services import Actor
from tracker.services import contacts as contact_service
from tracker.services.delivery import REACTIONS
from tracker.settings import Settings, get_settings
from tracker.vocab import Role

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
MESSAGING_SERVICE_SID = "MG" + "0" * 31 + "2"
NOON = NOON_NEW_YORK
_phones = itertools.count(10)


def next_phone() -> str:
    return f"+120255501{next(_phones) % 100:02d}"


@dataclass
class World:
    org: Organization
    attorney: User
    actor: Actor
    case: Case
    family: Contact


def world(
    session: Session,
    now: datetime = NOON,
    *,
    language: str = "es",
    consent: bool = True,
    time_zone: str | None = None,
    channel: str | None = None,
    consented: list[str] | None = None,
) -> World:
    org = factories.org(session, now)
    attorney = factories.user(session, org, now, role=Role.attorney, phone=next_phone())
    actor = factories.actor_for(attorney)
    fields: dict[str, object] = {"given_name": "Ana Sofía", "family_name": "Pérez"}
    if time_zone:
        from tracker.services import facilities

        # Facilities are reference data: the test's setup adds one as the operator would.
        facility = facilities.create_facility(
            session,
            Actor.system("test"),
            FacilityCreate(name="Test Facility", time_zone=time_zone),
            now,
        )
        fields["facility_id"] = facility.id
    case = factories.case(session, actor, now, **fields)
    family = contact_service.add_contact(
        session,
        actor,
        case,
        ContactCreate(
            role="family",
            phone=next_phone(),
            language=language,
            sms_consent=consent if consented is None else "sms" in consented,
            channel=channel,  # type: ignore[arg-type]
            consented_channels=consented,  # type: ignore[arg-type]
        ),
        now,
    )
    session.flush()
    return World(org, attorney, actor, case, family)


@dataclass
class StandIn:
    """Answers ``POST …/Messages.json`` like Twilio and records every form posted."""

    responses: list[tuple[int, dict[str, object], dict[str, str]]] = field(default_factory=list)
    forms: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    store: MessageStore = field(default_factory=lambda: MessageStore(ACCOUNT_SID))
    lists: list[dict[str, str]] = field(default_factory=list)
    clock: Callable[[], datetime] | None = None  # the messages' date_created (default: now)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the message list (a crash check before a re-send)
            query = dict(request.url.params)
            with self.lock:
                self.lists.append(query)
            page = self.store.list_page(request.url.path, query)
            return httpx.Response(200, content=json.dumps(page))
        form = {
            k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()
        }
        with self.lock:
            self.forms.append(form)
            self.paths.append(request.url.path)
            status, payload, headers = self.responses.pop(0) if self.responses else (201, {}, {})
        if status == 201 and request.url.path.endswith("/Calls.json"):
            payload = {**call_resource(form), **payload}
        elif status == 201:
            created = self.store.create(form, self.clock() if self.clock else None)
            payload = {**created, **payload}
        return httpx.Response(status, content=json.dumps(payload), headers=headers)

    def fail_next(self, status: int, code: int | None, message: str = "", **headers: str) -> None:
        body: dict[str, object] = {"status": status, "message": message or f"error {code}"}
        if code is not None:
            body["code"] = code
        self.responses.append((status, body, headers))


def call_resource(form: dict[str, str]) -> dict[str, object]:
    """What ``POST …/Calls.json`` answers (the fields the client reads)."""
    sid = "CA" + uuid.uuid4().hex
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "to": form.get("To"),
        "from": form.get("From"),
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
    }


def twilio_transport(stand_in: StandIn, **channels: str) -> TwilioTransport:
    return TwilioTransport(
        ACCOUNT_SID,
        AUTH_TOKEN,
        api_base_url="http://127.0.0.1:9/twilio",
        public_base_url=get_settings().base_url,
        messaging_service_sid=MESSAGING_SERVICE_SID,
        http_transport=httpx.MockTransport(stand_in.handler),
        **channels,  # type: ignore[arg-type]
    )


class Clock:
    def __init__(self, start: datetime = NOON + timedelta(seconds=5)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings(**overrides: object) -> Settings:
    """The process settings (database, keys) with fast, small delivery knobs for tests."""
    base: dict[str, object] = {
        "worker_concurrency": 4,
        "worker_poll_seconds": 0.05,
        "sender_rate_per_second": 0.0,
        "sms_retry_base_seconds": 10.0,
        "sms_retry_max_seconds": 600.0,
        "sms_max_attempts": 3,
        "sms_lease_seconds": 60.0,
        "quiet_hours": "21:00-08:00",
    }
    base.update(overrides)
    return dataclasses.replace(get_settings(), **base)  # type: ignore[arg-type]


def dispatcher(
    transport: object | None = None,
    clock: Callable[[], datetime] | None = None,
    **cfg: object,
) -> Dispatcher:
    return Dispatcher(
        settings=settings(**cfg),
        reactions=REACTIONS,
        transport=transport,  # type: ignore[arg-type]
        session_factory=db.get_sessionmaker(),
        clock=clock or Clock(),
    )


def open_alert(session: Session, w: World, raised_at: datetime) -> Alert:
    """An open 24-hour removal alert on ``w``'s case."""
    alert = Alert(
        organization_id=w.org.id,
        case_id=w.case.id,
        kind="removal_imminent",
        rung=24,
        due_at=NOON + timedelta(hours=24),
        dedupe_key=f"test:{uuid.uuid4()}",
        raised_at=raised_at,
    )
    session.add(alert)
    session.flush()
    return alert
