"""Field-office PD liaisons: each organisation's own, over the shared field offices.

Field offices (code, name, zone) are reference data every organisation shares; the liaison
an organisation's escalation SMS, pages and API name is that organisation's alone, so every
read and write here is keyed by the organisation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.i18n import N_
from tracker.models import FieldOffice, FieldOfficeLiaison
from tracker.services import Actor, ServiceError, audit

FIELDS = ("name", "phone", "email")


def get(
    session: Session, organization_id: uuid.UUID, office_id: uuid.UUID
) -> FieldOfficeLiaison | None:
    return session.get(FieldOfficeLiaison, (organization_id, office_id))


def of_org(session: Session, organization_id: uuid.UUID) -> dict[uuid.UUID, FieldOfficeLiaison]:
    """The organisation's liaisons by field office id."""
    rows = session.scalars(
        select(FieldOfficeLiaison).where(FieldOfficeLiaison.organization_id == organization_id)
    )
    return {row.field_office_id: row for row in rows}


def set_liaison(
    session: Session,
    actor: Actor,
    office: FieldOffice,
    values: Mapping[str, str | None],
    now: datetime,
) -> bool:
    """Set the acting organisation's liaison at ``office``; True when something changed.

    ``values`` holds ``name``, ``phone`` and ``email``, already validated.
    """
    if actor.organization_id is None:
        raise ServiceError(N_("a liaison belongs to an organisation"))
    row = get(session, actor.organization_id, office.id)
    before = {n: getattr(row, n) if row is not None else None for n in FIELDS}
    after = {n: values.get(n) for n in FIELDS}
    changes = audit.diff(before, after)
    if not changes:
        return False
    if row is None:
        row = FieldOfficeLiaison(organization_id=actor.organization_id, field_office_id=office.id)
        session.add(row)
    for name, value in after.items():
        setattr(row, name, value)
    row.updated_at = now
    audit.record(
        session,
        actor,
        "update",
        "field_office_liaison",
        office.id,
        changes,
        organization_id=actor.organization_id,
        now=now,
    )
    return True
