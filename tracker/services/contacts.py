"""Contacts of a case: counsel, family, others; phones stored encrypted with a blind index.

Also what SMS does to a contact: delivered or failed reports (two failures in a row make it
unreachable, which the case shows as a flag) and STOP/START, which apply to the number on
every case of every organisation that sends from the sender that got the STOP, since the
carrier blocks that sender for that number anyway (``services.inbound`` decides the scope).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import outbox
from tracker import validators
from tracker.i18n import N_
from tracker.models import Case, Contact
from tracker.schemas import ContactCreate, ContactUpdate
from tracker.services import Actor, NotFound, ServiceError, audit, timeline
from tracker.services import alerts as alert_service
from tracker.vocab import Channel, ContactRole

log = logging.getLogger("amparo.sms")

AUDITED_FIELDS = (
    "role",
    "name",
    "phone",
    "language",
    "sms_consent",
    "channel",
    "consented_channels",
)
SMS_ACTOR = Actor.system("sms")
FAILURES_BEFORE_UNREACHABLE = 2


def _snapshot(contact: Contact) -> dict[str, Any]:
    return audit.snapshot(contact, AUDITED_FIELDS)


def _system_update(
    session: Session, actor: Actor, contact: Contact, changes: dict[str, Any], now: datetime
) -> None:
    """Audit a change SMS or the carrier made: a system actor has no organisation, so the
    entry goes to the contact's case's."""
    audit.record(
        session,
        actor,
        "update",
        "contact",
        contact.id,
        changes,
        organization_id=contact.case.organization_id,
        now=now,
    )


def _sms_event(session: Session, contact: Contact, kind: str, what: str, now: datetime) -> None:
    timeline.add(
        session,
        contact.case_id,
        kind,
        N_("{role} contact {what}").format(role=contact.role.value.title(), what=what),
        SMS_ACTOR,
        {"contact_id": str(contact.id)},
        now=now,
    )


def get_contact(session: Session, actor: Actor, contact_id: uuid.UUID) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.case.organization_id != actor.organization_id:
        raise NotFound("contact")
    return contact


def resolve_channels(
    current_channel: str | None,
    current_consented: list[str],
    data: ContactCreate | ContactUpdate,
) -> tuple[str, list[str]]:
    """(preferred channel, consented channels) after ``data``; ``sms_consent`` follows as
    ``"sms" in consented``. Old clients send only ``sms_consent``: it adds or removes "sms".
    Raises ``ServiceError`` naming the field when the two disagree or the preferred channel
    was not consented to."""
    given = data.model_fields_set
    consented = list(current_consented)
    if data.consented_channels is not None:
        consented = [Channel(c).value for c in data.consented_channels]
        explicit = "sms_consent" in given and data.sms_consent is not None
        if explicit and data.sms_consent != (Channel.sms.value in consented):
            raise ServiceError(
                N_("sms_consent and consented_channels disagree"),
                {"sms_consent": N_("must be true exactly when consented_channels has sms")},
            )
    elif data.sms_consent is not None and ("sms_consent" in given or current_channel is None):
        without = [c for c in consented if c != Channel.sms.value]
        consented = [Channel.sms.value, *without] if data.sms_consent else without
    if data.channel is not None:
        channel = Channel(data.channel).value
        if consented and channel not in consented:
            raise ServiceError(
                N_("the preferred channel was not consented to"),
                {
                    "channel": N_("{channel} is not among consented_channels {choices}").format(
                        channel=channel, choices=consented
                    )
                },
            )
        return channel, consented
    channel = current_channel or Channel.sms.value
    if consented and channel not in consented:
        # Consent to the preferred channel was withdrawn: the first one still consented.
        channel = Channel.sms.value if Channel.sms.value in consented else consented[0]
    return channel, consented


def add_contact(
    session: Session, actor: Actor, case: Case, data: ContactCreate, now: datetime
) -> Contact:
    channel, consented = resolve_channels(None, [], data)
    values = data.model_dump(exclude={"channel", "consented_channels", "sms_consent"})
    contact = Contact(
        id=uuid.uuid4(),
        case_id=case.id,
        phone_hash=validators.phone_hash(data.phone),
        created_at=now,
        updated_at=now,
        channel=channel,
        consented_channels=consented,
        sms_consent=Channel.sms.value in consented,
        **values,
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
        N_("{role} contact {what}").format(role=contact.role.value.title(), what=N_("added")),
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
    channel, consented = resolve_channels(
        contact.channel, list(contact.consented_channels or []), data
    )
    channel_fields = {"channel", "consented_channels", "sms_consent"}
    for name, value in data.model_dump(include=data.model_fields_set - channel_fields).items():
        if value is None and name in ("role", "phone", "language"):
            continue
        setattr(contact, name, value)
    contact.channel = channel
    contact.consented_channels = consented
    contact.sms_consent = Channel.sms.value in consented
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
        N_("{role} contact {what}").format(role=contact.role.value.title(), what=N_("removed")),
        actor,
        now=now,
    )
    session.delete(contact)
    session.flush()


def record_delivered(session: Session, contact: Contact, now: datetime) -> None:
    contact.consecutive_failures = 0
    if contact.unreachable:
        contact.unreachable = False
        contact.unreachable_since = None
        contact.updated_at = now
        _system_update(session, SMS_ACTOR, contact, {"unreachable": [True, False]}, now)
        _sms_event(
            session,
            contact,
            "contact_reachable",
            N_("reachable again: an SMS was delivered"),
            now,
        )
        session.flush()
        alert_service.sync_case(session, contact.case, now)


def record_failure(
    session: Session,
    contact: Contact,
    now: datetime,
    *,
    immediately: bool = False,
    threshold: int = FAILURES_BEFORE_UNREACHABLE,
) -> bool:
    """Count a failed delivery; returns True when this one made the contact unreachable
    (``threshold`` failures in a row: two per channel the family consented to)."""
    contact.consecutive_failures = (contact.consecutive_failures or 0) + 1
    if contact.unreachable:
        return False
    if not immediately and contact.consecutive_failures < threshold:
        return False
    contact.unreachable = True
    contact.unreachable_since = now
    contact.updated_at = now
    changes = {
        "unreachable": [False, True],
        "consecutive_failures": [None, contact.consecutive_failures],
    }
    _system_update(session, SMS_ACTOR, contact, changes, now)
    why = (
        N_("the number cannot receive SMS")
        if immediately
        else (
            N_("{n} SMS in a row were not delivered")
            if threshold == FAILURES_BEFORE_UNREACHABLE
            else N_("{n} messages and calls in a row were not delivered")
        ).format(n=contact.consecutive_failures)
    )
    _sms_event(
        session,
        contact,
        "contact_unreachable",
        N_("unreachable by SMS: {why}. Please follow up.").format(why=why),
        now,
    )
    session.flush()
    alert_service.sync_case(session, contact.case, now)
    log.warning("contact %s unreachable after %s", contact.id, why)
    return True


def contacts_for_phone(
    session: Session, phone: str, organization_ids: Collection[uuid.UUID] | None = None
) -> list[Contact]:
    """The contacts with this number, by blind index: of the given organisations, or of any."""
    digest = validators.phone_hash(phone)
    query = select(Contact).where(Contact.phone_hash == digest)
    if organization_ids is not None:
        query = query.join(Case, Case.id == Contact.case_id).where(
            Case.organization_id.in_(list(organization_ids))
        )
    return list(session.scalars(query.order_by(Contact.created_at)))


def opt_out(
    session: Session,
    phone: str,
    now: datetime,
    source: str = "sms",
    organization_ids: Collection[uuid.UUID] | None = None,
) -> list[Contact]:
    """STOP: opt the number out on every case (of the organisations the sender that got the
    STOP speaks for); suppress what is still waiting for it."""
    changed = [
        c for c in contacts_for_phone(session, phone, organization_ids) if c.opted_out_at is None
    ]
    for contact in changed:
        contact.opted_out_at = now
        contact.updated_at = now
        changes = {"opted_out_at": [None, now.isoformat()]}
        _system_update(session, Actor.system(source), contact, changes, now)
    if changed:
        outbox.suppress_for_contacts(session, [c.id for c in changed], now)
        what = (
            N_("replied STOP: no more SMS to this number")
            if source == "sms"
            else N_("is opted out at the carrier: no more SMS to this number")
        )
        for contact in changed:
            _sms_event(session, contact, "sms_opt_out", what, now)
    return changed


def opt_in(
    session: Session,
    phone: str,
    now: datetime,
    organization_ids: Collection[uuid.UUID] | None = None,
) -> list[Contact]:
    """START/UNSTOP: the number receives SMS again (consent itself is unchanged)."""
    changed = [
        c
        for c in contacts_for_phone(session, phone, organization_ids)
        if c.opted_out_at is not None
    ]
    for contact in changed:
        contact.opted_out_at = None
        contact.updated_at = now
        _system_update(session, SMS_ACTOR, contact, {"opted_out_at": ["[set]", None]}, now)
        _sms_event(session, contact, "sms_opt_in", N_("replied START: SMS resume"), now)
    return changed
