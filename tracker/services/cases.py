"""Cases: intake, edits, closing. Every change is audited and re-checks the alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from tracker import crypto, facts, rules, validators, wakeups
from tracker.i18n import N_
from tracker.models import (
    Case,
    CaseNameToken,
    Facility,
    FieldOffice,
    Organization,
    User,
)
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


def snapshot(case: Any) -> dict[str, Any]:
    return audit.snapshot(case, AUDITED_FIELDS)


def get_case(session: Session, actor: Actor, case_id: uuid.UUID) -> Case:
    """The case if it belongs to the actor's organisation; otherwise NotFound, like a missing id."""
    case = session.get(Case, case_id)
    if case is None or case.organization_id != actor.organization_id:
        raise NotFound("case")
    return case


def _check_references(
    session: Session, actor: Actor, values: dict[str, Any], facility_found: bool | None = None
) -> None:
    """Raise ServiceError naming every reference that does not exist. ``facility_found``:
    whether the facility named exists, when the caller has looked it up itself."""
    errors: dict[str, str] = {}
    if values.get("facility_id") is not None:
        if facility_found is None:
            facility_found = session.get(Facility, values["facility_id"]) is not None
        if not facility_found:
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


def _event(
    session: Session, actor: Actor, case: Case, kind: str, summary: str, now: datetime
) -> None:
    timeline.add(session, case.id, kind, summary, actor, now=now)


def _reindex(session: Session, case: Case) -> None:
    case.a_number_hash = validators.a_number_hash(case.a_number) if case.a_number else None
    session.execute(delete(CaseNameToken).where(CaseNameToken.case_id == case.id))
    for token in crypto.name_tokens(case.given_name, case.family_name):
        session.add(CaseNameToken(case_id=case.id, token=token))


# Intake writes its rows as Core INSERTs compiled once, outside the unit of work, and reads
# only what it needs of the facility (issue 12: flushing a new Case and its event, and loading
# the facility as an object, cost more CPU than the rest of the request).
_INSERT_CASE = insert(Case.__table__)  # type: ignore[arg-type]
_INSERT_NAME_TOKENS = insert(CaseNameToken.__table__)  # type: ignore[arg-type]
_FACILITY = select(Facility.field_office_id, Facility.kind).where(Facility.id == bindparam("id"))


class NewCase(SimpleNamespace):
    """A case just opened, as ``open_case`` wrote it: every column as an attribute, and what
    ``facts.case_facts`` reads besides (its facility's kind; no requests or contacts yet)."""


def open_case(
    session: Session, actor: Actor, data: CaseCreate, now: datetime
) -> tuple[NewCase, list[rules.Flag]]:
    """Open a case: its row, name tokens, audit entry and timeline event, and the alerts it is
    already due (``alerts.sync_case``), in the caller's transaction. Returns the case as
    written and its flags at ``now``, without an ORM object unless an alert needs one."""
    if actor.organization_id is None:
        raise ServiceError(
            N_("a case belongs to an organisation"), {"organization": N_("required")}
        )
    values = data.model_dump()
    conn = session.connection()
    facility = (
        conn.execute(_FACILITY, {"id": values["facility_id"]}).one_or_none()
        if values["facility_id"] is not None
        else None
    )
    _check_references(session, actor, values, facility is not None)
    row: dict[str, Any] = {
        **values,
        "id": uuid.uuid4(),
        "organization_id": actor.organization_id,
        "a_number_hash": validators.a_number_hash(values["a_number"])
        if values["a_number"]
        else None,
        "facility_since": None,
        # No facility at intake: nobody has confirmed where the person is held yet.
        "location_unknown_since": None if facility is not None else now,
        "closed_at": None,
        "created_by_id": actor.user_id,
        "created_at": now,
        "updated_at": now,
    }
    if facility is not None:
        row["facility_since"] = now
        if row["field_office_id"] is None:
            row["field_office_id"] = facility.field_office_id
    conn.execute(_INSERT_CASE, row)
    # A new case's only future deadline is its removal (as ``wakeups`` decides for a flushed
    # one): the clock must wake for it.
    if row["removal_scheduled_at"] is not None:
        wakeups.mark(session, wakeups.CLOCK)
    tokens = crypto.name_tokens(row["given_name"], row["family_name"])
    if tokens:
        conn.execute(_INSERT_NAME_TOKENS, [{"case_id": row["id"], "token": t} for t in tokens])
    case = NewCase(**row, facility=facility, requests=[], contacts=[])
    audit.append(session, actor, "create", "case", case.id, audit.diff({}, snapshot(case)), now=now)
    # One INSERT sent now rather than an object to flush.
    timeline.add_many(
        session, [timeline.row(case.id, "case_opened", N_("Case opened"), actor, now=now)]
    )
    policy = facts.organization_policy(session, actor.organization_id)
    flags = rules.evaluate(facts.case_facts(cast(Case, case)), now, policy)
    # A new case has no open alert: sync_case would only raise the flags that alert, and most
    # cases have none at intake (a removal inside the ladder or a staging facility has).
    if any(flag.alerts for flag in flags):
        alert_service.sync_case(session, _persistent(session, case), now, new=True)
    return case, flags


def _persistent(session: Session, new: NewCase) -> Case:
    """The ORM Case of a case ``open_case`` wrote, in the session without a flush or a SELECT
    (every column is known; the facility loads when read)."""
    found = session.identity_map.get(identity_key(Case, new.id))
    if isinstance(found, Case):
        return found
    case = Case(**{name: getattr(new, name) for name in _CASE_COLUMNS})
    case.organization = session.get_one(Organization, new.organization_id)
    case.requests = []
    case.contacts = []
    make_transient_to_detached(case)  # the row is written: attach it as loaded, not as new
    session.add(case)
    return case


_CASE_COLUMNS = tuple(Case.__table__.columns.keys())


def create_case(session: Session, actor: Actor, data: CaseCreate, now: datetime) -> Case:
    """``open_case``, for a caller that goes on to change the case (contacts, requests)."""
    case, _ = open_case(session, actor, data, now)
    return _persistent(session, case)


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
