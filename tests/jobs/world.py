"""A small fictional world for the clock's stories: one organisation, an attorney, counsel.

Phone numbers are in the 202-555-01xx range reserved for fiction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.sweeps import counts, sweep_all
from tests import factories
from tests.world import WINTER_NOW, facility, field_office
from tracker.models import (
    Alert,
    Case,
    Facility,
    FieldOfficeLiaison,
    Notification,
    Organization,
    User,
)
from tracker.schemas import CaseUpdate, ContactCreate
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service

T0 = WINTER_NOW
ONCALL = "+12025550100"
ATTORNEY_PHONE = "+12025550111"
COUNSEL_PHONE = "+12025550112"


@dataclass
class World:
    org: Organization
    attorney: User
    actor: Actor
    facility: Facility


def world(session: Session, now: datetime = T0, **org_fields: Any) -> World:
    org = factories.org(session, now)
    org.oncall_phone = ONCALL
    for name, value in org_fields.items():
        setattr(org, name, value)
    attorney = factories.user(session, org, now, phone=ATTORNEY_PHONE, name="Fictional Attorney")
    office = field_office(session, "NOL")
    session.add(
        FieldOfficeLiaison(
            organization_id=org.id,
            field_office_id=office.id,
            name="PD Liaison",
            phone="+12025550150",
        )
    )
    center = facility(session, "Fictional Center", office=office)
    return World(org, attorney, factories.actor_for(attorney), center)


def new_case(session: Session, w: World, now: datetime = T0, **fields: Any) -> Case:
    """A case with counsel (a contact, and the attorney, who is also listed as a contact)."""
    removal = fields.pop("removal_scheduled_at", None)
    case = factories.case(
        session,
        w.actor,
        now,
        given_name="Rosa",
        family_name="Fictitia",
        a_number="A-099-000-123",
        facility_id=w.facility.id,
        attorney_id=w.attorney.id,
        **fields,
    )
    for phone in (COUNSEL_PHONE, ATTORNEY_PHONE):
        contact_service.add_contact(
            session, w.actor, case, ContactCreate(role="counsel", phone=phone), now
        )
    contact_service.add_contact(
        session,
        w.actor,
        case,
        ContactCreate(role="family", phone="+12025550113", sms_consent=True, language="es"),
        now,
    )
    if removal is not None:
        case_service.update_case(
            session, w.actor, case, CaseUpdate(removal_scheduled_at=removal), now
        )
    return case


def sweep(session: Session, now: datetime) -> dict[str, int]:
    """Commit what the test wrote, run every sweep as the clock would, and look again."""
    session.commit()
    raised = counts(sweep_all(now))
    session.expire_all()
    return raised


def alerts(session: Session, case: Case, kind: str | None = None) -> list[Alert]:
    query = select(Alert).where(Alert.case_id == case.id).order_by(Alert.raised_at, Alert.rung)
    if kind:
        query = query.where(Alert.kind == kind)
    return list(session.scalars(query))


def sms(
    session: Session, alert: Alert | None = None, kind: str | None = None
) -> list[Notification]:
    query = select(Notification).order_by(Notification.created_at)
    if alert is not None:
        query = query.where(Notification.alert_id == alert.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(session.scalars(query))
