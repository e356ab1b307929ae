"""Liveness of the clock: one ``Heartbeat`` row per job, written after each run.

``/healthz`` and the urgent queue page read these rows (``tracker.web.health``); a row older
than three intervals means the clock stopped sweeping and nobody is being alerted.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tracker.models import Heartbeat

PREFIX = "clock:"
# A clock is stale after this many missed runs.
STALE_AFTER_INTERVALS = 3


def beat(
    session: Session,
    job: str,
    now: datetime,
    interval_seconds: float,
    details: dict[str, Any] | None = None,
) -> None:
    """Upsert the heartbeat row of ``job`` (one statement; two clocks just overwrite)."""
    values = {
        "name": f"{PREFIX}{job}",
        "beat_at": now,
        "interval_seconds": float(interval_seconds),
        "details": {"host": socket.gethostname(), "pid": os.getpid(), **(details or {})},
    }
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        pg = postgresql.insert(Heartbeat).values(values)
        stmt = pg.on_conflict_do_update(
            index_elements=["name"],
            set_={k: pg.excluded[k] for k in ("beat_at", "interval_seconds", "details")},
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(Heartbeat).values(values)
        stmt = lite.on_conflict_do_update(
            index_elements=["name"],
            set_={k: lite.excluded[k] for k in ("beat_at", "interval_seconds", "details")},
        )
    else:  # pragma: no cover - only the two supported backends
        stmt = insert(Heartbeat).values(values)
    session.execute(stmt)


def clock_beats(session: Session) -> list[Heartbeat]:
    return list(
        session.scalars(
            select(Heartbeat).where(Heartbeat.name.startswith(PREFIX)).order_by(Heartbeat.name)
        )
    )
