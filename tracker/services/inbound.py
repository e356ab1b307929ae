"""What a reply to our number does: STOP/START/HELP, STATUS from families, OK/ACK from counsel.

The sender is known only by the blind index of their number. Unknown numbers learn nothing
about any case; families learn about their own case(s) only, first name only. The words
themselves are read by ``notifications.inbound``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from notifications import messages
from notifications.inbound import (
    ACK_WORDS,
    HELP_WORDS,
    START_WORDS,
    STATUS_WORDS,
    STOP_WORDS,
    keyword,
)
from tracker import validators
from tracker.models import Alert, Case, Contact, Notification, Organization, User
from tracker.services import Actor, timeline
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


def _normalise(raw: str) -> str | None:
    try:
        return validators.phone(raw)
    except ValueError:
        return None


def _language(contacts: list[Contact], user: User | None) -> str:
    if contacts:
        return contacts[0].language
    return user.language if user else "en"


def _org(contacts: list[Contact], user: User | None) -> Organization | None:
    if contacts:
        return contacts[0].case.organization
    return user.organization if user else None


def handle(session: Session, from_raw: str, body: str, now: datetime) -> Reply:
    """Act on one inbound SMS in the caller's transaction; returns what to answer."""
    phone = _normalise(from_raw)
    whole, first = keyword(body)
    contacts = contact_service.contacts_for_phone(session, phone) if phone else []
    user = _user(session, phone) if phone else None
    language = _language(contacts, user)

    if whole in STOP_WORDS:
        if phone:
            contact_service.opt_out(session, phone, now, source="sms")
        return Reply("stop", messages.translate(language, messages.TEMPLATES["stopped"]))
    if not contacts and user is None:
        return Reply("unknown", messages.translate("en", messages.TEMPLATES["help_unknown"]))
    assert phone is not None
    if whole in START_WORDS:
        contact_service.opt_in(session, phone, now)
        return Reply("start", messages.translate(language, messages.TEMPLATES["started"]))
    if first in HELP_WORDS:
        return Reply("help", _help(contacts, user, language))
    counsel = [c for c in contacts if c.role is ContactRole.counsel]
    if first in ACK_WORDS and (counsel or user is not None):
        return _acknowledge(session, counsel, user, language, now)
    family = [
        c
        for c in contacts
        if c.role is ContactRole.family and c.sms_consent and c.opted_out_at is None
    ]
    if first in STATUS_WORDS and family:
        return Reply("status", _status(family))
    if contacts:
        text = " ".join(body.split())[:MAX_FORWARDED]
        for contact in contacts:
            timeline.add(
                session,
                contact.case_id,
                "sms_received",
                f"SMS from {contact.role.value} contact: {text}",
                contact_service.SMS_ACTOR,
                {"contact_id": str(contact.id)},
                now=now,
            )
        return Reply("forwarded", messages.translate(language, messages.TEMPLATES["follow_up"]))
    return Reply("help", _help(contacts, user, language))


def _user(session: Session, phone: str) -> User | None:
    return session.scalars(
        select(User)
        .where(User.phone_hash == validators.phone_hash(phone), User.active.is_(True))
        .order_by(User.created_at)
    ).first()


def _help(contacts: list[Contact], user: User | None, language: str) -> str:
    org = _org(contacts, user)
    if org is None:
        return messages.translate(language, messages.TEMPLATES["help_unknown"])
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
    counsel: list[Contact],
    user: User | None,
    language: str,
    now: datetime,
) -> Reply:
    alert = _latest_open_alert(session, counsel, user)
    if alert is None:
        return Reply("ack", messages.translate(language, messages.TEMPLATES["ack_none"]))
    actor = Actor(
        label=f"sms:{user.email}" if user else "sms:counsel",
        organization_id=alert.organization_id,
        user_id=user.id if user and user.organization_id == alert.organization_id else None,
        role=user.role if user else None,
    )
    alert_service.acknowledge(session, actor, alert, now, via="sms")
    oncall_service.tell_others_taken(
        session, alert, now, user=user, phone=counsel[0].phone if counsel else None
    )
    text = messages.translate(
        language,
        messages.TEMPLATES["ack_done"],
        {"alert_kind": alert.kind, "first_name": alert.case.given_name},
    )
    return Reply("ack", text)


def _latest_open_alert(session: Session, counsel: list[Contact], user: User | None) -> Alert | None:
    """The open alert this person was most recently texted about, else the newest open alert
    on a case they are counsel on."""
    open_alert = (Alert.acknowledged_at.is_(None), Alert.resolved_at.is_(None))
    recipients = []
    if user is not None:
        recipients.append(Notification.user_id == user.id)
    if counsel:
        recipients.append(Notification.contact_id.in_([c.id for c in counsel]))
    texted = session.scalars(
        select(Alert)
        .join(Notification, Notification.alert_id == Alert.id)
        .where(or_(*recipients), *open_alert)
        .order_by(Notification.created_at.desc())
        .limit(1)
    ).first()
    if texted is not None:
        return texted
    case_filters = []
    if user is not None:
        case_filters.append(
            Alert.case_id.in_(
                select(Case.id).where(
                    Case.attorney_id == user.id, Case.organization_id == user.organization_id
                )
            )
        )
    if counsel:
        case_filters.append(Alert.case_id.in_([c.case_id for c in counsel]))
    return session.scalars(
        select(Alert).where(or_(*case_filters), *open_alert).order_by(Alert.raised_at.desc())
    ).first()
