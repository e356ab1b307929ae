"""Contacts of a case: counsel, family, others; phones stored encrypted with a blind index."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker import validators
from tracker.models import Case, Contact
from tracker.schemas import ContactCreate, ContactUpdate
from tracker.services import Actor, NotFound, audit, timeline
from tracker.services import alerts as alert_service
from tracker.vocab import ContactRole

AUDITED_FIELDS = ("role", "name", "phone", "language", "sms_consent")


def _snapshot(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in AUDITED_FIELDS}


def get_contact(session: Session, actor: Actor, contact_id: uuid.UUID) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.case.organization_id != actor.organization_id:
        raise NotFound("contact")
    return contact


def add_contact(
    session: Session, actor: Actor, case: Case, data: ContactCreate, now: datetime
) -> Contact:
    contact = Contact(
        id=uuid.uuid4(),
        case_id=case.id,
        phone_hash=validators.phone_hash(data.phone),
        created_at=now,
        updated_at=now,
        **data.model_dump(),
    )
    session.add(contact)
    case.contacts.append(contact)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "contact",
        contact.id,
        audit.diff({}, _snapshot(contact)),
        now=now,
    )
    timeline.add(
        session,
        case.id,
        "contact_added",
        f"{contact.role.value.title()} contact added",
        actor,
        now=now,
    )
    if contact.role is ContactRole.counsel:
        alert_service.notify_new_counsel(session, case, now)
    return contact


def update_contact(
    session: Session, actor: Actor, contact: Contact, data: ContactUpdate, now: datetime
) -> Contact:
    before = _snapshot(contact)
    for name, value in data.model_dump(include=data.model_fields_set).items():
        if value is None and name in ("role", "phone", "language", "sms_consent"):
            continue
        setattr(contact, name, value)
    if "phone" in data.model_fields_set and data.phone:
        contact.phone_hash = validators.phone_hash(data.phone)
        # A new number starts with a clean delivery record and a fresh introduction.
        contact.consecutive_failures = 0
        contact.unreachable = False
        contact.unreachable_since = None
        contact.introduced_at = None
    changes = audit.diff(before, _snapshot(contact))
    if changes:
        contact.updated_at = now
        audit.record(session, actor, "update", "contact", contact.id, changes, now=now)
        if contact.role is ContactRole.counsel and {"role", "phone"} & set(changes):
            session.flush()
            alert_service.notify_new_counsel(session, contact.case, now)
    return contact


def delete_contact(session: Session, actor: Actor, contact: Contact, now: datetime) -> None:
    audit.record(
        session, actor, "delete", "contact", contact.id, audit.diff(_snapshot(contact), {}), now=now
    )
    timeline.add(
        session,
        contact.case_id,
        "contact_removed",
        f"{contact.role.value.title()} contact removed",
        actor,
        now=now,
    )
    session.delete(contact)
    session.flush()
