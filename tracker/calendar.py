"""Attorney calendar feeds: a secret ICS URL per attorney with their clients' deadlines.

The token in the URL is ``HMAC(SECRET_KEY, user id, generation)``: the database keeps only its
sha256 (``User.calendar_token_hash``), so a stolen database opens no feed, yet the app can show
the same URL again (``GET /api/me/calendar``) without storing it. The generation is the number
of rotations recorded in the audit log; rotating moves to the next one, so the old URL stops
answering at once.

Every time in the feed comes from ``tracker.rules`` (the flag's ``due_at``), written in the
time zone of the facility (then the field office, then the organisation), with a VTIMEZONE.
Event text names a person by first name and family-name initial only, never an A-number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tracker import db, rules
from tracker.facts import case_facts, policy_for
from tracker.models import AuditEntry, Case, User
from tracker.presentation import REQUEST_KIND_SHORT, STAY_FORUM_LABELS, zone_of
from tracker.services import Actor, audit
from tracker.settings import Settings
from tracker.vocab import FlagKind

AUDIT_ENTITY = "calendar_feed"
# Evaluating a rule "at the end of time" yields the instant its flag is (or was) due.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
# Past events stay in the feed this long, so that a missed deadline is still visible.
KEEP_PAST = timedelta(days=30)
EVENT_LENGTH = timedelta(minutes=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _generation(session: Session, user: User) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.entity == AUDIT_ENTITY,
            AuditEntry.entity_id == str(user.id),
            AuditEntry.action == "rotate",
        )
    )
    return int(count or 0)


def _derive(settings: Settings, user_id: uuid.UUID, generation: int) -> str:
    key = settings.secret_key.encode()
    mac = hmac.new(key, f"calendar-feed\x00{user_id}\x00{generation}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def feed_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/calendar/{token}.ics"


def current_url(session: Session, actor: Actor, user: User, now: datetime) -> str:
    """The user's feed URL, issuing it on first request."""
    token = _derive(db.settings_of(session), user.id, _generation(session, user))
    digest = token_hash(token)
    if user.calendar_token_hash != digest:
        user.calendar_token_hash = digest
        audit.record(
            session,
            actor,
            "create",
            AUDIT_ENTITY,
            user.id,
            organization_id=user.organization_id,
            now=now,
        )
        session.flush()
    return feed_url(db.settings_of(session), token)


def rotate(session: Session, actor: Actor, user: User, now: datetime) -> str:
    """Revoke the user's feed URL and issue the next one."""
    generation = _generation(session, user) + 1
    audit.record(
        session,
        actor,
        "rotate",
        AUDIT_ENTITY,
        user.id,
        {"generation": [generation - 1, generation]},
        organization_id=user.organization_id,
        now=now,
    )
    token = _derive(db.settings_of(session), user.id, generation)
    user.calendar_token_hash = token_hash(token)
    session.flush()
    return feed_url(db.settings_of(session), token)


def user_for_token(session: Session, token: str) -> User | None:
    if not token or len(token) > 100:
        return None
    user = session.scalar(select(User).where(User.calendar_token_hash == token_hash(token)))
    if user is None or not user.active:
        return None
    return user


def short_name(given_name: str, family_name: str | None) -> str:
    """``Ana María`` + ``Pérez López`` → ``Ana P.``: enough for counsel, little for anyone else."""
    first = given_name.split()[0] if given_name.strip() else "Client"
    initial = family_name.strip()[:1].upper() if family_name and family_name.strip() else ""
    return f"{first} {initial}." if initial else first


@dataclass(frozen=True)
class Deadline:
    uid: str
    kind: FlagKind
    due_at: datetime
    summary: str
    alarms_before: tuple[timedelta, ...]
    case_id: uuid.UUID
    time_zone: str
    location: str | None


def deadlines(cases: Iterable[Case], now: datetime, default_zone: str) -> list[Deadline]:
    """The dated deadlines of open cases, from the rules, soonest first."""
    out: list[Deadline] = []
    for case in cases:
        if case.closed_at is None:
            out.extend(_case_deadlines(case, now, default_zone))
    return sorted(out, key=lambda d: (d.due_at, d.uid))


def _case_deadlines(case: Case, now: datetime, default_zone: str) -> list[Deadline]:
    out: list[Deadline] = []
    policy = policy_for(case.organization)
    ladder = tuple(timedelta(hours=h) for h in policy.ladder_hours)
    facts = case_facts(case)
    who = short_name(case.given_name, case.family_name)
    # The zone rule of pages and SMS, with the subscriber's own zone standing in for the
    # organisation's: ``default_zone`` is the user's zone, else the organisation's.
    zone = zone_of(default_zone, facility=case.facility, field_office=case.field_office)
    location = case.facility.name if case.facility is not None else None
    office = f" (ICE {case.field_office.code})" if case.field_office is not None else ""

    def add(flag: rules.Flag | None, summary: str, alarms: tuple[timedelta, ...]) -> None:
        if flag is None or flag.due_at < now - KEEP_PAST:
            return
        uid = f"{flag.kind.value}-{flag.subject_id}@amparo"
        out.append(Deadline(uid, flag.kind, flag.due_at, summary, alarms, case.id, zone, location))

    if facts.removal_scheduled_at is not None:
        # Asked at the removal instant: a stay granted and unexpired by then blocks it.
        add(
            rules.removal_flag(facts, facts.removal_scheduled_at, policy),
            f"Removal scheduled: {who}{office}",
            ladder,
        )
    for r in facts.requests:
        label = REQUEST_KIND_SHORT[r.kind]
        doc = rules.documentation_flag(case.id, r, _END_OF_TIME)
        if doc is not None:
            # The same instant, named for what counsel must do before it.
            doc = rules.Flag(doc.due_at, FlagKind.documentation_due, case.id, r.id)
        add(
            doc,
            f"48 h documentation due: {who}, {label} decision{office}",
            (timedelta(hours=12), timedelta(0)),
        )
        add(
            rules.unanswered_flag(case.id, r, _END_OF_TIME, policy),
            f"Unanswered if no decision: {who}, {label} request{office}",
            (timedelta(0),),
        )
        # A temporary (administrative) stay ends when its forum rules or at its date, whichever
        # first: counsel must see which one lapses, not just "a stay".
        stay = "Temporary stay" if r.temporary else "Stay"
        add(
            rules.stay_expiry_flag(case.id, r, _END_OF_TIME, policy),
            f"{stay} expires ({STAY_FORUM_LABELS[r.forum]}): {who}{office}",
            ladder,
        )
    return out


def _alarm(before: timedelta, summary: str) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", -before)
    return alarm


def render(items: Iterable[Deadline], now: datetime, case_url: Callable[[uuid.UUID], str]) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Amparo//Deadline feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", "Amparo deadlines")
    # Clients re-read the feed this often (Apple and Google honour one or the other).
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT15M")
    for item in items:
        start = item.due_at.astimezone(ZoneInfo(item.time_zone))
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", start)
        event.add("dtend", start + EVENT_LENGTH)
        event.add("summary", item.summary)
        event.add("description", f"{item.summary}\n{case_url(item.case_id)}")
        event.add("url", case_url(item.case_id))
        event.add("categories", [item.kind.value])
        if item.location:
            event.add("location", item.location)
        event.add("transp", "TRANSPARENT")
        for before in item.alarms_before:
            event.add_component(_alarm(before, item.summary))
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def feed_for(session: Session, user: User, now: datetime) -> bytes:
    """The ICS feed of the attorney's open cases; the read is audited."""
    cases = list(
        session.scalars(
            select(Case)
            .where(
                Case.organization_id == user.organization_id,
                Case.attorney_id == user.id,
                Case.closed_at.is_(None),
            )
            .options(selectinload(Case.requests), selectinload(Case.contacts))
        )
    )
    items = deadlines(cases, now, user.time_zone or user.organization.time_zone)
    audit.record(
        session,
        Actor(
            label=user.email[:64],
            organization_id=user.organization_id,
            user_id=user.id,
            role=user.role,
        ),
        "read",
        AUDIT_ENTITY,
        user.id,
        {"cases": [None, len(cases)], "events": [None, len(items)]},
        organization_id=user.organization_id,
        now=now,
    )
    base = db.settings_of(session).base_url
    return render(items, now, lambda case_id: f"{base}/cases/{case_id}")
