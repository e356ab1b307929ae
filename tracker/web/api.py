"""The JSON API (issue 3): handlers and THE route table ``OPERATIONS``.

Every handler runs inside one transaction opened by ``api_routing`` after the bearer token
and the operation's permission are checked; the services write audit entries and outbox rows
in that same transaction. Another organisation's id answers 404 exactly like a missing one
(the services' ``get_*`` scope every lookup by organisation).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import bindparam, null, select
from sqlalchemy.orm import Session, lazyload

from tracker import facts, rules
from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    Contact,
    Facility,
    FieldOffice,
    Notification,
    Organization,
    Request,
)
from tracker.rules import Flag, Policy
from tracker.schemas import (
    AppealIn,
    CaseCreate,
    CaseUpdate,
    ContactCreate,
    ContactUpdate,
    CustodyEventIn,
    DeterminationIn,
    DocumentationIn,
    FacilityCreate,
    ReplyIn,
    RequestCreate,
    RequestUpdate,
    ShiftCreate,
)
from tracker.schemas_out import (
    AlertList,
    AlertOut,
    AuditEntryOut,
    AuditList,
    CaseDetail,
    CaseList,
    CaseOut,
    ContactOut,
    ConversationMessageList,
    ConversationMessageOut,
    ConversationOut,
    CustodyEventList,
    CustodyEventOut,
    FacilityList,
    FacilityOut,
    FieldOfficeList,
    FieldOfficeOut,
    FlagOut,
    InboxList,
    NotificationList,
    NotificationOut,
    OnCallOut,
    RequestOut,
    ShiftList,
    ShiftOut,
    StayOut,
)
from tracker.services import Actor, NotFound, audit, conversations, liaisons
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import custody as custody_service
from tracker.services import facilities as facility_service
from tracker.services import oncall as oncall_service
from tracker.services import requests as request_service
from tracker.validators import mask_phone
from tracker.vocab import FacilityKind, FlagKind
from tracker.web import api_queue
from tracker.web.api_routing import Context, Operation
from tracker.web.calendar_routes import CalendarUrlOut, my_calendar, rotate_calendar
from tracker.web.errors import ApiError
from tracker.web.reports_routes import FieldOfficeReportOut, ReportQuery, field_office_report_json

# ---------------------------------------------------------------------------------------------
# Query parameters


class _Query(BaseModel):
    # Unknown parameters are ignored, as HTTP caches and proxies sometimes add their own.
    model_config = ConfigDict(extra="ignore")


Cursor = Annotated[str, StringConstraints(max_length=512)]


class CaseListQuery(_Query):
    flag: FlagKind | None = Field(None, description="only cases carrying this flag")
    field_office_id: uuid.UUID | None = None
    attorney_id: uuid.UUID | None = None
    q: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="whole words of the names, or an A-number in any common format"
    )
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = Field(None, description="next_cursor of the previous page")
    closed: bool = Field(False, description="include closed cases")


class AlertListQuery(_Query):
    open: bool | None = Field(None, description="true: not resolved; false: resolved")
    case_id: uuid.UUID | None = None
    limit: int = Field(100, ge=1, le=500)


class NotificationListQuery(_Query):
    limit: int = Field(100, ge=1, le=500)


class InboxQuery(_Query):
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = Field(None, description="next_cursor of the previous page")


class AuditListQuery(_Query):
    limit: int = Field(100, ge=1, le=500)
    cursor: Cursor | None = None


# ---------------------------------------------------------------------------------------------
# Building responses


def _policy(ctx: Context) -> Policy:
    return facts.organization_policy(ctx.session, ctx.actor.organization_id)


def _flags(ctx: Context, case: Case) -> list[Flag]:
    return rules.evaluate(facts.case_facts(case), ctx.now, _policy(ctx))


def _stay(ctx: Context, case: Any) -> StayOut | None:
    return StayOut.of(rules.protecting_stay(facts.case_facts(case).requests, ctx.now))


_CASE_FIELDS = api_queue.CASE_FIELDS
_REQUEST_FIELDS = [name for name in RequestOut.model_fields if name not in ("flags", "appeal_of")]
_CONTACT_FIELDS = [name for name in ContactOut.model_fields if name != "opted_out"]


def _case_values(case: Any) -> dict[str, Any]:
    """The answer's own fields of a case: a Case, or a row selected as ``CASE_COLUMNS`` (the
    list and one-case reads), whose leading columns are these fields in this order."""
    if isinstance(case, Case):
        return {name: getattr(case, name) for name in _CASE_FIELDS}
    # By position: a row's attributes are looked up by name one by one, 7x slower.
    return dict(zip(_CASE_FIELDS, case, strict=False))


def _case_out(case: Any, flags: Sequence[Flag], stay: StayOut | None = None) -> CaseOut:
    return CaseOut(**_case_values(case), flags=[FlagOut.of(f) for f in flags], protected_by=stay)


def _request_out(request: Any, flags: Sequence[Flag]) -> RequestOut:
    values: dict[str, Any] = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    mine = [FlagOut.of(f) for f in flags if f.request_id == request.id]
    return RequestOut(**values, appeal_of=request.appeal_of_id, flags=mine)


def _contact_out(contact: Any) -> ContactOut:
    values: dict[str, Any] = {name: getattr(contact, name) for name in _CONTACT_FIELDS}
    return ContactOut(**values, opted_out=contact.opted_out_at is not None)


def _detail(ctx: Context, case: Case, fields: Any = None) -> CaseDetail:
    """``fields``: where the case's own columns are read, when ``case`` holds only the rules'
    inputs (a row of ``get_case``)."""
    case_facts = facts.case_facts(case)
    flags = rules.evaluate(case_facts, ctx.now, _policy(ctx))
    stay = StayOut.of(rules.protecting_stay(case_facts.requests, ctx.now))
    # Built once, as a CaseDetail: not as a CaseOut first, validated again field by field.
    return CaseDetail(
        **_case_values(fields if fields is not None else case),
        flags=[FlagOut.of(f) for f in flags],
        protected_by=stay,
        contacts=[_contact_out(c) for c in case.contacts],
        requests=[_request_out(r, flags) for r in case.requests],
    )


def _request_response(ctx: Context, request: Any) -> RequestOut:
    return _request_out(request, _flags(ctx, request.case))


def _id(ctx: Context) -> uuid.UUID:
    value = ctx.path["id"]
    assert isinstance(value, uuid.UUID)
    return value


# ---------------------------------------------------------------------------------------------
# Cases


def create_case(ctx: Context) -> CaseDetail:
    case, flags = case_service.open_case(ctx.session, ctx.actor, ctx.body, ctx.now)
    values: dict[str, Any] = {name: getattr(case, name) for name in _CASE_FIELDS}
    # New: no requests (so no stay protects it yet) and no contacts.
    return CaseDetail(**values, flags=[FlagOut.of(f) for f in flags], contacts=[], requests=[])


# Only what the rules read: no notes, names or phones to decrypt.
_RULES_REQUEST_COLUMNS = (
    Request.case_id,
    Request.id,
    Request.kind,
    Request.status,
    Request.appeal_of_id,
    Request.filed_at,
    Request.decided_at,
    Request.stay_expires_at,
    Request.documentation_received_at,
    Request.forum,
    Request.temporary,
)


@dataclass(slots=True)
class _RequestRow:
    """A request as ``facts.request_facts`` reads it, from one row."""

    id: uuid.UUID
    kind: Any
    status: Any
    appeal_of_id: uuid.UUID | None
    filed_at: datetime | None
    decided_at: datetime | None
    stay_expires_at: datetime | None
    documentation_received_at: datetime | None
    forum: Any
    temporary: bool
    # Appeals stay in their case, so the chain resolves among the case's own requests.
    appeal_of: None = None


@dataclass(slots=True)
class _FacilityKindRow:
    kind: FacilityKind


@dataclass(slots=True)
class _UnreachableRow:
    """A listed case's earliest unreachable contact, as ``facts.case_facts`` reads contacts."""

    unreachable_since: datetime
    unreachable: bool = True


@dataclass(slots=True)
class _RulesView:
    """A case as ``facts.case_facts`` reads it: ORM objects for a whole page of requests and
    contacts cost more than everything else a list request does."""

    id: uuid.UUID
    custody_status: Any
    removal_scheduled_at: datetime | None
    closed_at: datetime | None
    facility_since: datetime | None
    created_at: datetime
    location_unknown_since: datetime | None
    facility: Any = None
    requests: list[_RequestRow] = field(default_factory=list)
    contacts: list[Any] = field(default_factory=list)


def _page_flags(
    ctx: Context, cases: Sequence[Any], policy: Policy
) -> list[tuple[list[Flag], StayOut | None]]:
    """Flags and protecting stay of each of a page of case rows (``api_queue.page_cases``), in
    their order, from plain rows: the cases' own, and one statement for their requests."""
    views = {}
    for c in cases:
        m = c._mapping
        kind, since = m["facility_kind"], m["unreachable_since"]
        views[m["id"]] = _RulesView(
            m["id"],
            m["custody_status"],
            m["removal_scheduled_at"],
            m["closed_at"],
            m["facility_since"],
            m["created_at"],
            m["location_unknown_since"],
            _FacilityKindRow(kind) if kind is not None else None,
            [],
            [_UnreachableRow(since)] if since is not None else [],
        )
    if views:
        rows = ctx.session.connection().execute(_PAGE_REQUESTS, {"ids": list(views)})
        for row in rows:
            views[row[0]].requests.append(_RequestRow(*row[1:]))
    out = []
    for view in views.values():
        case_facts = facts.case_facts(cast(Case, view))
        out.append(
            (
                rules.evaluate(case_facts, ctx.now, policy),
                StayOut.of(rules.protecting_stay(case_facts.requests, ctx.now)),
            )
        )
    return out


def list_cases(ctx: Context) -> CaseList:
    q: CaseListQuery = ctx.query
    assert ctx.actor.organization_id is not None
    query = api_queue.CaseQuery(
        organization_id=ctx.actor.organization_id,
        flag=q.flag,
        field_office_id=q.field_office_id,
        attorney_id=q.attorney_id,
        q=q.q.strip() if q.q else None,
        include_closed=q.closed,
    )
    policy = _policy(ctx)
    result = api_queue.page(ctx.session, query, ctx.now, policy, q.limit, q.cursor)
    # One page of cases, as rows: their flags come from the rules, like everywhere else.
    if result.rows:
        rows = list(result.rows.values())  # in the page's order
    else:
        loaded = {
            row.id: row
            for row in ctx.session.connection().execute(_PAGE_CASES, {"ids": result.case_ids})
        }
        rows = [loaded[i] for i in result.case_ids if i in loaded]
    items = [
        _case_out(row, *flags)
        for row, flags in zip(rows, _page_flags(ctx, rows, policy), strict=True)
    ]
    return CaseList(items=items, next_cursor=result.next_cursor)


# One case as plain rows (no ORM objects: hydrating them cost more than the rest of the read),
# in Core (table columns, on the session's connection: no ORM execution path either). The
# column types decrypt names, numbers and notes as everywhere.
_CASES, _FACILITIES = Case.__table__, Facility.__table__
_REQUESTS, _CONTACTS = Request.__table__, Contact.__table__
_CASE_READ = (
    select(*api_queue.CASE_COLUMNS, _FACILITIES.c.kind.label("facility_kind"))
    .outerjoin(_FACILITIES, _FACILITIES.c.id == _CASES.c.facility_id)
    .where(_CASES.c.id == bindparam("case_id"), _CASES.c.organization_id == bindparam("org_id"))
)
_CASE_REQUESTS = (
    select(*_REQUESTS.c, null().label("appeal_of"))  # chains resolve within the case
    .where(_REQUESTS.c.case_id == bindparam("case_id"))
    .order_by(_REQUESTS.c.created_at)
)
_CASE_CONTACTS = (
    select(*(_CONTACTS.c[name] for name in (*_CONTACT_FIELDS, "opted_out_at", "unreachable_since")))
    .where(_CONTACTS.c.case_id == bindparam("case_id"))
    .order_by(_CONTACTS.c.created_at)
)


# A page's cases (with their facility's kind and earliest unreachable contact), and only what
# the rules read of their requests (no notes to decrypt). Built once; ``ids`` expands per call.
_PAGE_CASES = api_queue.page_cases().where(_CASES.c.id.in_(bindparam("ids", expanding=True)))
_PAGE_REQUESTS = (
    select(*(_REQUESTS.c[c.key] for c in _RULES_REQUEST_COLUMNS))
    .where(_REQUESTS.c.case_id.in_(bindparam("ids", expanding=True)))
    .order_by(_REQUESTS.c.case_id, _REQUESTS.c.created_at, _REQUESTS.c.id)
)


def get_case(ctx: Context) -> CaseDetail:
    params = {"case_id": _id(ctx), "org_id": ctx.actor.organization_id}
    conn = ctx.session.connection()
    row = conn.execute(_CASE_READ, params).one_or_none()
    if row is None:  # as ``case_service.get_case``: another organisation's id is not found
        raise NotFound("case")
    audit.record_read(ctx.session, ctx.actor, "case", row.id, now=ctx.now)
    view = _RulesView(
        row.id,
        row.custody_status,
        row.removal_scheduled_at,
        row.closed_at,
        row.facility_since,
        row.created_at,
        row.location_unknown_since,
        _FacilityKindRow(row.facility_kind) if row.facility_kind is not None else None,
        cast(Any, conn.execute(_CASE_REQUESTS, params).all()),
        cast(Any, conn.execute(_CASE_CONTACTS, params).all()),
    )
    return _detail(ctx, cast(Case, view), row)


def update_case(ctx: Context) -> CaseDetail:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    case = case_service.update_case(ctx.session, ctx.actor, case, ctx.body, ctx.now)
    return _detail(ctx, case)


# ---------------------------------------------------------------------------------------------
# Contacts


def create_contact(ctx: Context) -> ContactOut:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    contact = contact_service.add_contact(ctx.session, ctx.actor, case, ctx.body, ctx.now)
    return _contact_out(contact)


def update_contact(ctx: Context) -> ContactOut:
    contact = contact_service.get_contact(ctx.session, ctx.actor, _id(ctx))
    contact = contact_service.update_contact(ctx.session, ctx.actor, contact, ctx.body, ctx.now)
    ctx.session.flush()
    return _contact_out(contact)


def delete_contact(ctx: Context) -> None:
    contact = contact_service.get_contact(ctx.session, ctx.actor, _id(ctx))
    contact_service.delete_contact(ctx.session, ctx.actor, contact, ctx.now)


# ---------------------------------------------------------------------------------------------
# Requests


def create_request(ctx: Context) -> RequestOut:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    request = request_service.create_request(ctx.session, ctx.actor, case, ctx.body, ctx.now)
    return _request_response(ctx, request)


def get_request(ctx: Context) -> RequestOut:
    request = request_service.get_request(ctx.session, ctx.actor, _id(ctx))
    audit.record(ctx.session, ctx.actor, "read", "request", request.id, now=ctx.now)
    return _request_response(ctx, request)


# What each request operation does to the request its path names; it answers with the request
# it returns (for an appeal, the new one).
_RequestChange = Callable[[Session, Actor, Request, Any, datetime], Request]


def _change_request(ctx: Context, change: _RequestChange) -> RequestOut:
    request = request_service.get_request(ctx.session, ctx.actor, _id(ctx))
    return _request_response(ctx, change(ctx.session, ctx.actor, request, ctx.body, ctx.now))


def update_request(ctx: Context) -> RequestOut:
    return _change_request(ctx, request_service.update_request)


def record_determination(ctx: Context) -> RequestOut:
    return _change_request(ctx, request_service.record_determination)


def record_documentation(ctx: Context) -> RequestOut:
    return _change_request(ctx, request_service.record_documentation)


def appeal_request(ctx: Context) -> RequestOut:
    return _change_request(ctx, request_service.appeal)


# ---------------------------------------------------------------------------------------------
# Alerts and notifications


def list_alerts(ctx: Context) -> AlertList:
    q: AlertListQuery = ctx.query
    stmt = select(Alert).where(Alert.organization_id == ctx.actor.organization_id)
    if q.open is True:
        stmt = stmt.where(Alert.resolved_at.is_(None))
    elif q.open is False:
        stmt = stmt.where(Alert.resolved_at.is_not(None))
    if q.case_id is not None:
        stmt = stmt.where(Alert.case_id == q.case_id)
    stmt = stmt.order_by(Alert.raised_at.desc(), Alert.id).limit(q.limit)
    return AlertList(items=[AlertOut.model_validate(a) for a in ctx.session.scalars(stmt)])


def acknowledge_alert(ctx: Context) -> AlertOut:
    alert = alert_service.get_alert(ctx.session, ctx.actor, _id(ctx))
    alert = alert_service.acknowledge(ctx.session, ctx.actor, alert, ctx.now, via="api")
    return AlertOut.model_validate(alert)


def list_notifications(ctx: Context) -> NotificationList:
    q: NotificationListQuery = ctx.query
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    audit.record(ctx.session, ctx.actor, "read", "case_notifications", case.id, now=ctx.now)
    # Never the body (it is for the recipient's eyes) and never the full number.
    rows = ctx.session.execute(
        select(
            Notification.id,
            Notification.kind,
            Notification.to_phone,
            Notification.contact_id,
            Notification.language,
            Notification.channel,
            Notification.status,
            Notification.attempts,
            Notification.error_code,
            Notification.error_message,
            Notification.segments,
            Notification.encoding,
            Notification.created_at,
            Notification.sent_at,
            Notification.delivered_at,
        )
        .where(Notification.case_id == case.id)
        .order_by(Notification.created_at.desc(), Notification.id)
        .limit(q.limit)
    ).all()
    items = []
    for row in rows:
        values = row._asdict()
        values["recipient"] = mask_phone(values.pop("to_phone"))
        items.append(NotificationOut(**values))
    return NotificationList(items=items)


# ---------------------------------------------------------------------------------------------
# Reference data


def list_field_offices(ctx: Context) -> FieldOfficeList:
    offices = ctx.session.scalars(select(FieldOffice).order_by(FieldOffice.code))
    assert ctx.actor.organization_id is not None
    # The liaison fields are the reader's organisation's own, never another's.
    own = liaisons.of_org(ctx.session, ctx.actor.organization_id)
    return FieldOfficeList(items=[FieldOfficeOut.of(o, own.get(o.id)) for o in offices])


def list_facilities(ctx: Context) -> FacilityList:
    rows = ctx.session.scalars(
        select(Facility).options(lazyload(Facility.field_office)).order_by(Facility.name)
    )
    return FacilityList(items=[FacilityOut.model_validate(f) for f in rows])


def create_facility(ctx: Context) -> FacilityOut:
    facility = facility_service.create_facility(ctx.session, ctx.actor, ctx.body, ctx.now)
    return FacilityOut.model_validate(facility)


# ---------------------------------------------------------------------------------------------
# On-call shifts (issue 15)


def _shift_out(shift: Any) -> ShiftOut:
    name, phone, _language = oncall_service.person(shift)
    return ShiftOut(
        id=shift.id,
        user_id=shift.user_id,
        name=name,
        phone=mask_phone(phone) if phone else "",
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        weekly=shift.weekly,
    )


def list_shifts(ctx: Context) -> ShiftList:
    org = ctx.session.get(Organization, ctx.actor.organization_id)
    assert org is not None
    return ShiftList(
        items=[_shift_out(s) for s in oncall_service.shifts_of(ctx.session, org.id)],
        on_call_now=[
            OnCallOut(shift_id=p.shift_id, name=p.name, phone=mask_phone(p.phone), until=p.until)
            for p in oncall_service.on_call_now(ctx.session, org, ctx.now)
        ],
    )


def create_shift(ctx: Context) -> ShiftOut:
    return _shift_out(oncall_service.create_shift(ctx.session, ctx.actor, ctx.body, ctx.now))


def delete_shift(ctx: Context) -> None:
    shift = oncall_service.get_shift(ctx.session, ctx.actor, _id(ctx))
    oncall_service.delete_shift(ctx.session, ctx.actor, shift, ctx.now)


# ---------------------------------------------------------------------------------------------
# The two-way inbox (issue 15)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise ApiError(422, "invalid", "the cursor is not valid", {"cursor": "not valid"})
    return int(cursor)


def list_inbox(ctx: Context) -> InboxList:
    q: InboxQuery = ctx.query
    assert ctx.actor.organization_id is not None
    offset = _offset(q.cursor)
    rows, more = conversations.inbox(ctx.session, ctx.actor.organization_id, q.limit, offset)
    return InboxList(
        items=[ConversationOut(**vars(r)) for r in rows],
        unread=conversations.unread_count(ctx.session, ctx.actor.organization_id),
        next_cursor=str(offset + len(rows)) if more else None,
    )


def _message_out(item: conversations.ThreadItem) -> ConversationMessageOut:
    m = item.message
    return ConversationMessageOut(
        id=m.id,
        case_id=m.case_id,
        contact_id=m.contact_id,
        direction=m.direction,
        channel=m.channel,
        body=m.body,
        created_at=m.created_at,
        read_at=m.read_at,
        status=item.status,
        segments=item.segments,
        notification_id=m.notification_id,
        author_id=m.author_id,
    )


def list_case_messages(ctx: Context) -> ConversationMessageList:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    # Opening the conversation reads it: marked read and audited.
    conversations.mark_read(ctx.session, ctx.actor, case.id, None, ctx.now)
    ctx.session.flush()
    return ConversationMessageList(
        items=[_message_out(i) for i in conversations.thread(ctx.session, case.id)]
    )


def reply_to_case(ctx: Context) -> ConversationMessageOut:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    data: ReplyIn = ctx.body
    message = conversations.reply(ctx.session, ctx.actor, case, data.contact_id, data.body, ctx.now)
    ctx.session.flush()
    [item] = [i for i in conversations.thread(ctx.session, case.id) if i.message.id == message.id]
    return _message_out(item)


# ---------------------------------------------------------------------------------------------
# Audit


def list_case_audit(ctx: Context) -> AuditList:
    q: AuditListQuery = ctx.query
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    after = 0
    if q.cursor is not None:
        if not q.cursor.isdigit() or len(q.cursor) > 18:
            raise ApiError(422, "invalid", "the cursor is not valid", {"cursor": "not valid"})
        after = int(q.cursor)
    subjects = {str(case.id)}
    subjects.update(str(r.id) for r in case.requests)
    subjects.update(str(c.id) for c in case.contacts)
    subjects.update(
        str(i) for i in ctx.session.scalars(select(Alert.id).where(Alert.case_id == case.id))
    )
    audit.record(ctx.session, ctx.actor, "read", "case_audit", case.id, now=ctx.now)
    ctx.session.flush()
    entries = list(
        ctx.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.organization_id == ctx.actor.organization_id,
                AuditEntry.entity_id.in_(sorted(subjects)),
                AuditEntry.id > after,
            )
            .order_by(AuditEntry.id)
            .limit(q.limit + 1)
        )
    )
    more = len(entries) > q.limit
    entries = entries[: q.limit]
    return AuditList(
        items=[AuditEntryOut.model_validate(e) for e in entries],
        next_cursor=str(entries[-1].id) if more and entries else None,
    )


def create_custody_event(ctx: Context) -> CustodyEventOut:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    event = custody_service.record_event(ctx.session, ctx.actor, case, ctx.body, ctx.now)
    return CustodyEventOut.model_validate(event)


def list_custody_events(ctx: Context) -> CustodyEventList:
    case = case_service.get_case(ctx.session, ctx.actor, _id(ctx))
    audit.record(ctx.session, ctx.actor, "read", "custody_events", case.id, now=ctx.now)
    return CustodyEventList(
        items=[
            CustodyEventOut.model_validate(e)
            for e in custody_service.list_events(ctx.session, case)
        ]
    )


# ---------------------------------------------------------------------------------------------
# THE route table: method, path, handler, permission (tracker.permissions.PERMISSIONS), models.

_UUID = "{id:uuid}"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/api/cases",
        create_case,
        "case.create",
        "Open a case (intake)",
        CaseDetail,
        status=201,
        body=CaseCreate,
        location="/api/cases/{id}",
        tags=("cases",),
        plain_auth=True,
    ),
    Operation(
        "GET",
        "/api/cases",
        list_cases,
        "case.read",
        "Cases by urgency (soonest due flag first, then removal time)",
        CaseList,
        query=CaseListQuery,
        tags=("cases",),
        read_only=True,
    ),
    Operation(
        "GET",
        f"/api/cases/{_UUID}",
        get_case,
        "case.read",
        "A case with its contacts, requests and flags (the read is audited)",
        CaseDetail,
        tags=("cases",),
        read_only=True,
    ),
    Operation(
        "PATCH",
        f"/api/cases/{_UUID}",
        update_case,
        "case.update",
        "Change a case: only the fields sent",
        CaseDetail,
        body=CaseUpdate,
        tags=("cases",),
    ),
    Operation(
        "POST",
        f"/api/cases/{_UUID}/contacts",
        create_contact,
        "contact.write",
        "Add a contact (counsel, family, other) to a case",
        ContactOut,
        status=201,
        body=ContactCreate,
        tags=("contacts",),
    ),
    Operation(
        "PATCH",
        f"/api/contacts/{_UUID}",
        update_contact,
        "contact.write",
        "Change a contact: only the fields sent",
        ContactOut,
        body=ContactUpdate,
        tags=("contacts",),
    ),
    Operation(
        "DELETE",
        f"/api/contacts/{_UUID}",
        delete_contact,
        "contact.write",
        "Remove a contact",
        None,
        status=204,
        tags=("contacts",),
    ),
    Operation(
        "POST",
        f"/api/cases/{_UUID}/requests",
        create_request,
        "request.create",
        "Draft or file a stay, release or prosecutorial-discretion request",
        RequestOut,
        status=201,
        body=RequestCreate,
        location="/api/requests/{id}",
        tags=("requests",),
    ),
    Operation(
        "GET",
        f"/api/requests/{_UUID}",
        get_request,
        "case.read",
        "A request with its flags (the read is audited)",
        RequestOut,
        tags=("requests",),
        read_only=True,
    ),
    Operation(
        "PATCH",
        f"/api/requests/{_UUID}",
        update_request,
        "request.update",
        "Change a request: only the fields sent",
        RequestOut,
        body=RequestUpdate,
        tags=("requests",),
    ),
    Operation(
        "POST",
        f"/api/requests/{_UUID}/determination",
        record_determination,
        "request.decide",
        "Record ICE's determination (opens the 48-hour documentation window)",
        RequestOut,
        body=DeterminationIn,
        tags=("requests",),
    ),
    Operation(
        "POST",
        f"/api/requests/{_UUID}/documentation",
        record_documentation,
        "request.decide",
        "Record the written documentation of the determination",
        RequestOut,
        body=DocumentationIn,
        tags=("requests",),
    ),
    Operation(
        "POST",
        f"/api/requests/{_UUID}/appeal",
        appeal_request,
        "request.decide",
        "Appeal a denied request: a new appeal request linked by appeal_of",
        RequestOut,
        status=201,
        body=AppealIn,
        body_required=False,
        location="/api/requests/{id}",
        tags=("requests",),
    ),
    Operation(
        "POST",
        f"/api/cases/{_UUID}/custody-events",
        create_custody_event,
        "custody.write",
        "Record a transfer, a confirmed location, a release, a removal or lost whereabouts",
        CustodyEventOut,
        status=201,
        body=CustodyEventIn,
        tags=("custody",),
    ),
    Operation(
        "GET",
        f"/api/cases/{_UUID}/custody-events",
        list_custody_events,
        "case.read",
        "The custody history of a case, latest first (the read is audited)",
        CustodyEventList,
        tags=("custody",),
    ),
    Operation(
        "GET",
        "/api/alerts",
        list_alerts,
        "alert.read",
        "Alerts of the organisation, newest first",
        AlertList,
        query=AlertListQuery,
        tags=("alerts",),
    ),
    Operation(
        "POST",
        f"/api/alerts/{_UUID}/ack",
        acknowledge_alert,
        "alert.ack",
        "Acknowledge an alert (stops its escalation); idempotent",
        AlertOut,
        tags=("alerts",),
    ),
    Operation(
        "GET",
        f"/api/cases/{_UUID}/notifications",
        list_notifications,
        "case.read",
        "The SMS of a case and their delivery status (recipients masked)",
        NotificationList,
        query=NotificationListQuery,
        tags=("notifications",),
    ),
    Operation(
        "GET",
        "/api/inbox",
        list_inbox,
        "conversation.read",
        "Conversations with families and counsel: unread first, then latest (no texts here)",
        InboxList,
        query=InboxQuery,
        tags=("inbox",),
    ),
    Operation(
        "GET",
        f"/api/cases/{_UUID}/messages",
        list_case_messages,
        "conversation.read",
        "The case's conversation, both directions with delivery status; marks it read (audited)",
        ConversationMessageList,
        tags=("inbox",),
    ),
    Operation(
        "POST",
        f"/api/cases/{_UUID}/messages",
        reply_to_case,
        "conversation.reply",
        "Reply to a contact of the case by SMS through the outbox (at most 1,600 characters "
        "and 10 segments; not to an opted-out or unconsented contact)",
        ConversationMessageOut,
        status=201,
        body=ReplyIn,
        tags=("inbox",),
    ),
    Operation(
        "GET",
        "/api/field-offices",
        list_field_offices,
        "reference.read",
        "ICE ERO field offices",
        FieldOfficeList,
        tags=("reference",),
    ),
    Operation(
        "GET",
        "/api/facilities",
        list_facilities,
        "reference.read",
        "Detention facilities",
        FacilityList,
        tags=("reference",),
    ),
    Operation(
        "POST",
        "/api/facilities",
        create_facility,
        "reference.write",
        "Add a detention facility (admin)",
        FacilityOut,
        status=201,
        body=FacilityCreate,
        tags=("reference",),
    ),
    Operation(
        "GET",
        "/api/on-call-shifts",
        list_shifts,
        "oncall.read",
        "On-call shifts of the organisation and who is on call now",
        ShiftList,
        tags=("on-call",),
    ),
    Operation(
        "POST",
        "/api/on-call-shifts",
        create_shift,
        "oncall.write",
        "Add an on-call shift: user_id, or name and mobile phone; weekly repeats (admin)",
        ShiftOut,
        status=201,
        body=ShiftCreate,
        tags=("on-call",),
    ),
    Operation(
        "DELETE",
        f"/api/on-call-shifts/{_UUID}",
        delete_shift,
        "oncall.write",
        "Remove an on-call shift (admin)",
        None,
        status=204,
        tags=("on-call",),
    ),
    Operation(
        "GET",
        f"/api/cases/{_UUID}/audit",
        list_case_audit,
        "audit.read",
        "Who read or changed the case (admin, coordinator)",
        AuditList,
        query=AuditListQuery,
        tags=("audit",),
    ),
    Operation(
        "GET",
        "/api/reports/field-offices",
        field_office_report_json,
        "report.read",
        "Field-office report of the organisation (internal: small cells are not withheld)",
        FieldOfficeReportOut,
        query=ReportQuery,
        tags=("reports",),
        read_only=True,
    ),
    Operation(
        "GET",
        "/api/me/calendar",
        my_calendar,
        "calendar.own",
        "The secret URL of your calendar feed (made on first request)",
        CalendarUrlOut,
        tags=("calendar",),
        headers=(("Cache-Control", "no-store"),),
    ),
    Operation(
        "POST",
        "/api/me/calendar/rotate",
        rotate_calendar,
        "calendar.own",
        "A new calendar-feed URL; the old one stops working",
        CalendarUrlOut,
        tags=("calendar",),
        headers=(("Cache-Control", "no-store"),),
    ),
)
