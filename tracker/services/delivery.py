"""What delivery reports do: to the message, to its contact, and (through them) to alerts.

Two failed deliveries in a row make a contact unreachable, which the case shows as a flag;
the carrier's STOP (21610) opts a number out everywhere. The status vocabulary itself is
``notifications.delivery``; the dispatcher reaches these reactions through ``REACTIONS``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from notifications.channels import failures_before_unreachable
from notifications.delivery import OPTED_OUT_CODE, failure_message, is_forward, map_status
from tracker.models import Contact, Notification
from tracker.services import channels as channel_service
from tracker.services import contacts
from tracker.vocab import NotificationStatus


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
    if not is_forward(current, new):
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
            contacts.record_delivered(session, contact, now)
    elif new in (NotificationStatus.undelivered, NotificationStatus.failed):
        code = (error_code or "").strip() or None
        notification.error_code = code[:16] if code else None
        notification.error_message = failure_message(new, code, raw_status)
        contact = _contact(session, notification.contact_id)
        if contact is not None:
            if code == OPTED_OUT_CODE:
                contacts.opt_out(session, contact.phone, now, source="carrier")
            elif channel_service.fall_back_after_failure(session, contact, notification, now):
                return StatusOutcome(True, new, False)
            became_unreachable = contacts.record_failure(
                session,
                contact,
                now,
                threshold=failures_before_unreachable(
                    contact, contacts.FAILURES_BEFORE_UNREACHABLE
                ),
            )
    return StatusOutcome(True, new, became_unreachable)


def _contact(session: Session, contact_id: uuid.UUID | None) -> Contact | None:
    return session.get(Contact, contact_id) if contact_id else None


class ContactReactions:
    """``notifications.dispatcher.DeliveryReactions``: what a refused send does to a contact."""

    def opted_out(self, session: Session, contact_id: uuid.UUID, now: datetime) -> None:
        contact = _contact(session, contact_id)
        if contact is not None:
            contacts.opt_out(session, contact.phone, now, source="carrier")

    def bad_number(
        self,
        session: Session,
        contact_id: uuid.UUID,
        now: datetime,
        notification_id: uuid.UUID | None = None,
    ) -> None:
        contact = _contact(session, contact_id)
        if contact is None:
            return
        refused = session.get(Notification, notification_id) if notification_id else None
        if refused is not None and channel_service.fall_back_from_landline(
            session, contact, refused, now
        ):
            return
        contacts.record_failure(session, contact, now, immediately=True)


REACTIONS = ContactReactions()
