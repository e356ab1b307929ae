"""Detention facilities: shared reference data, created by admins (API and admin page)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import Facility, FieldOffice
from tracker.schemas import FacilityCreate
from tracker.services import Actor, ServiceError, audit


def create_facility(
    session: Session, actor: Actor, data: FacilityCreate, now: datetime
) -> Facility:
    errors: dict[str, str] = {}
    if data.field_office_id is not None and session.get(FieldOffice, data.field_office_id) is None:
        errors["field_office_id"] = "no such field office"
    same_name = select(Facility.id).where(func.lower(Facility.name) == data.name.lower())
    if session.scalar(same_name) is not None:
        errors["name"] = "a facility with that name exists"
    if errors:
        raise ServiceError("the facility cannot be created", errors)
    facility = Facility(
        id=uuid.uuid4(),
        name=data.name,
        field_office_id=data.field_office_id,
        time_zone=data.time_zone,
        kind=data.kind,
        created_at=now,
    )
    session.add(facility)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "facility",
        facility.id,
        audit.diff({}, data.model_dump()),
        now=now,
    )
    return facility
