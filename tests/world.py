"""The tests' one world: the instant they run at, and the places every test world needs.

``NOW`` is "now" for every test that does not need a particular season. Two stories do, and say
so here rather than in their own worlds: the clock's stories run in winter (``WINTER_NOW``, a
case's deadlines read in CST) and the SMS tests at noon in New York just after the spring DST
change (``NOON_NEW_YORK``, outside the default quiet hours, with a quiet night in EDT ahead).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Facility, FieldOffice

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINTER_NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOON_NEW_YORK = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)

PASSWORD = "correct horse battery staple"
CHICAGO = "America/Chicago"


def field_office(session: Session, code: str) -> FieldOffice:
    """A field office of the reference data (seeded by the migrations), by its ICE code."""
    office = session.scalar(select(FieldOffice).where(FieldOffice.code == code))
    assert office is not None, code
    return office


def facility(
    session: Session,
    name: str,
    *,
    office: FieldOffice | None = None,
    time_zone: str = CHICAGO,
    **extra: Any,
) -> Facility:
    """A fictional detention facility, flushed (so its id is known)."""
    made = Facility(
        id=uuid.uuid4(),
        name=name,
        field_office_id=office.id if office is not None else None,
        time_zone=time_zone,
        **extra,
    )
    session.add(made)
    session.flush()
    return made
