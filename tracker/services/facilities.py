"""Detention facilities: shared reference data, created by admins (API, admin page, import)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.i18n import N_
from tracker.models import Facility, FieldOffice
from tracker.permissions import PERMISSIONS
from tracker.schemas import FacilityCreate
from tracker.services import Actor, ServiceError, audit


def may_create(actor: Actor) -> bool:
    """Whether ``actor`` may add a facility.

    Facilities are shared by every organisation, so only the roles trusted with shared
    reference data add them: those of the ``reference.write`` permission (admins). A system
    actor with no user — the server's operator at the command line — may too: whoever runs
    ``amparo`` on the server already holds the database.
    """
    if actor.user_id is None and actor.role is None:
        return True
    return actor.role in PERMISSIONS["reference.write"]


def create_facility(
    session: Session, actor: Actor, data: FacilityCreate, now: datetime
) -> Facility:
    if not may_create(actor):
        raise ServiceError(
            N_("only an administrator can add a facility"),
            {"name": N_("unknown facility; ask an admin to add it")},
            code="forbidden",
        )
    errors: dict[str, str] = {}
    if data.field_office_id is not None and session.get(FieldOffice, data.field_office_id) is None:
        errors["field_office_id"] = N_("no such field office")
    same_name = select(Facility.id).where(func.lower(Facility.name) == data.name.lower())
    if session.scalar(same_name) is not None:
        errors["name"] = N_("a facility with that name exists")
    if errors:
        raise ServiceError(N_("the facility cannot be created"), errors)
    facility = Facility(
        id=uuid.uuid4(),
        name=data.name,
        field_office_id=data.field_office_id,
        time_zone=data.time_zone,
        kind=data.kind,
        created_at=now,
    )
    audit.created(session, actor, facility, "facility", audit.diff({}, data.model_dump()), now=now)
    return facility
