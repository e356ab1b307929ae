"""The two-way inbox (issue 15): families' free-text SMS and the replies sent from the app.

An inbound text that is no keyword becomes an ``in`` message on the case of the contact it
came from (``services.inbound`` picks the one organisation and the case); the case's attorney,
or when the case has none whoever is on call, is told by SMS that a message arrived, never
what it says nor whose case it is. A reply is an ``out`` message whose text goes through the
outbox like every SMS (quiet hours, opt-out, delivery tracking); its outbox row carries the
delivery status the conversation shows. Every reply and every opened conversation is audited;
the texts are encrypted at rest and go with the case when it is purged (ON DELETE CASCADE).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session, aliased

from notifications import messages, outbox
from tracker import validators
from tracker.i18n import N_
from tracker.models import Case, Contact, ConversationMessage, Notification, User
from tracker.services import Actor, ServiceError, audit, timeline
from tracker.services import alerts as alert_service
from tracker.vocab import ContactRole, MessageDirection, NotificationStatus

log = logging.getLogger(__name__)

NOTICE_KIND = "conversation_new"
REPLY_KIND = messages.CONVERSATION_REPLY
# A reply is at most 1,600 characters (Twilio's limit for one message body) and at most 10
# SMS segments: 1,530 GSM-7 characters, or 670 when an emoji or a non-Latin letter makes it
# UCS-2. Longer texts are refused rather than cut, so nobody sends half a sentence.
MAX_CHARS = 1600
MAX_SEGMENTS = 10
# Inbound texts are kept whole up to the same length (a phone joins longer ones anyway).
MAX_INBOUND_CHARS = MAX_CHARS

SMS = "sms"
# A reply is text: it goes by SMS or WhatsApp, never as a call.
TEXT_CHANNELS = frozenset({"sms", "whatsapp"})

M = ConversationMessage
_UNREAD = and_(M.direction == MessageDirection.inbound, M.read_at.is_(None))


@dataclass(frozen=True)
class Counted:
    """A reply as it will be sent: its text, encoding and SMS segments."""

    text: str
    encoding: str
    segments: int
    characters: int


def count(body: str) -> Counted:
    """What ``body`` costs as SMS (``messages.conversation_text``; mirrored by amparo.js)."""
    rendered = messages.conversation_text(body.strip())
    return Counted(rendered.body, rendered.encoding, rendered.segments, len(rendered.body))


# --- inbound ----------------------------------------------------------------------------


def receive(
    session: Session, contact: Contact, text: str, now: datetime, *, channel: str = SMS
) -> ConversationMessage:
    """A free-text message (SMS or WhatsApp: ``channel``) from ``contact``, already routed to
    its organisation: keep it on the contact's case and tell the case team, in the caller's
    transaction."""
    case_ = contact.case
    first_unread = not session.scalar(
        select(func.count()).select_from(M).where(M.case_id == case_.id, _UNREAD)
    )
    message = ConversationMessage(
        id=uuid.uuid4(),
        organization_id=case_.organization_id,
        case_id=case_.id,
        contact_id=contact.id,
        direction=MessageDirection.inbound,
        channel=channel,
        body=text.strip()[:MAX_INBOUND_CHARS],
        created_at=now,
    )
    session.add(message)
    session.flush()
    # One notice until the case's messages are read: a family texting three lines in a row
    # wakes the attorney once.
    if first_unread:
        _notify_team(session, case_, message, now)
    return message


def _notify_team(session: Session, case_: Case, message: ConversationMessage, now: datetime) -> int:
    """Text the case's attorney, or when none (or without a phone) whoever is on call, that a
    message arrived; the number of notices queued. No word of the message, no name."""
    attorney = case_.attorney
    recipients: list[tuple[str, str, uuid.UUID | None]]
    if attorney is not None and attorney.active and attorney.phone:
        recipients = [(attorney.phone, attorney.language or "en", attorney.id)]
    else:
        recipients = [
            (r.phone, r.language, r.user_id)
            for r in alert_service.escalation_recipients(session, case_.organization, now)
        ]
    if not recipients:
        log.warning("case %s: a message arrived and nobody has a phone to be told", case_.id)
    queued = 0
    for phone, language, user_id in recipients:
        if outbox.enqueue(
            session,
            organization_id=case_.organization_id,
            to_phone=phone,
            kind=NOTICE_KIND,
            dedupe_key=f"{NOTICE_KIND}:{message.id}:{validators.phone_hash(phone)[:32]}",
            language=language,
            case_id=case_.id,
            user_id=user_id,
            # Like an escalation: a family asking where someone was moved cannot wait.
            urgent=True,
            now=now,
        ):
            queued += 1
    return queued


# --- replies ----------------------------------------------------------------------------


def check_reply(
    session: Session, case_: Case, contact_id: uuid.UUID | None, body: str
) -> tuple[Contact, Counted]:
    """The contact and the counted text of a reply, or ServiceError naming each bad field."""
    errors: dict[str, str] = {}
    counted = count(body or "")
    if not counted.text:
        errors["body"] = N_("required: the reply is empty")
    elif counted.characters > MAX_CHARS:
        errors["body"] = N_("at most {limit} characters (this is {n})").format(
            limit=MAX_CHARS, n=counted.characters
        )
    elif counted.segments > MAX_SEGMENTS:
        errors["body"] = N_("at most {limit} SMS segments (this is {n}, {code})").format(
            limit=MAX_SEGMENTS, n=counted.segments, code=counted.encoding
        )
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact_id is None:
        errors["contact_id"] = N_("required")
    elif contact is None or contact.case_id != case_.id:
        # Another case's (or organisation's) contact is answered like a missing one.
        errors["contact_id"] = N_("no such contact on this case")
    elif contact.opted_out_at is not None:
        errors["contact_id"] = N_("this contact opted out of texts (STOP); they can reply START")
    elif contact.role is ContactRole.family and not (
        set(contact.consented_channels) & TEXT_CHANNELS
    ):
        errors["contact_id"] = N_("this family contact has not agreed to receive texts")
    if errors or contact is None:
        raise ServiceError(N_("the reply cannot be sent"), errors)
    return contact, counted


def reply(
    session: Session,
    actor: Actor,
    case_: Case,
    contact_id: uuid.UUID | None,
    body: str,
    now: datetime,
) -> ConversationMessage:
    """Send ``body`` to the case's contact through the outbox; audited, nothing written when
    any field is refused."""
    contact, counted = check_reply(session, case_, contact_id, body)
    message_id = uuid.uuid4()
    row = outbox.build_row(
        session,
        organization_id=case_.organization_id,
        to_phone=contact.phone,
        kind=REPLY_KIND,
        dedupe_key=f"{REPLY_KIND}:{message_id}",
        language=contact.language,
        case_id=case_.id,
        contact_id=contact.id,
        now=now,
    )
    # The outbox chose the channel (the contact's text channel: SMS, or WhatsApp while its
    # 24-hour window is open); a reply is the person's own words, never a template.
    if row["status"] is NotificationStatus.suppressed:
        # e.g. WhatsApp only, its window closed: no template can carry a person's own words.
        raise ServiceError(
            N_("the reply cannot be sent"),
            {
                "contact_id": N_("cannot be reached now: {reason}").format(
                    reason=row["error_message"]
                )
            },
        )
    channel = row["channel"]
    row.update(
        body=counted.text,
        encoding=counted.encoding,
        segments=counted.segments,
        content_sid=None,
        content_variables=None,
    )
    outbox.insert_rows(session, [row])
    message = ConversationMessage(
        id=message_id,
        organization_id=case_.organization_id,
        case_id=case_.id,
        contact_id=contact.id,
        direction=MessageDirection.outbound,
        channel=channel,
        body=counted.text,
        read_at=now,
        notification_id=row["id"],
        author_id=actor.user_id,
        created_at=now,
    )
    audit.created(
        session,
        actor,
        message,
        "conversation_message",
        {
            "case_id": [None, str(case_.id)],
            "contact_id": [None, str(contact.id)],
            "body": [None, audit.REDACTED],
            "channel": [None, channel],
            "segments": [None, counted.segments],
        },
        organization_id=case_.organization_id,
        now=now,
    )
    timeline.add(
        session,
        case_.id,
        "sms_reply",
        (
            N_("Reply sent to {role} contact ({n} SMS segment)")
            if counted.segments == 1
            else N_("Reply sent to {role} contact ({n} SMS segments)")
        ).format(role=contact.role.value, n=counted.segments),
        actor,
        {"contact_id": str(contact.id), "message_id": str(message_id)},
        now=now,
    )
    # Answering is reading.
    mark_read(session, actor, case_.id, contact.id, now, audited=False)
    return message


# --- reading ----------------------------------------------------------------------------


def mark_read(
    session: Session,
    actor: Actor,
    case_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    now: datetime,
    *,
    audited: bool = True,
    audit_empty: bool = True,
) -> int:
    """Mark the case's (or one contact's) unread inbound messages read; audited as a read of
    the conversation (``audit_empty=False``: only when something was unread, for the case
    page, whose read is audited as the case's). Returns how many were unread."""
    where = [M.case_id == case_id, _UNREAD]
    if contact_id is not None:
        where.append(M.contact_id == contact_id)
    result = session.execute(
        update(M).where(*where).values(read_at=now),
        execution_options={"synchronize_session": False},
    )
    marked = int(result.rowcount)  # type: ignore[attr-defined]
    if audited and (marked or audit_empty):
        audit.record(
            session,
            actor,
            "read",
            "conversation",
            case_id,
            {
                "contact_id": [None, str(contact_id) if contact_id else None],
                "marked_read": [0, marked],
            },
            now=now,
        )
    return marked


def unread_count(session: Session, organization_id: uuid.UUID) -> int:
    """Unread inbound messages of the organisation (the navigation's count: one indexed scan)."""
    return int(
        session.scalar(
            select(func.count()).select_from(M).where(M.organization_id == organization_id, _UNREAD)
        )
        or 0
    )


@dataclass(frozen=True)
class Conversation:
    """One row of the inbox: a case and one of its contacts, and what waits there."""

    case_id: uuid.UUID
    contact_id: uuid.UUID | None
    first_name: str
    contact_role: str
    contact_phone: str
    unread: int
    last_at: datetime
    last_direction: MessageDirection


def inbox(
    session: Session, organization_id: uuid.UUID, limit: int, offset: int = 0
) -> tuple[list[Conversation], bool]:
    """The organisation's conversations, unread first, then latest first; and whether more
    follow this page."""
    unread = func.sum(case((_UNREAD, 1), else_=0)).label("unread")
    last_at = func.max(M.created_at).label("last_at")
    latest = aliased(M)
    last_direction = (
        select(latest.direction)
        .where(
            latest.case_id == M.case_id,
            latest.contact_id.is_not_distinct_from(M.contact_id),
        )
        .order_by(latest.created_at.desc(), latest.id.desc())
        .limit(1)
        .correlate(M)
        .scalar_subquery()
        .label("last_direction")
    )
    rows = session.execute(
        select(M.case_id, M.contact_id, unread, last_at, last_direction)
        .where(M.organization_id == organization_id)
        .group_by(M.case_id, M.contact_id)
        .order_by(case((unread > 0, 0), else_=1), last_at.desc(), M.case_id, M.contact_id)
        .limit(limit + 1)
        .offset(offset)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cases = {
        c.id: c for c in session.scalars(select(Case).where(Case.id.in_({r.case_id for r in rows})))
    }
    contacts = {
        c.id: c
        for c in session.scalars(
            select(Contact).where(Contact.id.in_({r.contact_id for r in rows if r.contact_id}))
        )
    }
    out: list[Conversation] = []
    for row in rows:
        contact = contacts.get(row.contact_id) if row.contact_id else None
        out.append(
            Conversation(
                case_id=row.case_id,
                contact_id=row.contact_id,
                first_name=messages.first_name_only(cases[row.case_id].given_name),
                contact_role=contact.role.value if contact else N_("removed contact"),
                contact_phone=validators.mask_phone(contact.phone) if contact else "",
                unread=int(row.unread or 0),
                last_at=row.last_at,
                last_direction=MessageDirection(row.last_direction or MessageDirection.inbound),
            )
        )
    return out, more


@dataclass(frozen=True)
class ThreadItem:
    message: ConversationMessage
    status: str  # inbound: "received"; outbound: the outbox row's status
    author: str
    segments: int | None = None


def thread(
    session: Session, case_id: uuid.UUID, contact_id: uuid.UUID | None = None
) -> list[ThreadItem]:
    """The case's conversation (or with one contact), oldest first, with delivery status."""
    stmt = (
        select(M, Notification.status, Notification.segments, User.name, User.email)
        .outerjoin(Notification, Notification.id == M.notification_id)
        .outerjoin(User, User.id == M.author_id)
        .where(M.case_id == case_id)
        .order_by(M.created_at, M.id)
    )
    if contact_id is not None:
        stmt = stmt.where(M.contact_id == contact_id)
    items: list[ThreadItem] = []
    for message, status, segments, name, email in session.execute(stmt):
        if message.direction is MessageDirection.inbound:
            shown = "received"
        else:
            shown = status.value if status is not None else "unknown"
        author = (name or email or "") if message.author_id else ""
        items.append(ThreadItem(message, shown, author, segments))
    return items
