"""Cases: intake, edits, closing. Every change is audited and re-checks the alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from tracker import crypto, validators
from tracker.i18n import N_
from tracker.models import Case, CaseNameToken, Facility, FieldOffice, Organization, User
from tracker.schemas import CaseCreate, CaseUpdate
from tracker.services import Actor, NotFound, ServiceError, audit, timeline
from tracker.services import alerts as alert_service
from tracker.vocab import CustodyStatus

AUDITED_FIELDS = (
    "given_name",
    "family_name",
    "a_number",
    "country_of_birth",
    "preferred_language",
    "race",
    "ethnicity",
    "custody_status",
    "facility_id",
    "field_office_id",
    "removal_scheduled_at",
    "location_unknown_since",
    "attorney_id",
    "factors",
    "closed_at",
)


def snapshot(case: Case) -> dict[str, Any]:
    return audit.snapshot(case, AUDITED_FIELDS)


def get_case(session: Session, actor: Actor, case_id: uuid.UUID) -> Case:
    """The case if it belongs to the actor's organisation; otherwise NotFound, like a missing id."""
    case = session.get(Case, case_id)
    if case is None or case.organization_id != actor.organization_id:
        raise NotFound("case")
    return case


def _check_references(session: Session, actor: Actor, values: dict[str, Any]) -> Facility | None:
    """The facility named (None when none is), once every reference is checked."""
    errors: dict[str, str] = {}
    facility = None
    if values.get("facility_id") is not None:
        facility = session.get(Facility, values["facility_id"])
        if facility is None:
            errors["facility_id"] = N_("no such facility")
    if (
        values.get("field_office_id") is not None
        and session.get(FieldOffice, values["field_office_id"]) is None
    ):
        errors["field_office_id"] = N_("no such field office")
    if values.get("attorney_id") is not None:
        attorney = session.get(User, values["attorney_id"])
        if attorney is None or attorney.organization_id != actor.organization_id:
            errors["attorney_id"] = N_("no such user in your organisation")
    if errors:
        raise ServiceError(N_("some references do not exist"), errors)
    return facility


def _event(
    session: Session, actor: Actor, case: Case, kind: str, summary: str, now: datetime
) -> None:
    timeline.add(session, case.id, kind, summary, actor, now=now)


def _reindex(session: Session, case: Case) -> None:
    case.a_number_hash = validators.a_number_hash(case.a_number) if case.a_number else None
    session.execute(delete(CaseNameToken).where(CaseNameToken.case_id == case.id))
    _add_name_tokens(session, case)


def _add_name_tokens(session: Session, case: Case) -> None:
    for token in crypto.name_tokens(case.given_name, case.family_name):
        session.add(CaseNameToken(case_id=case.id, token=token))


def create_case(session: Session, actor: Actor, data: CaseCreate, now: datetime) -> Case:
    if actor.organization_id is None:
        raise ServiceError(
            N_("a case belongs to an organisation"), {"organization": N_("required")}
        )
    values = data.model_dump()
    facility = _check_references(session, actor, values)
    case = Case(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    # Everything the answer and the rules read is set before the one INSERT: the blind
    # indexes, the facility and organisation (already in the session: _check_references and
    # the token's user loaded them) and the empty collections, so that nothing is UPDATEd,
    # refreshed or lazily SELECTed afterwards (issue 12: intake in about 7 round trips).
    case.organization = session.get_one(Organization, actor.organization_id)
    if case.facility_id is not None:
        case.facility_since = now
        case.facility = facility
        if case.field_office_id is None and facility is not None:
            case.field_office_id = facility.field_office_id
    else:
        # No facility at intake: nobody has confirmed where the person is held yet.
        case.location_unknown_since = now
    case.requests = []
    case.contacts = []
    case.a_number_hash = validators.a_number_hash(case.a_number) if case.a_number else None
    session.add(case)
    # The case's row first: its name tokens refer to it (no relationship orders them). They and
    # the audit row are plain INSERTs (no unit of work: half of intake's CPU was flushing).
    session.flush()
    tokens = crypto.name_tokens(case.given_name, case.family_name)  # none to DELETE: it is new
    if tokens:
        session.connection().execute(
            insert(CaseNameToken.__table__),  # type: ignore[arg-type]
            [{"case_id": case.id, "token": token} for token in tokens],
        )
    audit.append(session, actor, "create", "case", case.id, audit.diff({}, snapshot(case)), now=now)
    _event(session, actor, case, "case_opened", N_("Case opened"), now)
    alert_service.sync_case(session, case, now, new=True)
    return case


def update_case(
    session: Session, actor: Actor, case: Case, data: CaseUpdate, now: datetime
) -> Case:
    values = data.model_dump(include=data.model_fields_set)
    closed = values.pop("closed", None)
    if "given_name" in values and values["given_name"] is None:
        raise ServiceError(N_("given_name cannot be empty"), {"given_name": N_("required")})
    for name in ("custody_status", "factors"):
        if name in values and values[name] is None:
            raise ServiceError(f"{name} cannot be null", {name: N_("cannot be null")})
    _check_references(session, actor, values)
    before = snapshot(case)
    facility_before = case.facility_id
    for name, value in values.items():
        setattr(case, name, value)
    if case.facility_id != facility_before:
        # A facility entered is a confirmed location; one removed leaves the location unknown.
        if case.facility_id is not None:
            case.location_unknown_since = None
        elif case.location_unknown_since is None:
            case.location_unknown_since = now
    if closed is True and case.closed_at is None:
        case.closed_at = now
    elif closed is False:
        case.closed_at = None
    changes = audit.diff(before, snapshot(case))
    if not changes:
        return case
    if "facility_id" in changes:
        case.facility_since = now
        # The rules read the facility's kind: load the new one.
        session.flush()
        session.expire(case, ["facility"])
    case.updated_at = now
    if {"given_name", "family_name", "a_number"} & set(changes):
        _reindex(session, case)
    audit.record(session, actor, "update", "case", case.id, changes, now=now)
    if "removal_scheduled_at" in changes:
        when = case.removal_scheduled_at
        _event(
            session,
            actor,
            case,
            "removal_scheduled" if when else "removal_cancelled",
            N_("Removal scheduled for {when}").format(when=when.isoformat())
            if when
            else N_("Scheduled removal cancelled"),
            now,
        )
    if "custody_status" in changes:
        custody = case.custody_status.value
        summary = N_("Custody status: {status}").format(status=custody)
        _event(session, actor, case, "custody_changed", summary, now)
        if case.custody_status is CustodyStatus.released:
            from tracker.services.channels import notify_family

            notify_family(session, case, "released", f"{case.id}:{now.isoformat()}", now)
    if "closed_at" in changes:
        closed = case.closed_at is not None
        kind, summary = (
            ("case_closed", N_("Case closed")) if closed else ("case_reopened", N_("Case reopened"))
        )
        _event(session, actor, case, kind, summary, now)
    session.flush()
    alert_service.sync_case(session, case, now)
    if "attorney_id" in changes:
        session.expire(case, ["attorney"])
        alert_service.notify_new_counsel(session, case, now)
    return case


def find_by_a_number(session: Session, actor: Actor, raw: str) -> list[Case]:
    digits = validators.a_number(raw)
    return list(
        session.scalars(
            select(Case).where(
                Case.organization_id == actor.organization_id,
                Case.a_number_hash == validators.a_number_hash(digits),
            )
        )
    )
