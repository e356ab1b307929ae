"""The outbox: enqueue an SMS in the caller's transaction, exactly once per dedupe key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifications import messages
from tracker.models import Notification
from tracker.types import utcnow
from tracker.vocab import NotificationStatus


def enqueue(
    session: Session,
    *,
    organization_id: uuid.UUID,
    to_phone: str,
    kind: str,
    dedupe_key: str,
    language: str = "en",
    params: Mapping[str, Any] | None = None,
    case_id: uuid.UUID | None = None,
    alert_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    urgent: bool = False,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> uuid.UUID | None:
    """Insert one outbox row; return its id, or None when the dedupe key already exists."""
    now = now or utcnow()
    rendered = messages.render(kind, language, params or {})
    new_id = uuid.uuid4()
    values = {
        "id": new_id,
        "organization_id": organization_id,
        "case_id": case_id,
        "alert_id": alert_id,
        "contact_id": contact_id,
        "user_id": user_id,
        "to_phone": to_phone,
        "language": language,
        "kind": kind,
        "body": rendered.body,
        "segments": rendered.segments,
        "encoding": rendered.encoding,
        "urgent": urgent,
        "dedupe_key": dedupe_key,
        "status": NotificationStatus.queued,
        "attempts": 0,
        "next_attempt_at": max(not_before or now, now),
        "created_at": now,
        "updated_at": now,
    }
    session.flush()
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(Notification)
            .values(values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
    elif dialect == "sqlite":
        stmt = (
            sqlite.insert(Notification)
            .values(values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
    else:  # pragma: no cover - only the two supported backends
        stmt = insert(Notification).values(values)
    result = session.execute(stmt)
    return new_id if result.rowcount else None  # type: ignore[attr-defined]


def suppress_pending(session: Session, *, alert_ids: list[uuid.UUID], now: datetime) -> int:
    """Mark queued outbox rows of resolved alerts as suppressed; returns how many."""
    if not alert_ids:
        return 0
    result = session.execute(
        update(Notification)
        .where(
            Notification.alert_id.in_(alert_ids),
            Notification.status == NotificationStatus.queued,
        )
        .values(status=NotificationStatus.suppressed, updated_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
