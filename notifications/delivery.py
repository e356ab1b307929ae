"""What delivery reports mean for a message and for its recipient.

Status callbacks can arrive twice, late or out of order: a status only ever moves forward
(``delivered``, ``undelivered`` and ``failed`` are final). Two failed deliveries in a row
make a contact unreachable, which the case shows as a flag; STOP opts a number out
everywhere, since the carrier blocks our sender for that number anyway.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import outbox
from tracker import validators
from tracker.models import Contact, Notification
from tracker.services import Actor, audit, timeline
from tracker.services import alerts as alert_service
from tracker.vocab import NotificationStatus

log = logging.getLogger("amparo.sms")

SMS_ACTOR = Actor.system("sms")
FAILURES_BEFORE_UNREACHABLE = 2

# Twilio's MessageStatus values → ours. Twilio's own queue states mean "the provider has it".
_TWILIO_STATUS = {
    "accepted": NotificationStatus.sent,
    "scheduled": NotificationStatus.sent,
    "queued": NotificationStatus.sent,
    "sending": NotificationStatus.sent,
    "sent": NotificationStatus.sent,
    "delivered": NotificationStatus.delivered,
    "read": NotificationStatus.delivered,
    "undelivered": NotificationStatus.undelivered,
    "failed": NotificationStatus.failed,
    "canceled": NotificationStatus.failed,
}
_RANK = {
    NotificationStatus.queued: 0,
    NotificationStatus.suppressed: 0,
    NotificationStatus.sending: 1,
    NotificationStatus.sent: 2,
    NotificationStatus.delivered: 3,
    NotificationStatus.undelivered: 3,
    NotificationStatus.failed: 3,
}
FINAL = frozenset(
    {NotificationStatus.delivered, NotificationStatus.undelivered, NotificationStatus.failed}
)
# Carrier error codes seen in callbacks, explained for the people who follow up.
ERROR_REASONS = {
    "30003": "handset unreachable (off or out of coverage)",
    "30004": "message blocked by the recipient or carrier",
    "30005": "unknown or inactive number",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown delivery error",
    "21610": "the recipient replied STOP",
}


def map_status(raw: str) -> NotificationStatus | None:
    return _TWILIO_STATUS.get(raw.strip().lower())


@dataclass(frozen=True)
class StatusOutcome:
    applied: bool
    status: NotificationStatus
    contact_became_unreachable: bool = False


def apply_status(
    session: Session,
    notification: Notification,
    raw_status: str,
    now: datetime,
    *,
    sid: str | None = None,
    error_code: str | None = None,
) -> StatusOutcome:
    """Apply one status callback; idempotent, and never moves a message backwards."""
    new = map_status(raw_status)
    current = NotificationStatus(notification.status)
    if new is None:
        return StatusOutcome(False, current)
    if sid and notification.provider_sid and sid != notification.provider_sid:
        # A report about another copy (a re-send after a worker crash): the row keeps
        # the fate of the copy whose SID it recorded.
        return StatusOutcome(False, current)
    if sid and not notification.provider_sid:
        notification.provider_sid = sid[:64]
    if current in FINAL or _RANK[new] <= _RANK[current]:
        return StatusOutcome(False, current)
    notification.status = new
    notification.updated_at = now
    notification.claimed_by = None
    notification.claimed_until = None
    if notification.sent_at is None:
        notification.sent_at = now
    became_unreachable = False
    if new is NotificationStatus.delivered:
        notification.delivered_at = now
        notification.error_code = None
        notification.error_message = None
        contact = _contact(session, notification.contact_id)
        if contact is not None:
            record_delivered(session, contact, now)
    elif new in (NotificationStatus.undelivered, NotificationStatus.failed):
        code = (error_code or "").strip() or None
        notification.error_code = code[:16] if code else None
        reason = ERROR_REASONS.get(code or "", "")
        notification.error_message = f"Twilio reported {new.value}" + (
            f" (error {code}: {reason})" if code and reason else f" (error {code})" if code else ""
        )
        contact = _contact(session, notification.contact_id)
        if contact is not None:
            if code == "21610":
                opt_out(session, contact.phone, now, source="carrier")
            became_unreachable = record_failure(session, contact, now)
    return StatusOutcome(True, new, became_unreachable)


def _contact(session: Session, contact_id: uuid.UUID | None) -> Contact | None:
    return session.get(Contact, contact_id) if contact_id else None


def record_delivered(session: Session, contact: Contact, now: datetime) -> None:
    contact.consecutive_failures = 0
    if contact.unreachable:
        contact.unreachable = False
        contact.unreachable_since = None
        contact.updated_at = now
        audit.record(
            session,
            SMS_ACTOR,
            "update",
            "contact",
            contact.id,
            {"unreachable": [True, False]},
            organization_id=contact.case.organization_id,
            now=now,
        )
        timeline.add(
            session,
            contact.case_id,
            "contact_reachable",
            f"{contact.role.value.title()} contact reachable again: an SMS was delivered",
            SMS_ACTOR,
            {"contact_id": str(contact.id)},
            now=now,
        )
        session.flush()
        alert_service.sync_case(session, contact.case, now)


def record_failure(
    session: Session, contact: Contact, now: datetime, *, immediately: bool = False
) -> bool:
    """Count a failed delivery; returns True when this one made the contact unreachable."""
    contact.consecutive_failures = (contact.consecutive_failures or 0) + 1
    if contact.unreachable:
        return False
    if not immediately and contact.consecutive_failures < FAILURES_BEFORE_UNREACHABLE:
        return False
    contact.unreachable = True
    contact.unreachable_since = now
    contact.updated_at = now
    audit.record(
        session,
        SMS_ACTOR,
        "update",
        "contact",
        contact.id,
        {
            "unreachable": [False, True],
            "consecutive_failures": [None, contact.consecutive_failures],
        },
        organization_id=contact.case.organization_id,
        now=now,
    )
    why = (
        "the number cannot receive SMS"
        if immediately
        else f"{contact.consecutive_failures} SMS in a row were not delivered"
    )
    timeline.add(
        session,
        contact.case_id,
        "contact_unreachable",
        f"{contact.role.value.title()} contact unreachable by SMS: {why}. Please follow up.",
        SMS_ACTOR,
        {"contact_id": str(contact.id)},
        now=now,
    )
    session.flush()
    alert_service.sync_case(session, contact.case, now)
    log.warning("contact %s unreachable after %s", contact.id, why)
    return True


def contacts_for_phone(session: Session, phone: str) -> list[Contact]:
    """Every contact (any organisation) with this number, by blind index."""
    digest = validators.phone_hash(phone)
    return list(
        session.scalars(
            select(Contact).where(Contact.phone_hash == digest).order_by(Contact.created_at)
        )
    )


def opt_out(session: Session, phone: str, now: datetime, source: str = "sms") -> list[Contact]:
    """STOP: opt the number out on every case; suppress what is still waiting for it."""
    changed = [c for c in contacts_for_phone(session, phone) if c.opted_out_at is None]
    for contact in changed:
        contact.opted_out_at = now
        contact.updated_at = now
        audit.record(
            session,
            Actor.system(source),
            "update",
            "contact",
            contact.id,
            {"opted_out_at": [None, now.isoformat()]},
            organization_id=contact.case.organization_id,
            now=now,
        )
    if changed:
        outbox.suppress_for_contacts(session, [c.id for c in changed], now)
        how = "replied STOP" if source == "sms" else "is opted out at the carrier"
        for contact in changed:
            timeline.add(
                session,
                contact.case_id,
                "sms_opt_out",
                f"{contact.role.value.title()} contact {how}: no more SMS to this number",
                SMS_ACTOR,
                {"contact_id": str(contact.id)},
                now=now,
            )
    return changed


def opt_in(session: Session, phone: str, now: datetime) -> list[Contact]:
    """START/UNSTOP: the number receives SMS again (consent itself is unchanged)."""
    changed = [c for c in contacts_for_phone(session, phone) if c.opted_out_at is not None]
    for contact in changed:
        contact.opted_out_at = None
        contact.updated_at = now
        audit.record(
            session,
            SMS_ACTOR,
            "update",
            "contact",
            contact.id,
            {"opted_out_at": ["[set]", None]},
            organization_id=contact.case.organization_id,
            now=now,
        )
        timeline.add(
            session,
            contact.case_id,
            "sms_opt_in",
            f"{contact.role.value.title()} contact replied START: SMS resume",
            SMS_ACTOR,
            {"contact_id": str(contact.id)},
            now=now,
        )
    return changed
