"""Custody events: where the person is, as it becomes known (transfers, confirmations, release,
removal, whereabouts unknown). Each is recorded with its audit entry, its timeline line, the
case's new place and its SMS in the caller's transaction.

A transfer moves the case's facility and field office (and so the zone its times are shown in),
and raises a ``transferred`` alert: counsel are texted "moved from A to B, now under field office
C" in their language, acknowledged and escalated like any alert; consented family get a plain
message naming the new facility.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import rules
from tracker.i18n import N_
from tracker.models import Case, CustodyEvent, Facility
from tracker.presentation import CUSTODY_EVENT_LABELS
from tracker.schemas import CustodyEventIn, not_after
from tracker.services import Actor, ServiceError, audit, timeline
from tracker.services import alerts as alert_service
from tracker.services.channels import notify_family
from tracker.vocab import CustodyEventKind, CustodyStatus, FlagKind

# Kinds that name a facility (a transfer must; a confirmation may); the others must not.
NEEDS_FACILITY = frozenset({CustodyEventKind.transferred})
MAY_NAME_FACILITY = frozenset({CustodyEventKind.transferred, CustodyEventKind.located})
# The kinds that confirm where the person is (``whereabouts_unknown`` says nobody knows).
CONFIRMS_LOCATION = frozenset({CustodyEventKind.transferred, CustodyEventKind.located})
CUSTODY_AFTER = {
    CustodyEventKind.transferred: CustodyStatus.detained,
    CustodyEventKind.located: CustodyStatus.detained,
    CustodyEventKind.released: CustodyStatus.released,
    CustodyEventKind.removed: CustodyStatus.removed,
}


def _check(session: Session, data: CustodyEventIn, case: Case, now: datetime) -> Facility | None:
    errors: dict[str, str] = {}
    try:
        not_after(data.at, now, "at")
    except ValueError as exc:
        errors["at"] = str(exc)
    facility: Facility | None = None
    if data.facility_id is not None:
        if data.kind not in MAY_NAME_FACILITY:
            errors["facility_id"] = N_("a {kind} event names no facility").format(
                kind=data.kind.value
            )
        else:
            facility = session.get(Facility, data.facility_id)
            if facility is None:
                errors["facility_id"] = N_("no such facility")
    elif data.kind in NEEDS_FACILITY:
        errors["facility_id"] = N_("a transfer names the facility the person was moved to")
    if (
        data.kind is CustodyEventKind.transferred
        and facility is not None
        and facility.id == case.facility_id
    ):
        errors["facility_id"] = N_("the person is already recorded at this facility")
    if errors:
        raise ServiceError(N_("the custody event cannot be recorded"), errors)
    return facility


def _place(facility: Facility | None) -> str:
    return facility.name if facility is not None else "an unknown facility"


def list_events(session: Session, case: Case) -> list[CustodyEvent]:
    return list(
        session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.case_id == case.id)
            .order_by(CustodyEvent.at.desc(), CustodyEvent.created_at.desc())
        )
    )


def record_event(
    session: Session, actor: Actor, case: Case, data: CustodyEventIn, now: datetime
) -> CustodyEvent:
    facility = _check(session, data, case, now)
    before = case.facility
    # An event typed in after a later one (a backfilled history) is recorded, but it neither
    # moves the case back nor alerts or texts anyone: where the person is now is the newest news.
    newest = session.scalar(
        select(func.max(CustodyEvent.at)).where(CustodyEvent.case_id == case.id)
    )
    current = newest is None or data.at >= newest
    event = CustodyEvent(
        id=uuid.uuid4(),
        case_id=case.id,
        kind=data.kind,
        at=data.at,
        facility_id=facility.id if facility is not None else None,
        from_facility_id=case.facility_id if data.kind is CustodyEventKind.transferred else None,
        source=data.source or None,
        notes=data.notes or None,
        actor_id=actor.user_id,
        created_at=now,
    )
    audit.created(
        session,
        actor,
        event,
        "custody_event",
        audit.diff(
            {},
            {
                "kind": data.kind.value,
                "at": data.at,
                "facility_id": event.facility_id,
                "source": event.source,
                "notes": event.notes,
            },
        ),
        organization_id=case.organization_id,
        now=now,
    )
    case_before = {
        "facility_id": case.facility_id,
        "field_office_id": case.field_office_id,
        "custody_status": case.custody_status,
        "location_unknown_since": case.location_unknown_since,
    }
    status = CUSTODY_AFTER.get(data.kind) if current else None
    if current and data.kind is CustodyEventKind.whereabouts_unknown:
        # Already unknown since earlier (opened with no facility, say): that clock keeps running.
        since = case.location_unknown_since
        case.location_unknown_since = data.at if since is None else min(since, data.at)
    elif current and data.kind in CONFIRMS_LOCATION:
        case.location_unknown_since = None
    if status is not None:
        case.custody_status = status
    if current and facility is not None and facility.id != case.facility_id:
        case.facility_id = facility.id
        case.facility_since = data.at
        if facility.field_office_id is not None:
            case.field_office_id = facility.field_office_id
    changes = audit.diff(
        case_before,
        {
            "facility_id": case.facility_id,
            "field_office_id": case.field_office_id,
            "custody_status": case.custody_status,
            "location_unknown_since": case.location_unknown_since,
        },
    )
    if changes:
        case.updated_at = now
        audit.record(session, actor, "update", "case", case.id, changes, now=now)
    session.flush()
    session.expire(case, ["facility", "field_office"])
    label = CUSTODY_EVENT_LABELS[data.kind]
    if data.kind is CustodyEventKind.transferred:
        office = case.field_office
        places = {"origin": _place(before), "destination": _place(facility)}
        summary = (
            N_(
                "Transferred from {origin} to {destination}, now under the {office} field office"
            ).format(**places, office=office.name)
            if office is not None
            else N_("Transferred from {origin} to {destination}").format(**places)
        )
    elif facility is not None:
        summary = N_("{event}: at {facility}").format(event=label, facility=facility.name)
    else:
        summary = label
    # Each line is one marked template, so pages can show it in the reader's language.
    if data.source:
        summary = N_("{summary} (source: {source})").format(summary=summary, source=data.source)
    if not current:
        summary = N_("{summary} (recorded after a later event: the case stays where it is)").format(
            summary=summary
        )
    timeline.add(
        session,
        case.id,
        f"custody_{data.kind.value}",
        summary,
        actor,
        {"custody_event_id": str(event.id)},
        now=now,
    )
    if current and data.kind is CustodyEventKind.transferred:
        _alert_transfer(session, actor, case, event, now)
    if current and data.kind is CustodyEventKind.released:
        notify_family(session, case, "released", f"{case.id}:{event.id}", now)
    alert_service.sync_case(session, case, now)
    return event


def _alert_transfer(
    session: Session, actor: Actor, case: Case, event: CustodyEvent, now: datetime
) -> None:
    flag = rules.Flag(event.at, FlagKind.transferred, case.id)
    alert_service.raise_event_alert(session, case, flag, now, actor)
    facility = case.facility
    notify_family(
        session,
        case,
        "transferred_family",
        str(event.id),
        now,
        {"facility": facility.name if facility is not None else ""},
    )
