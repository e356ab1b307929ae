"""A case's history as people read it on the case page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.models import TimelineEvent
from tracker.services import Actor
from tracker.types import utcnow


def add(
    session: Session,
    case_id: uuid.UUID,
    kind: str,
    summary: str,
    actor: Actor | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> TimelineEvent:
    event = TimelineEvent(
        case_id=case_id,
        kind=kind,
        summary=summary,
        actor_id=actor.user_id if actor else None,
        data=data or {},
        at=now or utcnow(),
    )
    session.add(event)
    return event
