"""The urgent queue (home page): open cases of the user's organisation, most urgent first.

Urgency comes from ``tracker.rules`` alone. To keep the page fast for large organisations the
ordering pass loads only the columns the rules need (no encrypted names are decrypted);
the names are loaded for the one page of cases shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, load_only, selectinload
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker import crypto, validators
from tracker.facts import case_facts, policy_for
from tracker.models import Case, CaseNameToken, Contact, FieldOffice, Organization, User
from tracker.models import Request as CaseRequest
from tracker.rules import Flag, evaluate, urgency_key
from tracker.vocab import FlagKind
from tracker.web.pages_render import Badge, PageContext, badges, page, zone_for

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    flag: FlagKind | None = None
    field_office_id: uuid.UUID | None = None
    attorney_id: uuid.UUID | None = None
    q: str = ""
    page: int = 1

    @property
    def active(self) -> bool:
        return bool(self.flag or self.field_office_id or self.attorney_id or self.q)


@dataclass(frozen=True)
class QueueRow:
    case: Case
    badges: list[Badge]
    zone: str


@dataclass(frozen=True)
class Queue:
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    search_note: str


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def parse_filters(ctx: PageContext) -> QueueFilters:
    params = ctx.request.query_params
    raw_flag = params.get("flag", "")
    flag = FlagKind(raw_flag) if raw_flag in FlagKind.__members__ else None
    try:
        page_no = max(1, min(int(params.get("page", "1")), 10_000))
    except ValueError:
        page_no = 1
    return QueueFilters(
        flag=flag,
        field_office_id=_uuid(params.get("field_office_id", "")),
        attorney_id=_uuid(params.get("attorney_id", "")),
        q=params.get("q", "").strip()[:200],
        page=page_no,
    )


def _search(stmt: Select[Case], q: str) -> tuple[Select[Case], str]:
    """Narrow by A-number (exact, via its blind index) or by whole name words (all must match)."""
    if not q:
        return stmt, ""
    try:
        digits = validators.a_number(q)
    except ValueError:
        digits = None
    if digits is not None:
        return stmt.where(Case.a_number_hash == validators.a_number_hash(digits)), "A-number"
    tokens = crypto.name_tokens(q)
    if not tokens:
        return stmt, ""
    matching = (
        select(CaseNameToken.case_id)
        .where(CaseNameToken.token.in_(tokens))
        .group_by(CaseNameToken.case_id)
        .having(func.count(func.distinct(CaseNameToken.token)) == len(tokens))
    )
    return stmt.where(Case.id.in_(matching)), "name"


def load_queue(session: Session, org: Organization, filters: QueueFilters, now: datetime) -> Queue:
    stmt = (
        select(Case)
        .where(Case.organization_id == org.id, Case.closed_at.is_(None))
        .options(
            load_only(
                Case.id,
                Case.organization_id,
                Case.custody_status,
                Case.removal_scheduled_at,
                Case.closed_at,
                Case.facility_id,
                Case.field_office_id,
                Case.attorney_id,
                Case.created_at,
            ),
            selectinload(Case.requests).load_only(
                CaseRequest.id,
                CaseRequest.case_id,
                CaseRequest.kind,
                CaseRequest.status,
                CaseRequest.appeal_of_id,
                CaseRequest.filed_at,
                CaseRequest.decided_at,
                CaseRequest.stay_expires_at,
                CaseRequest.documentation_received_at,
                CaseRequest.created_at,
            ),
            selectinload(Case.contacts).load_only(
                Contact.id,
                Contact.case_id,
                Contact.unreachable,
                Contact.unreachable_since,
                Contact.created_at,
            ),
        )
    )
    if filters.field_office_id is not None:
        stmt = stmt.where(Case.field_office_id == filters.field_office_id)
    if filters.attorney_id is not None:
        stmt = stmt.where(Case.attorney_id == filters.attorney_id)
    stmt, search_note = _search(stmt, filters.q)
    policy = policy_for(org)
    ranked: list[tuple[tuple[int, float, float], str, uuid.UUID, list[Flag]]] = []
    for case in session.scalars(stmt):
        flags = evaluate(case_facts(case), now, policy)
        if filters.flag is not None and not any(f.kind is filters.flag for f in flags):
            continue
        # Ties (no flags, no removal) fall back to the oldest intake first.
        key = urgency_key(flags, case.removal_scheduled_at)
        ranked.append((key, case.created_at.isoformat(), case.id, flags))
    ranked.sort(key=lambda item: (item[0], item[1]))
    total = len(ranked)
    pages = max(1, -(-total // PAGE_SIZE))
    page_no = min(filters.page, pages)
    window = ranked[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    ids = [item[2] for item in window]
    full = {
        c.id: c
        for c in session.scalars(
            select(Case).where(Case.id.in_(ids)).execution_options(populate_existing=True)
        )
    }
    rows = []
    for _key, _created, case_id, flags in window:
        case = full[case_id]
        zone = zone_for(case, org)
        rows.append(QueueRow(case=case, badges=badges(flags, now, zone), zone=zone))
    return Queue(rows=rows, total=total, page=page_no, pages=pages, search_note=search_note)


def queue_page(ctx: PageContext) -> Response:
    filters = parse_filters(ctx)
    queue = load_queue(ctx.db, ctx.org, filters, ctx.now)
    offices = list(ctx.db.scalars(select(FieldOffice).order_by(FieldOffice.name)))
    attorneys = list(
        ctx.db.scalars(
            select(User)
            .where(User.organization_id == ctx.org.id, User.active.is_(True))
            .order_by(User.email)
        )
    )
    return ctx.render(
        "queue.html",
        {
            "title": "Urgent queue",
            "queue": queue,
            "filters": filters,
            "flag_kinds": list(FlagKind),
            "offices": offices,
            "attorneys": attorneys,
        },
    )


routes: list[BaseRoute] = [Route("/", page(queue_page), methods=["GET"], name="queue")]
