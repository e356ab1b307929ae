"""What needs a person: failed SMS and unreachable contacts, one organisation at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import Case, Contact, Notification
from tracker.vocab import NotificationStatus

FOLLOW_UP_STATUSES = (NotificationStatus.failed, NotificationStatus.undelivered)


@dataclass(frozen=True)
class FailedSms:
    id: uuid.UUID
    case_id: uuid.UUID | None
    first_name: str
    kind: str
    to_phone: str
    status: str
    attempts: int
    error_code: str | None
    error_message: str | None
    at: datetime


@dataclass(frozen=True)
class UnreachableContact:
    contact_id: uuid.UUID
    case_id: uuid.UUID
    first_name: str
    role: str
    phone: str
    since: datetime | None
    failures: int


@dataclass(frozen=True)
class FollowUp:
    failed: list[FailedSms]
    unreachable: list[UnreachableContact]
    counts: dict[str, int]


def follow_up(session: Session, organization_id: uuid.UUID, limit: int = 200) -> FollowUp:
    """Failed/undelivered SMS (newest first) and unreachable contacts of open cases."""
    failed_rows = session.execute(
        select(Notification, Case.given_name)
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(
            Notification.organization_id == organization_id,
            Notification.status.in_(FOLLOW_UP_STATUSES),
        )
        .order_by(Notification.updated_at.desc())
        .limit(limit)
    ).all()
    failed = [
        FailedSms(
            id=n.id,
            case_id=n.case_id,
            first_name=(given or "").split(" ")[0],
            kind=n.kind,
            to_phone=n.to_phone,
            status=n.status.value,
            attempts=n.attempts,
            error_code=n.error_code,
            error_message=n.error_message,
            at=n.updated_at,
        )
        for n, given in failed_rows
    ]
    unreachable_rows = session.execute(
        select(Contact, Case.given_name)
        .join(Case, Case.id == Contact.case_id)
        .where(
            Case.organization_id == organization_id,
            Case.closed_at.is_(None),
            Contact.unreachable.is_(True),
        )
        .order_by(Contact.unreachable_since.desc())
        .limit(limit)
    ).all()
    unreachable = [
        UnreachableContact(
            contact_id=c.id,
            case_id=c.case_id,
            first_name=(given or "").split(" ")[0],
            role=c.role.value,
            phone=c.phone,
            since=c.unreachable_since,
            failures=c.consecutive_failures,
        )
        for c, given in unreachable_rows
    ]
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(Notification.status, func.count())
            .where(Notification.organization_id == organization_id)
            .group_by(Notification.status)
        )
    }
    return FollowUp(failed, unreachable, counts)
