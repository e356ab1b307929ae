"""The urgent queue (home page): open cases of the user's organisation, most urgent first.

The order is the JSON API's (``tracker.web.api_queue``): the database finds one page of cases
by the soonest due time of their flags — SQL that mirrors ``tracker.rules`` and is held equal
to it by ``tests/web/test_api_queue.py`` — so the page costs the same with 100 open cases or
100,000 (``bench/bench_pages.py``). The badges of the page's cases come from
``tracker.rules.evaluate`` itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker import validators
from tracker.facts import case_facts, policy_for
from tracker.i18n import N_
from tracker.models import Case, FieldOffice, Organization, User
from tracker.presentation import STAY_FORUM_LABELS, zone_of
from tracker.rules import RequestFacts, evaluate, protecting_stay
from tracker.vocab import FlagKind
from tracker.web import api_queue
from tracker.web.errors import ApiError
from tracker.web.pages_oncall import who_is_on_call
from tracker.web.pages_render import Badge, PageContext, badges, page

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    flag: FlagKind | None = None
    field_office_id: uuid.UUID | None = None
    attorney_id: uuid.UUID | None = None
    q: str = ""
    cursor: str = ""

    @property
    def active(self) -> bool:
        return bool(self.flag or self.field_office_id or self.attorney_id or self.q)


@dataclass(frozen=True)
class QueueRow:
    case: Case
    badges: list[Badge]
    zone: str
    # The granted stay that protects the person now (which forum, until when), if any.
    protecting: RequestFacts | None = None


@dataclass(frozen=True)
class Queue:
    rows: list[QueueRow]
    # Open cases matching the filters other than the flag (None with a flag filter).
    total: int | None
    next_cursor: str | None
    search_note: str


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def parse_filters(ctx: PageContext) -> QueueFilters:
    params = ctx.request.query_params
    raw_flag = params.get("flag", "")
    return QueueFilters(
        flag=FlagKind(raw_flag) if raw_flag in FlagKind.__members__ else None,
        field_office_id=_uuid(params.get("field_office_id", "")),
        attorney_id=_uuid(params.get("attorney_id", "")),
        q=params.get("q", "").strip()[:200],
        cursor=params.get("cursor", "")[:500],
    )


def _search_note(q: str) -> str:
    if not q:
        return ""
    try:
        validators.a_number(q)
    except ValueError:
        return N_("name")
    return N_("A-number")


def load_queue(
    session: Session, org: Organization, filters: QueueFilters, now: datetime, default_zone: str
) -> Queue:
    query = api_queue.CaseQuery(
        org.id,
        flag=filters.flag,
        field_office_id=filters.field_office_id,
        attorney_id=filters.attorney_id,
        q=filters.q or None,
    )
    policy = policy_for(org)
    try:
        result = api_queue.page(session, query, now, policy, PAGE_SIZE, filters.cursor or None)
    except ApiError:
        # A mangled ``cursor`` in a bookmarked link: start from the most urgent.
        result = api_queue.page(session, query, now, policy, PAGE_SIZE)
    loaded = {
        c.id: c
        for c in session.scalars(
            select(Case)
            .where(Case.id.in_(result.case_ids), Case.organization_id == org.id)
            .options(selectinload(Case.requests), selectinload(Case.contacts))
        )
    }
    rows = []
    for case_id in result.case_ids:
        case = loaded[case_id]
        zone = zone_of(
            default_zone, facility=case.facility, field_office=case.field_office, organization=org
        )
        facts = case_facts(case)
        flags = evaluate(facts, now, policy)
        rows.append(
            QueueRow(
                case=case,
                badges=badges(flags, now, zone),
                zone=zone,
                protecting=protecting_stay(facts.requests, now),
            )
        )
    total = None
    if filters.flag is None:
        total = int(
            session.scalar(
                select(func.count()).select_from(Case).where(*api_queue.filter_conditions(query))
            )
            or 0
        )
    return Queue(rows, total, result.next_cursor, _search_note(filters.q))


def queue_page(ctx: PageContext) -> Response:
    filters = parse_filters(ctx)
    queue = load_queue(ctx.db, ctx.org, filters, ctx.now, ctx.default_zone)
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
            "title": N_("Urgent queue"),
            "queue": queue,
            "filters": filters,
            "flag_kinds": list(FlagKind),
            "offices": offices,
            "attorneys": attorneys,
            "forums": STAY_FORUM_LABELS,
            "on_call": who_is_on_call(ctx),
        },
    )


routes: list[BaseRoute] = [Route("/", page(queue_page), methods=["GET"], name="queue")]
