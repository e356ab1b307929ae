"""What a reply to our number does: STOP/START/HELP, STATUS from families, OK/ACK from counsel.

Every inbound message belongs to exactly one organisation, never fanned out: the one whose
own sender (``Organization.messaging_service_sid`` / ``sms_from_number``) it was sent to,
else, on the shared sender, the one that most recently texted that phone, else the one with
the newest contact or user for that phone. Everything it does (STATUS, OK, free text, HELP)
is that organisation's only; STOP/START alone reach further (see ``_stop_scope``).

The sender is known only by the blind index of their number. Unknown numbers learn nothing
about any case; families learn about their own case(s) only, first name only. The words
themselves are read by ``notifications.inbound``. Each provider message id is handled once
(``receive``): Twilio retries, and a captured request can be replayed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from notifications import messages
from notifications.inbound import (
    ACK_WORDS,
    HELP_WORDS,
    START_WORDS,
    STATUS_WORDS,
    STOP_WORDS,
    address,
    keyword,
)
from tracker import validators
from tracker.i18n import N_
from tracker.models import (
    Alert,
    Case,
    Contact,
    InboundMessage,
    Notification,
    Organization,
    User,
)
from tracker.services import Actor, conversations, timeline
from tracker.services import alerts as alert_service
from tracker.services import contacts as contact_service
from tracker.services import oncall as oncall_service
from tracker.vocab import ContactRole

log = logging.getLogger("amparo.sms.inbound")

MAX_FORWARDED = 480


@dataclass(frozen=True)
class Reply:
    action: str  # what was done: stop, start, help, status, ack, forwarded, unknown
    text: str
    organization_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Route:
    """Where an inbound message belongs. ``shared``: it came in on the global sender."""

    org: Organization | None
    shared: bool


def _normalise(raw: str) -> str | None:
    """The E.164 number of a Twilio address (SMS ``+E164`` or ``whatsapp:+E164``)."""
    try:
        return validators.phone(address(raw)[1])
    except ValueError:
        return None


def _shared_sender() -> ColumnElement[bool]:
    """Organisations that send from the global TWILIO_* sender."""
    return and_(
        Organization.sms_from_number.is_(None), Organization.messaging_service_sid.is_(None)
    )


def route(
    session: Session, phone: str | None, to_raw: str = "", messaging_service_sid: str = ""
) -> Route:
    """The one organisation an inbound message from ``phone`` belongs to (or none)."""
    if messaging_service_sid:
        org = session.scalar(
            select(Organization).where(Organization.messaging_service_sid == messaging_service_sid)
        )
        if org is not None:
            return Route(org, shared=False)
    to = _normalise(to_raw) if to_raw else None
    if to:
        org = session.scalar(select(Organization).where(Organization.sms_from_number == to))
        if org is not None:
            return Route(org, shared=False)
    if phone is None:
        return Route(None, shared=True)
    digest = validators.phone_hash(phone)
    # A reply answers the last text that reached the phone from this sender.
    texted = session.scalar(
        select(Notification.organization_id)
        .join(Organization, Organization.id == Notification.organization_id)
        .where(
            Notification.to_phone_hash == digest,
            Notification.sent_at.is_not(None),
            _shared_sender(),
        )
        .order_by(Notification.created_at.desc())
        .limit(1)
    )
    if texted is None:
        # Nothing sent since migration 0006 (older rows may carry no ``to_phone_hash``):
        # the organisation that most recently added this number, as a contact or a user.
        candidates = [
            *session.execute(
                select(Contact.created_at, Case.organization_id)
                .join(Case, Case.id == Contact.case_id)
                .join(Organization, Organization.id == Case.organization_id)
                .where(Contact.phone_hash == digest, _shared_sender())
                .order_by(Contact.created_at.desc())
                .limit(1)
            ).all(),
            *session.execute(
                select(User.created_at, User.organization_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(User.phone_hash == digest, User.active.is_(True), _shared_sender())
                .order_by(User.created_at.desc())
                .limit(1)
            ).all(),
        ]
        texted = max(candidates, key=lambda c: c[0])[1] if candidates else None
    return Route(session.get(Organization, texted) if texted else None, shared=True)


def _stop_scope(session: Session, where: Route) -> list[uuid.UUID]:
    """The organisations a STOP or START speaks for.

    STOP is a carrier-level instruction to the sender that received it: the carrier blocks
    that sender for that phone, whoever the text is from. On an organisation's own sender it
    is that organisation's alone; on the shared sender it is every organisation sending from
    it — their texts could not reach the phone anyway, and a STOP must stop all of them.
    """
    if not where.shared:
        return [where.org.id] if where.org is not None else []
    return list(session.scalars(select(Organization.id).where(_shared_sender())))


def handle(
    session: Session,
    from_raw: str,
    body: str,
    now: datetime,
    *,
    to: str = "",
    messaging_service_sid: str = "",
) -> Reply:
    """Act on one inbound SMS in the caller's transaction; returns what to answer."""
    phone = _normalise(from_raw)
    whole, first = keyword(body)
    where = route(session, phone, to, messaging_service_sid)
    org = where.org
    contacts = _contacts(session, phone, org)
    channel = address(from_raw)[0]
    if channel == "whatsapp":
        # The family wrote on WhatsApp: for 24 hours we may answer free-form there.
        for contact in contacts:
            contact.last_inbound_at = now
    user = _user(session, phone, org)
    language = contacts[0].language if contacts else (user.language if user else "en")
    org_id = org.id if org is not None else None

    if whole in STOP_WORDS:
        if phone:
            contact_service.opt_out(
                session, phone, now, source="sms", organization_ids=_stop_scope(session, where)
            )
        return Reply("stop", messages.translate(language, messages.TEMPLATES["stopped"]), org_id)
    # START undoes STOP over the same reach, whichever organisation the routing picked.
    if whole in START_WORDS and phone:
        contact_service.opt_in(session, phone, now, organization_ids=_stop_scope(session, where))
        return Reply("start", messages.translate(language, messages.TEMPLATES["started"]), org_id)
    # Someone on call who is no user (a shift's name and phone, or the organisation's on-call
    # number) can still take an escalation with OK; nothing else is theirs to do by SMS.
    on_call = (
        _on_call_name(session, org, phone, now)
        if first in ACK_WORDS and org is not None and phone and user is None
        else None
    )
    if org is None or (not contacts and user is None and on_call is None):
        return Reply("unknown", messages.translate("en", messages.TEMPLATES["help_unknown"]))
    assert phone is not None
    if first in HELP_WORDS:
        return Reply("help", _help(org, language), org_id)
    counsel = [c for c in contacts if c.role is ContactRole.counsel]
    if first in ACK_WORDS and (counsel or user is not None or on_call is not None):
        return _acknowledge(session, org, phone, counsel, user, language, now, on_call)
    family = [
        c
        for c in contacts
        if c.role is ContactRole.family and c.consented_channels and c.opted_out_at is None
    ]
    if first in STATUS_WORDS and family:
        return Reply("status", _status(family), org_id)
    if contacts:
        text = " ".join(body.split())[:MAX_FORWARDED]
        for contact in _addressed(session, org, phone, contacts):
            # The two-way inbox: the message itself, for the case team to read and answer.
            conversations.receive(session, contact, body, now, channel=channel)
            timeline.add(
                session,
                contact.case_id,
                "sms_received",
                N_("SMS from {role} contact: {text}").format(role=contact.role.value, text=text),
                contact_service.SMS_ACTOR,
                {"contact_id": str(contact.id)},
                now=now,
            )
        return Reply(
            "forwarded", messages.translate(language, messages.TEMPLATES["follow_up"]), org_id
        )
    return Reply("help", _help(org, language), org_id)


def receive(
    session: Session,
    *,
    sid: str,
    from_raw: str,
    body: str,
    now: datetime,
    to: str = "",
    messaging_service_sid: str = "",
) -> Reply | None:
    """``handle`` once per provider message id; None for a delivery of an id seen before.

    The id is claimed first, in the same transaction as the handling: a concurrent second
    delivery waits on the unique index and then finds it taken (PostgreSQL), or waits for
    the writer lock (SQLite); either way it changes nothing.
    """
    phone = _normalise(from_raw)
    table = cast(Table, InboundMessage.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    claimed = session.execute(
        stmt.values(
            provider_sid=sid[:64],
            received_at=now,
            from_hash=validators.phone_hash(phone) if phone else None,
            action="received",
        )
        .on_conflict_do_nothing(index_elements=["provider_sid"])
        .returning(table.c.id)
    ).scalar()
    if claimed is None:
        return None
    reply = handle(session, from_raw, body, now, to=to, messaging_service_sid=messaging_service_sid)
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == claimed)
        .values(organization_id=reply.organization_id, action=reply.action[:16]),
        execution_options={"synchronize_session": False},
    )
    return reply


@dataclass(frozen=True)
class Caller:
    """Who rings the voice status line, as far as it may know: a known contact's language and
    the status the STATUS keyword would text (None: unknown number, nothing to say)."""

    known: bool
    language: str
    status: str | None
    organization_id: uuid.UUID | None = None


def voice_caller(session: Session, from_raw: str, to: str = "") -> Caller:
    """The voice line's view of a caller, routed like an SMS (one organisation, never more).

    Family contacts who consented to some channel and did not opt out hear their cases'
    status, first name only; other contacts of that organisation hear that there is no case
    to report; unknown numbers are known to be nobody and learn nothing."""
    phone = _normalise(from_raw)
    where = route(session, phone, to)
    contacts = _contacts(session, phone, where.org)
    if where.org is None or not contacts:
        return Caller(False, "en", None)
    language = contacts[0].language
    family = [
        c
        for c in contacts
        if c.role is ContactRole.family and c.consented_channels and c.opted_out_at is None
    ]
    text = (
        _status(family)
        if family
        else messages.translate(language, messages.TEMPLATES["status_none"])
    )
    return Caller(True, (family or contacts)[0].language, text, where.org.id)


def _contacts(session: Session, phone: str | None, org: Organization | None) -> list[Contact]:
    if phone is None or org is None:
        return []
    return contact_service.contacts_for_phone(session, phone, [org.id])


def _addressed(
    session: Session, org: Organization, phone: str, contacts: Sequence[Contact]
) -> list[Contact]:
    """Which of the organisation's contacts with this number a free-text reply is about.

    On several of the organisation's cases: the case of the last text that reached the phone
    (the reply most likely answers it); when none of them was texted, every one of them, so
    that no case team misses it — all are the same organisation's, so nothing leaks.
    """
    cases = {c.case_id for c in contacts}
    if len(cases) > 1:
        last_case = session.scalar(
            select(Notification.case_id)
            .where(
                Notification.organization_id == org.id,
                Notification.to_phone_hash == validators.phone_hash(phone),
                Notification.case_id.in_(cases),
                Notification.sent_at.is_not(None),
            )
            .order_by(Notification.created_at.desc())
            .limit(1)
        )
        if last_case is not None:
            return [c for c in contacts if c.case_id == last_case]
    return list(contacts)


def _user(session: Session, phone: str | None, org: Organization | None) -> User | None:
    if phone is None or org is None:
        return None
    return session.scalars(
        select(User)
        .where(
            User.phone_hash == validators.phone_hash(phone),
            User.organization_id == org.id,
            User.active.is_(True),
        )
        .order_by(User.created_at)
    ).first()


def _help(org: Organization, language: str) -> str:
    return messages.translate(
        language,
        messages.TEMPLATES["help"],
        {"organization": org.name, "hotline": org.oncall_phone or ""},
    )


def _status(family: list[Contact]) -> str:
    language = family[0].language
    cases = [c.case for c in family if c.case.closed_at is None]
    if not cases:
        return messages.translate(language, messages.TEMPLATES["status_none"])
    lines = [_case_line(case, language) for case in dict.fromkeys(cases)]
    reply = messages.translate(
        language,
        messages.TEMPLATES["status_reply"],
        {"organization": cases[0].organization.name, "status": " ".join(lines)},
    )
    return messages.fit(reply).body


def _case_line(case: Case, language: str) -> str:
    t = messages.translate
    custody = t(language, messages.CUSTODY_LABELS.get(case.custody_status.value, "unknown"))
    line = t(
        language, messages.STATUS_CASE_LINE, {"first_name": case.given_name, "custody": custody}
    )
    requests = sorted(case.requests, key=lambda r: r.created_at)
    if not requests:
        return f"{line} {t(language, messages.NO_REQUEST_LINE)}"
    latest = requests[-1]
    detail = t(
        language,
        messages.REQUEST_STATUS_LINES[latest.status.value],
        {"request_kind": latest.kind.value},
    )
    return f"{line} {detail}"


def _acknowledge(
    session: Session,
    org: Organization,
    phone: str,
    counsel: list[Contact],
    user: User | None,
    language: str,
    now: datetime,
    on_call: str | None = None,
) -> Reply:
    alert = _latest_open_alert(session, org, phone, counsel, user)
    if alert is None:
        return Reply("ack", messages.translate(language, messages.TEMPLATES["ack_none"]), org.id)
    who = "counsel" if counsel else "on-call"
    label = f"sms:{user.email}" if user is not None else f"sms:{who}"
    actor = Actor(
        label=label,
        organization_id=org.id,
        user_id=user.id if user else None,
        role=user.role if user else None,
    )
    alert_service.acknowledge(session, actor, alert, now, via="sms")
    oncall_service.tell_others_taken(
        session,
        alert,
        now,
        user=user,
        phone=phone if user is None else None,
        name=on_call if not counsel else None,
    )
    text = messages.translate(
        language,
        messages.TEMPLATES["ack_done"],
        {"alert_kind": alert.kind, "first_name": alert.case.given_name},
    )
    return Reply("ack", text, org.id)


def _on_call_name(session: Session, org: Organization, phone: str, now: datetime) -> str | None:
    """The first name of whoever holds ``phone`` on the organisation's shift now ("on call"
    for its on-call number), or None when the phone is not on call there."""
    for person in oncall_service.on_call_now(session, org, now):
        if person.phone == phone:
            return person.name.split()[0] if person.name.strip() else "on call"
    if org.oncall_phone == phone:
        return "the on-call phone"
    return None


def _latest_open_alert(
    session: Session, org: Organization, phone: str, counsel: list[Contact], user: User | None
) -> Alert | None:
    """The organisation's open alert most recently texted to this phone.

    Only an alert whose SMS went to this number can be acknowledged from it: never another
    organisation's, nor one merely on a case this person is counsel on. Rows from before
    ``to_phone_hash`` existed count when they went to this organisation's recipient with it.
    """
    legacy = []
    if user is not None:
        legacy.append(Notification.user_id == user.id)
    if counsel:
        legacy.append(Notification.contact_id.in_([c.id for c in counsel]))
    sent_here = Notification.to_phone_hash == validators.phone_hash(phone)
    if legacy:
        sent_here = or_(sent_here, and_(Notification.to_phone_hash.is_(None), or_(*legacy)))
    return session.scalars(
        select(Alert)
        .join(Notification, Notification.alert_id == Alert.id)
        .where(
            Alert.organization_id == org.id,
            Notification.organization_id == org.id,
            sent_here,
            Alert.acknowledged_at.is_(None),
            Alert.resolved_at.is_(None),
        )
        .order_by(Notification.created_at.desc())
        .limit(1)
    ).first()
