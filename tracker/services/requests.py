"""Requests and their lifecycle: filing, determination, documentation, appeal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.i18n import N_
from tracker.models import Case, FieldOffice, Request
from tracker.presentation import REQUEST_KIND_LABELS, STAY_FORUM_LABELS
from tracker.schemas import (
    AppealIn,
    DeterminationIn,
    DocumentationIn,
    RequestCreate,
    RequestUpdate,
    not_after,
)
from tracker.services import Actor, NotFound, ServiceError, audit, timeline
from tracker.services import alerts as alert_service
from tracker.services.channels import notify_family
from tracker.vocab import RequestKind, RequestStatus

AUDITED_FIELDS = (
    "kind",
    "forum",
    "temporary",
    "appeal_of_id",
    "filed_at",
    "field_office_id",
    "status",
    "decided_at",
    "stay_expires_at",
    "documentation_received_at",
    "documentation_language",
    "advised_right_to_appeal",
    "notes",
)


def _forum_note(request: Request) -> str:
    """ " by the BIA (temporary)": who decided a stay, for timeline lines; nothing otherwise."""
    if request.kind is not RequestKind.stay_of_removal:
        return ""
    forum = STAY_FORUM_LABELS[request.forum]
    if request.temporary:
        return N_(" by {forum} (temporary)").format(forum=forum)
    return N_(" by {forum}").format(forum=forum)


def get_request(session: Session, actor: Actor, request_id: uuid.UUID) -> Request:
    request = session.get(Request, request_id)
    if request is None or request.case.organization_id != actor.organization_id:
        raise NotFound("request")
    return request


def _check_time(value: datetime | None, now: datetime, field: str, what: str) -> None:
    try:
        not_after(value, now, what)
    except ValueError as exc:
        raise ServiceError(str(exc), {field: str(exc)}) from exc


def _check_office(session: Session, office_id: uuid.UUID | None) -> None:
    if office_id is not None and session.get(FieldOffice, office_id) is None:
        raise ServiceError(
            N_("no such field office"), {"field_office_id": N_("no such field office")}
        )


def _event(
    session: Session, actor: Actor, request: Request, kind: str, summary: str, now: datetime
) -> None:
    timeline.add(
        session, request.case_id, kind, summary, actor, {"request_id": str(request.id)}, now=now
    )


def _notify_family(
    session: Session, request: Request, kind: str, now: datetime, with_kind: bool = True
) -> None:
    data = {"request_kind": request.kind.value} if with_kind else None
    notify_family(session, request.case, kind, str(request.id), now, data)


def _after_change(
    session: Session,
    actor: Actor,
    request: Request,
    before: dict[str, Any],
    now: datetime,
    action: str = "update",
) -> None:
    changes = audit.diff(before, audit.snapshot(request, AUDITED_FIELDS))
    if changes:
        request.updated_at = now
        audit.record(
            session,
            actor,
            action,
            "request",
            request.id,
            changes,
            organization_id=request.case.organization_id,
            now=now,
        )
    session.flush()
    session.refresh(request.case)
    alert_service.sync_case(session, request.case, now)


def create_request(
    session: Session,
    actor: Actor,
    case: Case,
    data: RequestCreate,
    now: datetime,
    appeal_of: Request | None = None,
) -> Request:
    _check_time(data.filed_at, now, "filed_at", "filed_at")
    _check_office(session, data.field_office_id)
    if data.kind is RequestKind.appeal and appeal_of is None:
        raise ServiceError(
            N_("an appeal is created from the denied request it appeals"),
            {"kind": N_("use the appeal form of the denied request")},
        )
    status = data.status or (RequestStatus.filed if data.filed_at else RequestStatus.draft)
    filed_at = data.filed_at or (now if status is RequestStatus.filed else None)
    request = Request(
        id=uuid.uuid4(),
        case_id=case.id,
        kind=data.kind,
        forum=data.forum,
        appeal_of_id=appeal_of.id if appeal_of else None,
        filed_at=filed_at,
        field_office_id=data.field_office_id or case.field_office_id,
        status=status,
        notes=data.notes,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    case.requests.append(request)
    label = REQUEST_KIND_LABELS[request.kind]
    summary = (
        N_("{kind} request filed")
        if status is RequestStatus.filed
        else N_("{kind} request drafted")
    ).format(kind=label)
    _event(session, actor, request, "request_created", summary, now)
    if status is RequestStatus.filed:
        _notify_family(session, request, "request_filed", now)
    _after_change(session, actor, request, {}, now, action="create")
    return request


def update_request(
    session: Session, actor: Actor, request: Request, data: RequestUpdate, now: datetime
) -> Request:
    values = data.model_dump(include=data.model_fields_set)
    _check_time(values.get("filed_at"), now, "filed_at", "filed_at")
    _check_office(session, values.get("field_office_id"))
    if request.status in (RequestStatus.granted, RequestStatus.denied) and "status" in values:
        raise ServiceError(
            N_("a decided request cannot change status"),
            {"status": N_("already {status}").format(status=request.status.value)},
        )
    before = audit.snapshot(request, AUDITED_FIELDS)
    for name, value in values.items():
        if value is not None or name == "notes":
            setattr(request, name, value)
    if request.status is RequestStatus.filed and request.filed_at is None:
        request.filed_at = now
    if before["status"] is not RequestStatus.filed and request.status is RequestStatus.filed:
        label = REQUEST_KIND_LABELS[request.kind]
        summary = N_("{kind} request filed").format(kind=label)
        _event(session, actor, request, "request_filed", summary, now)
        _notify_family(session, request, "request_filed", now)
    if (
        request.status is RequestStatus.withdrawn
        and before["status"] is not RequestStatus.withdrawn
    ):
        label = REQUEST_KIND_LABELS[request.kind]
        summary = N_("{kind} request withdrawn").format(kind=label)
        _event(session, actor, request, "request_withdrawn", summary, now)
    _after_change(session, actor, request, before, now)
    return request


def _check_determination(request: Request, data: DeterminationIn, now: datetime) -> None:
    _check_time(data.decided_at, now, "decided_at", "decided_at")
    errors: dict[str, str] = {}
    if request.status not in (RequestStatus.filed, RequestStatus.draft):
        errors["outcome"] = N_("the request is already {status}").format(
            status=request.status.value
        )
    if request.filed_at is not None and data.decided_at < request.filed_at:
        errors["decided_at"] = N_("the decision cannot precede the filing")
    if data.stay_expires_at is not None:
        if data.outcome != "granted":
            errors["stay_expires_at"] = N_("only a granted stay has an expiry")
        elif data.stay_expires_at <= data.decided_at:
            errors["stay_expires_at"] = N_("the stay must expire after the decision")
    if data.temporary:
        if data.outcome != "granted":
            errors["temporary"] = N_("only a granted stay can be temporary")
        elif data.stay_expires_at is None:
            errors["stay_expires_at"] = N_("a temporary stay needs its expiry")
    if errors:
        raise ServiceError(N_("the determination cannot be recorded"), errors)


def record_determination(
    session: Session, actor: Actor, request: Request, data: DeterminationIn, now: datetime
) -> Request:
    _check_determination(request, data, now)
    before = audit.snapshot(request, AUDITED_FIELDS)
    request.status = RequestStatus(data.outcome)
    request.decided_at = data.decided_at
    request.stay_expires_at = data.stay_expires_at
    request.temporary = data.temporary
    if request.filed_at is None:
        request.filed_at = data.decided_at
    label = REQUEST_KIND_LABELS[request.kind]
    _event(
        session,
        actor,
        request,
        "determination",
        (
            N_("{kind} request granted{forum}")
            if data.outcome == "granted"
            else N_("{kind} request denied{forum}")
        ).format(kind=label, forum=_forum_note(request)),
        now,
    )
    _notify_family(session, request, f"decision_{data.outcome}", now)
    _after_change(session, actor, request, before, now)
    return request


def record_documentation(
    session: Session, actor: Actor, request: Request, data: DocumentationIn, now: datetime
) -> Request:
    _check_time(data.received_at, now, "received_at", "received_at")
    if request.decided_at is None:
        raise ServiceError(
            N_("documentation follows a determination"),
            {"received_at": N_("the request has no determination yet")},
        )
    if data.received_at < request.decided_at:
        raise ServiceError(
            N_("documentation cannot precede the determination"),
            {"received_at": N_("before the determination")},
        )
    before = audit.snapshot(request, AUDITED_FIELDS)
    request.documentation_received_at = data.received_at
    request.documentation_language = data.language
    request.advised_right_to_appeal = data.advised_right_to_appeal
    _event(
        session,
        actor,
        request,
        "documentation_received",
        (
            N_(
                "Documentation of the {kind} decision received "
                "({language}; right to appeal advised)"
            )
            if data.advised_right_to_appeal
            else N_(
                "Documentation of the {kind} decision received "
                "({language}; right to appeal NOT advised)"
            )
        ).format(kind=REQUEST_KIND_LABELS[request.kind].lower(), language=data.language),
        now,
    )
    _notify_family(session, request, "documentation_received", now, with_kind=False)
    _after_change(session, actor, request, before, now)
    return request


def appeal(
    session: Session, actor: Actor, request: Request, data: AppealIn, now: datetime
) -> Request:
    if request.status is not RequestStatus.denied:
        raise ServiceError(
            N_("only a denied request can be appealed"),
            {"status": N_("the request is {status}").format(status=request.status.value)},
        )
    created = create_request(
        session,
        actor,
        request.case,
        RequestCreate(
            kind=RequestKind.appeal,
            filed_at=data.filed_at,
            notes=data.notes,
            field_office_id=request.field_office_id,
            status=RequestStatus.filed if data.filed_at else None,
        ),
        now,
        appeal_of=request,
    )
    return created
