"""The urgency queue behind ``GET /api/cases``, built to stay fast at 100,000 cases.

Two segments, in this order:

1. **Flagged**: each flag the rules can raise has a due time that SQL can compute from indexed
   columns (the removal time; decision + 48 h; filing + the policy's unanswered days for the
   kind; the stay's expiry; since when a contact is unreachable; since when the location is
   unknown + the policy's whereabouts hours). The database finds, per case,
   the soonest of these — the ``flag_due`` — and orders by (flag_due, removal, created_at, id).
   The SQL mirrors ``tracker.rules`` condition for condition; the flags answered for the page are
   then computed by the rules themselves (``tests/web/test_api_queue.py`` holds the two equal).
2. **The rest**: the open cases with no flag, by removal time (scheduled first), created_at, id.

Only one page of cases is ever loaded into Python. The cursor is opaque (base64 of JSON) and
holds the position as the sort key of the last case answered.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from tracker import crypto, rules, validators
from tracker.models import Case, CaseNameToken, Contact, Facility, Request
from tracker.rules import Policy
from tracker.schemas_out import CaseOut
from tracker.vocab import CustodyStatus, FacilityKind, FlagKind, RequestKind, RequestStatus
from tracker.web.errors import ApiError

# Far beyond any real time, in epoch seconds: where a case without removal sorts.
_FAR = 1e13


class epoch(FunctionElement[float]):
    """Seconds since 1970 of a UTC datetime column, on both backends."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS FLOAT)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC as text; julianday keeps the microseconds unixepoch() would drop.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


# What the answer (``CaseOut``) and the rules (``facts.case_facts``) read of a listed case, in
# CaseOut's order first: not its blind index, creator or organisation. Each column selected is
# one more value to convert per row (on SQLite a UUID is parsed in Python), 51 rows a page.
CASE_FIELDS = tuple(name for name in CaseOut.model_fields if name not in ("flags", "protected_by"))
CASE_COLUMNS = tuple(
    Case.__table__.c[name] for name in (*CASE_FIELDS, "facility_since", "location_unknown_since")
)

# Since when the case's earliest still-unreachable contact is unreachable: all that
# ``facts.case_facts`` reads of a listed case's contacts, as one column of the page's statement
# rather than a statement of its own.
UNREACHABLE_SINCE = (
    select(func.min(Contact.unreachable_since))
    .where(
        Contact.case_id == Case.id,
        Contact.unreachable.is_(True),
        Contact.unreachable_since.is_not(None),
    )
    .scalar_subquery()
    .label("unreachable_since")
)


def page_cases() -> Any:
    """The SELECT of a page's cases (``CASE_COLUMNS``, their facility's kind and
    ``UNREACHABLE_SINCE``), to be given its WHERE, order and limit."""
    cases, facilities = Case.__table__, Facility.__table__
    return select(
        *CASE_COLUMNS, facilities.c.kind.label("facility_kind"), UNREACHABLE_SINCE
    ).outerjoin(facilities, facilities.c.id == cases.c.facility_id)


# A time, or the bound parameter that will hold it (``_urgent_statement``).
_When = datetime | BindParameter[Any]


def _ts(value: datetime) -> float:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()


@dataclass(frozen=True)
class CaseQuery:
    organization_id: uuid.UUID
    flag: FlagKind | None = None
    field_office_id: uuid.UUID | None = None
    attorney_id: uuid.UUID | None = None
    q: str | None = None
    include_closed: bool = False


@dataclass(frozen=True)
class Page:
    case_ids: list[uuid.UUID]
    next_cursor: str | None
    # Whole rows of the page's cases (``_urgent_statement``'s columns) when the query that found
    # them already read them: the caller need not select them again.
    rows: dict[uuid.UUID, Any] = field(default_factory=dict)


def encode_cursor(position: Sequence[Any]) -> str:
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# The epoch seconds a cursor may hold: any datetime, or the "no removal" sentinel.
_EARLIEST = -62_135_596_800.0  # 0001-01-01T00:00Z


def _finite(*values: Any) -> bool:
    return all(
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
        and _EARLIEST <= v <= _FAR
        for v in values
    )


def _bad_cursor() -> ApiError:
    return ApiError(422, "invalid", "the cursor is not valid", {"cursor": "not a valid cursor"})


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    """The position a cursor encodes; a 422 naming ``cursor`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if isinstance(value, list) and value and value[0] in ("f", "r") and len(value) == 5:
            segment, first, removal, created, case_id = value
            if _finite(first, removal, created):
                return (segment, float(first), float(removal), float(created), uuid.UUID(case_id))
    except (ValueError, TypeError, AttributeError, binascii.Error, RecursionError):
        pass
    raise _bad_cursor()


def filter_conditions(query: CaseQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Case.organization_id == query.organization_id]
    if not query.include_closed:
        conds.append(Case.closed_at.is_(None))
    if query.field_office_id is not None:
        conds.append(Case.field_office_id == query.field_office_id)
    if query.attorney_id is not None:
        conds.append(Case.attorney_id == query.attorney_id)
    if query.q:
        conds.append(_search_condition(query.q))
    return conds


def _search_condition(q: str) -> ColumnElement[bool]:
    """An A-number (any common format) or whole words of the names, all of them."""
    try:
        digits = validators.a_number(q)
    except ValueError:
        digits = None
    if digits is not None:
        return Case.a_number_hash == validators.a_number_hash(digits)
    tokens = sorted(crypto.name_tokens(q))
    if not tokens:
        return false()
    matching = (
        select(CaseNameToken.case_id)
        .where(CaseNameToken.token.in_(tokens))
        .group_by(CaseNameToken.case_id)
        .having(func.count(CaseNameToken.token) == len(tokens))
    )
    return Case.id.in_(matching)


# Made once: aliasing a mapped class costs more than the rest of a page's SQL construction.
# Each use sits in its own EXISTS subquery, so sharing them across statements is safe.
_PARENT = aliased(Request)
_GRANDPARENT = aliased(Request)
_STAY = aliased(Request)


def _is_stay(req: Any) -> ColumnElement[bool]:
    """``RequestFacts.is_stay``: a stay, or an appeal whose chain starts at a stay."""
    parent = _PARENT
    grandparent = _GRANDPARENT
    root_is_stay = (
        select(parent.id)
        .outerjoin(grandparent, grandparent.id == parent.appeal_of_id)
        .where(
            parent.id == req.appeal_of_id,
            or_(
                and_(parent.appeal_of_id.is_(None), parent.kind == RequestKind.stay_of_removal),
                grandparent.kind == RequestKind.stay_of_removal,
            ),
        )
        .exists()
    )
    return or_(
        req.kind == RequestKind.stay_of_removal,
        and_(req.kind == RequestKind.appeal, root_is_stay),
    )


def _active_stay(now: _When) -> ColumnElement[bool]:
    """``rules.has_active_stay``: a granted stay (any forum) not expired at ``now``."""
    stay = _STAY
    return (
        select(stay.id)
        .where(
            stay.case_id == Case.id,
            stay.status == RequestStatus.granted,
            or_(stay.stay_expires_at.is_(None), stay.stay_expires_at > now),
            _is_stay(stay),
        )
        .exists()
    )


def _removal_imminent(now: _When, horizon: _When) -> list[ColumnElement[bool]]:
    """The cases ``removal_imminent`` flags (besides the filters): removal inside the horizon."""
    active_stay = _active_stay(now)
    return [
        Case.removal_scheduled_at.is_not(None),
        Case.removal_scheduled_at <= horizon,
        Case.custody_status != CustodyStatus.removed,
        ~active_stay,
    ]


def _due_rows(query: CaseQuery, now: datetime, policy: Policy, kind: FlagKind | None) -> Any:
    """(case_id, due) of every flag the rules would raise at ``now`` (or only of ``kind``)."""
    base = [*filter_conditions(query), Case.closed_at.is_(None)]
    horizon = now + policy.horizon
    parts = []

    def want(*kinds: FlagKind) -> bool:
        return kind is None or kind in kinds

    if want(FlagKind.removal_imminent):
        parts.append(
            select(Case.id.label("case_id"), epoch(Case.removal_scheduled_at).label("due")).where(
                *base, *_removal_imminent(now, horizon)
            )
        )
    decided: list[ColumnElement[bool]] = [
        Request.decided_at.is_not(None),
        Request.documentation_received_at.is_(None),
        Request.status.in_([RequestStatus.granted, RequestStatus.denied]),
    ]
    window = rules.DOCUMENTATION_WINDOW
    if want(FlagKind.documentation_due, FlagKind.documentation_overdue):
        if kind is FlagKind.documentation_due:
            decided.append(Request.decided_at >= now - window)
        elif kind is FlagKind.documentation_overdue:
            decided.append(Request.decided_at < now - window)
        parts.append(
            select(
                Request.case_id,
                (epoch(Request.decided_at) + window.total_seconds()).label("due"),
            )
            .join(Case, Case.id == Request.case_id)
            .where(*base, *decided)
        )
    if want(FlagKind.unanswered):
        kinds = [k.value for k in RequestKind]
        after = {k: policy.unanswered_after(k) for k in kinds}
        parts.append(
            select(
                Request.case_id,
                (
                    epoch(Request.filed_at)
                    + case(
                        *[(Request.kind == k, after[k].total_seconds()) for k in kinds],
                        else_=policy.unanswered_after("").total_seconds(),
                    )
                ).label("due"),
            )
            .join(Case, Case.id == Request.case_id)
            .where(
                *base,
                Request.status == RequestStatus.filed,
                Request.filed_at.is_not(None),
                or_(*[and_(Request.kind == k, Request.filed_at <= now - after[k]) for k in kinds]),
            )
        )
    if want(FlagKind.stay_expiring):
        parts.append(
            select(Request.case_id, epoch(Request.stay_expires_at).label("due"))
            .join(Case, Case.id == Request.case_id)
            .where(
                *base,
                Request.status == RequestStatus.granted,
                Request.stay_expires_at.is_not(None),
                Request.stay_expires_at <= horizon,
                _is_stay(Request),
            )
        )
    if want(FlagKind.removal_likely):
        parts.append(
            select(
                Case.id.label("case_id"),
                epoch(func.coalesce(Case.facility_since, Case.created_at)).label("due"),
            )
            .join(Facility, Facility.id == Case.facility_id)
            .where(
                *base,
                Facility.kind == FacilityKind.staging,
                Case.custody_status == CustodyStatus.detained,
                ~_active_stay(now),
            )
        )
    if want(FlagKind.whereabouts_unknown):
        wait = policy.whereabouts_after
        since = Case.location_unknown_since
        parts.append(
            select(
                Case.id.label("case_id"), (epoch(since) + wait.total_seconds()).label("due")
            ).where(
                *base,
                Case.custody_status == CustodyStatus.detained,
                since.is_not(None),
                since <= now - wait,
            )
        )
    if want(FlagKind.unreachable):
        parts.append(
            select(Contact.case_id, epoch(Contact.unreachable_since).label("due"))
            .join(Case, Case.id == Contact.case_id)
            .where(*base, Contact.unreachable.is_(True), Contact.unreachable_since.is_not(None))
        )
    if not parts:
        # A kind the rules never raise (an event's alert, as ``transferred``): no case has it.
        parts.append(
            select(Case.id.label("case_id"), literal(0.0, Float).label("due")).where(false())
        )
    return union_all(*parts).subquery()


def _from_ts(value: float) -> datetime:
    # Exact for the values _ts produces: a float of whole microseconds rounds back to them.
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=value)
    except OverflowError:  # a forged cursor past year 9999 (e.g. the "no removal" sentinel)
        raise _bad_cursor() from None


@functools.cache
def _urgent_statement(after: bool) -> Any:
    """``flag=removal_imminent`` for an organisation, unfiltered: the same conditions as the
    general path below, with bound values instead of literals (``after``: from a cursor)."""
    conds = [
        Case.organization_id == bindparam("org_id"),
        Case.closed_at.is_(None),
        *_removal_imminent(bindparam("now"), bindparam("horizon")),
    ]
    if after:
        conds.append(
            tuple_(Case.removal_scheduled_at, Case.created_at, Case.id)
            > tuple_(
                bindparam("after_removal", type_=Case.removal_scheduled_at.type),
                bindparam("after_created", type_=Case.created_at.type),
                bindparam("after_id", type_=Case.id.type),
            )
        )
    # What the list answers of the page's cases: the page is all it answers, so it is read
    # here once rather than by id afterwards.
    return (
        page_cases()
        .where(*conds)
        .order_by(Case.removal_scheduled_at, Case.created_at, Case.id)
        .limit(bindparam("limit"))
    )


def _removal_imminent_page(
    session: Session,
    query: CaseQuery,
    now: datetime,
    policy: Policy,
    limit: int,
    position: tuple[Any, ...] | None,
    whole: dict[uuid.UUID, Any],
) -> tuple[list[uuid.UUID], tuple[Any, ...] | None, bool]:
    """The ``flag=removal_imminent`` page, straight from the (organisation, removal) index.

    One flag per case, due at the removal itself, so the order (flag_due, removal, created, id)
    is the order of the raw columns: the index hands the rows over sorted and the stay check
    runs for one page of them, not for every case inside the horizon. The cursor holds the
    same values as the general path's (exact epoch seconds, computed here in Python).
    """
    plain = query == CaseQuery(query.organization_id, flag=query.flag)
    if plain:
        # The common page (no filters): the statement built once, its values bound per call.
        stmt = _urgent_statement(position is not None)
        params: dict[str, Any] = {
            "org_id": query.organization_id,
            "now": now,
            "horizon": now + policy.horizon,
            "limit": limit + 1,
        }
        if position is not None:
            params |= {
                "after_removal": _from_ts(position[2]),
                "after_created": _from_ts(position[3]),
                "after_id": position[4],
            }
        rows: Iterable[Any] = session.connection().execute(stmt, params)
    else:
        conds = [
            *filter_conditions(query),
            Case.closed_at.is_(None),
            *_removal_imminent(now, now + policy.horizon),
        ]
        if position is not None:
            conds.append(
                tuple_(Case.removal_scheduled_at, Case.created_at, Case.id)
                > tuple_(
                    literal(_from_ts(position[2]), Case.removal_scheduled_at.type),
                    literal(_from_ts(position[3]), Case.created_at.type),
                    literal(position[4], Case.id.type),
                )
            )
        stmt = (
            select(Case.id, Case.removal_scheduled_at, Case.created_at)
            .where(*conds)
            .order_by(Case.removal_scheduled_at, Case.created_at, Case.id)
            .limit(limit + 1)
        )
        rows = session.execute(stmt)
    fetched = list(rows)  # at most limit + 1: one more says there is a next page
    page_rows = fetched[:limit]
    ids: list[uuid.UUID] = [row[0] for row in page_rows]  # the id: first in both statements
    if plain:
        whole.update(zip(ids, page_rows, strict=True))
    last: tuple[Any, ...] | None = None
    if page_rows:  # only the last case's position makes the cursor
        row = page_rows[-1]
        due = _ts(row.removal_scheduled_at)
        last = ("f", due, due, _ts(row.created_at), str(row.id))
    return ids, last, len(fetched) > limit


def page(
    session: Session,
    query: CaseQuery,
    now: datetime,
    policy: Policy,
    limit: int,
    cursor: str | None = None,
) -> Page:
    position = decode_cursor(cursor) if cursor else None
    # Building the union is Python work too: only the paths that read it build it.
    dues = (
        None
        if query.flag is FlagKind.removal_imminent
        else _due_rows(query, now, policy, query.flag)
    )
    removal = func.coalesce(epoch(Case.removal_scheduled_at), literal(_FAR))
    created = epoch(Case.created_at)
    ids: list[uuid.UUID] = []
    whole: dict[uuid.UUID, Any] = {}
    last: tuple[Any, ...] | None = None
    more = False
    if query.flag is FlagKind.removal_imminent:
        if position is None or position[0] == "f":
            ids, last, more = _removal_imminent_page(
                session, query, now, policy, limit, position, whole
            )
    elif position is None or position[0] == "f":
        assert dues is not None
        flagged = (
            select(dues.c.case_id, func.min(dues.c.due).label("flag_due"))
            .group_by(dues.c.case_id)
            .subquery()
        )
        key = tuple_(flagged.c.flag_due, removal, created, Case.id)
        stmt = select(Case.id, flagged.c.flag_due, removal.label("r"), created.label("c")).join(
            flagged, flagged.c.case_id == Case.id
        )
        if position is not None:
            stmt = stmt.where(key > tuple_(*(literal(v) for v in position[1:])))
        stmt = stmt.order_by(flagged.c.flag_due, removal, created, Case.id).limit(limit + 1)
        for row in session.execute(stmt):
            if len(ids) == limit:
                more = True
                break
            ids.append(row.id)
            last = ("f", row.flag_due, row.r, row.c, str(row.id))
    if not more and query.flag is None:
        assert dues is not None
        key = tuple_(removal, created, Case.id)
        stmt = select(Case.id, removal.label("r"), created.label("c")).where(
            *filter_conditions(query), Case.id.not_in(select(dues.c.case_id))
        )
        if position is not None and position[0] == "r":
            stmt = stmt.where(key > tuple_(*(literal(v) for v in position[2:])))
        stmt = stmt.order_by(removal, created, Case.id).limit(limit + 1 - len(ids))
        for row in session.execute(stmt):
            if len(ids) == limit:
                more = True
                break
            ids.append(row.id)
            last = ("r", 0.0, row.r, row.c, str(row.id))
    return Page(ids, encode_cursor(last) if more and last is not None else None, whole)


def ordering_key(flags: Sequence[rules.Flag], case: Case) -> tuple[float, float, float, str]:
    """The order the SQL above produces, computed from the rules' flags (for tests)."""
    removal = _ts(case.removal_scheduled_at) if case.removal_scheduled_at else _FAR
    soonest = min((_ts(f.due_at) for f in flags), default=math.inf)
    return (soonest, removal, _ts(case.created_at), case.id.hex)


__all__ = [
    "CASE_COLUMNS",
    "CASE_FIELDS",
    "UNREACHABLE_SINCE",
    "CaseQuery",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "ordering_key",
    "page",
    "page_cases",
]
