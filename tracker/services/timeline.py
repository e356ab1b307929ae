"""A case's history as people read it on the case page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
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
    event = TimelineEvent(**row(case_id, kind, summary, actor, data, now))
    session.add(event)
    return event


def row(
    case_id: uuid.UUID,
    kind: str,
    summary: str,
    actor: Actor | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The values of one timeline event, for ``add_many``."""
    return {
        "id": uuid.uuid4(),
        "case_id": case_id,
        "kind": kind,
        "summary": summary,
        "actor_id": actor.user_id if actor else None,
        "data": data or {},
        "at": now or utcnow(),
    }


def add_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert timeline events (``row``) in one batch, without the unit of work, in the
    session's transaction (see ``audit.append_many``)."""
    if rows:
        session.connection().execute(insert(TimelineEvent.__table__), rows)  # type: ignore[arg-type]
