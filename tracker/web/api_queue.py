"""The urgency queue behind ``GET /api/cases``, built to stay fast at 100,000 cases.

Two segments, in this order:

1. **Flagged**: the cases that can carry a flag at ``now`` are found by indexed SQL (a removal
   within the ladder's horizon, a decision without documentation, a filed request older than the
   shortest unanswered threshold, a granted stay near its expiry, an unreachable contact). Only
   their few columns are loaded (nothing decrypted), ``tracker.rules.evaluate`` gives their flags,
   and they are ordered by ``rules.urgency_key`` (soonest due flag, then removal time), then
   created_at and id for a total order.
2. **The rest**: keyset-paged in SQL by removal time (scheduled first), created_at, id, skipping
   the flagged ones.

The cursor is opaque (base64 of JSON) and encodes the position in one of the segments, so a page
costs the flagged set's evaluation plus one short index scan, never a load of every case.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, union
from sqlalchemy.orm import Session

from tracker import crypto, rules, validators
from tracker.models import Case, CaseNameToken, Contact, Request
from tracker.rules import CaseFacts, Flag, Policy, RequestFacts
from tracker.vocab import CustodyStatus, FlagKind, RequestKind, RequestStatus
from tracker.web.errors import ApiError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = 2**62


def _us(value: datetime | None) -> int | None:
    """Exact integer microseconds since the epoch (floats lose the last digit)."""
    return None if value is None else (value - _EPOCH) // timedelta(microseconds=1)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class CaseQuery:
    organization_id: uuid.UUID
    flag: FlagKind | None = None
    field_office_id: uuid.UUID | None = None
    attorney_id: uuid.UUID | None = None
    q: str | None = None
    include_closed: bool = False


@dataclass(frozen=True)
class Entry:
    case_id: uuid.UUID
    flags: tuple[Flag, ...]


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None


def encode_cursor(position: Sequence[Any]) -> str:
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, ...]:
    """The position a cursor encodes; a 422 naming ``cursor`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        if isinstance(value, list) and value:
            if value[0] == "f" and len(value) == 5:
                _, due, removal, created, case_id = value
                if _ints(due, created) and (removal is None or _ints(removal)):
                    return ("f", due, removal, created, uuid.UUID(hex=case_id).hex)
            if value[0] == "r" and len(value) == 4:
                _, removal, created, case_id = value
                if _ints(created) and (removal is None or _ints(removal)):
                    _dt(created)  # in range, or OverflowError
                    if removal is not None:
                        _dt(removal)
                    return ("r", removal, created, uuid.UUID(hex=case_id).hex)
    except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error):
        pass
    raise ApiError(422, "invalid", "the cursor is not valid", {"cursor": "not a valid cursor"})


def _ints(*values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= _FAR for v in values)


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


def _candidate_ids(query: CaseQuery, now: datetime, policy: Policy) -> Any:
    """Ids of the open cases that can carry a flag at ``now`` (a superset; the rules decide)."""
    org = Case.organization_id == query.organization_id
    open_case = Case.closed_at.is_(None)
    removal = select(Case.id).where(
        org,
        open_case,
        Case.removal_scheduled_at.is_not(None),
        Case.removal_scheduled_at <= now + policy.horizon,
        Case.custody_status != CustodyStatus.removed,
    )
    documentation = (
        select(Request.case_id)
        .join(Case, Case.id == Request.case_id)
        .where(
            org,
            open_case,
            Request.decided_at.is_not(None),
            Request.documentation_received_at.is_(None),
        )
    )
    unanswered = (
        select(Request.case_id)
        .join(Case, Case.id == Request.case_id)
        .where(
            org,
            open_case,
            Request.status == RequestStatus.filed,
            Request.filed_at <= now - policy.min_unanswered_after,
        )
    )
    stay = (
        select(Request.case_id)
        .join(Case, Case.id == Request.case_id)
        .where(
            org,
            open_case,
            Request.status == RequestStatus.granted,
            Request.stay_expires_at.is_not(None),
            Request.stay_expires_at <= now + policy.horizon,
        )
    )
    unreachable = (
        select(Contact.case_id)
        .join(Case, Case.id == Contact.case_id)
        .where(org, open_case, Contact.unreachable.is_(True))
    )
    return union(removal, documentation, unanswered, stay, unreachable).subquery()


def _root_kinds(rows: Iterable[Any]) -> dict[uuid.UUID, RequestKind | None]:
    by_id = {r.id: r for r in rows}
    roots: dict[uuid.UUID, RequestKind | None] = {}
    for r in by_id.values():
        if r.appeal_of_id is None:
            continue
        seen: set[uuid.UUID] = set()
        current = r
        while current.appeal_of_id is not None and current.appeal_of_id not in seen:
            seen.add(current.appeal_of_id)
            parent = by_id.get(current.appeal_of_id)
            if parent is None:
                break
            current = parent
        roots[r.id] = RequestKind(current.kind) if current is not r else None
    return roots


def flagged(
    session: Session, query: CaseQuery, now: datetime, policy: Policy
) -> list[tuple[tuple[int, int, int, str], Entry]]:
    """The flagged cases matching ``query``, each with its sort key, most urgent first."""
    candidates = _candidate_ids(query, now, policy)
    conds = [*filter_conditions(query), Case.closed_at.is_(None), Case.id.in_(select(candidates))]
    case_rows = session.execute(
        select(Case.id, Case.custody_status, Case.removal_scheduled_at, Case.created_at).where(
            *conds
        )
    ).all()
    if not case_rows:
        return []
    matching = select(Case.id).where(*conds)
    request_rows = session.execute(
        select(
            Request.id,
            Request.case_id,
            Request.kind,
            Request.status,
            Request.appeal_of_id,
            Request.filed_at,
            Request.decided_at,
            Request.stay_expires_at,
            Request.documentation_received_at,
        ).where(Request.case_id.in_(matching))
    ).all()
    unreachable = dict(
        session.execute(
            select(Contact.case_id, func.min(Contact.unreachable_since))
            .where(
                Contact.case_id.in_(matching),
                Contact.unreachable.is_(True),
                Contact.unreachable_since.is_not(None),
            )
            .group_by(Contact.case_id)
        ).all()
    )
    roots = _root_kinds(request_rows)
    requests_of: dict[uuid.UUID, list[RequestFacts]] = defaultdict(list)
    for r in request_rows:
        requests_of[r.case_id].append(
            RequestFacts(
                id=r.id,
                kind=RequestKind(r.kind),
                status=RequestStatus(r.status),
                filed_at=r.filed_at,
                decided_at=r.decided_at,
                stay_expires_at=r.stay_expires_at,
                documentation_received_at=r.documentation_received_at,
                appeal_root_kind=roots.get(r.id),
            )
        )
    result: list[tuple[tuple[int, int, int, str], Entry]] = []
    for c in case_rows:
        facts = CaseFacts(
            id=c.id,
            custody_status=CustodyStatus(c.custody_status),
            removal_scheduled_at=c.removal_scheduled_at,
            requests=tuple(requests_of.get(c.id, ())),
            unreachable_since=unreachable.get(c.id),
        )
        flags = rules.evaluate(facts, now, policy)
        if not flags or (query.flag is not None and all(f.kind != query.flag for f in flags)):
            continue
        soonest = min(_us(f.due_at) or 0 for f in flags)
        key = (soonest, _us(c.removal_scheduled_at) or _FAR, _us(c.created_at) or 0, c.id.hex)
        result.append((key, Entry(c.id, tuple(flags))))
    result.sort(key=lambda item: item[0])
    return result


def _rest_statement(
    conds: Sequence[ColumnElement[bool]], position: tuple[Any, ...] | None
) -> list[Select[uuid.UUID, datetime | None, datetime]]:
    """The flagless segment as up to two index-friendly scans (scheduled, then unscheduled)."""
    cols = (Case.id, Case.removal_scheduled_at, Case.created_at)
    scheduled = select(*cols).where(*conds, Case.removal_scheduled_at.is_not(None))
    unscheduled = select(*cols).where(*conds, Case.removal_scheduled_at.is_(None))
    order_s = (Case.removal_scheduled_at, Case.created_at, Case.id)
    order_u = (Case.created_at, Case.id)
    if position is None:
        return [scheduled.order_by(*order_s), unscheduled.order_by(*order_u)]
    _, removal_us, created_us, id_hex = position
    created, case_id = _dt(created_us), uuid.UUID(hex=id_hex)
    after_created = or_(
        Case.created_at > created, and_(Case.created_at == created, Case.id > case_id)
    )
    if removal_us is None:
        return [unscheduled.where(after_created).order_by(*order_u)]
    removal = _dt(removal_us)
    after = or_(
        Case.removal_scheduled_at > removal,
        and_(Case.removal_scheduled_at == removal, after_created),
    )
    return [scheduled.where(after).order_by(*order_s), unscheduled.order_by(*order_u)]


def page(
    session: Session,
    query: CaseQuery,
    now: datetime,
    policy: Policy,
    limit: int,
    cursor: str | None = None,
) -> Page:
    position = decode_cursor(cursor) if cursor else None
    entries: list[Entry] = []
    flagged_ids: set[uuid.UUID] = set()
    last: tuple[Any, ...] | None = None
    more = False
    if position is None or position[0] == "f":
        ranked = flagged(session, query, now, policy)
        flagged_ids = {entry.case_id for _, entry in ranked}
        start = tuple(position[1:]) if position else None
        for key, entry in ranked:
            if start is not None and key <= start:
                continue
            if len(entries) == limit:
                more = True
                break
            entries.append(entry)
            last = ("f", *key)
    elif query.flag is None:
        # In the second segment the flagged ids are still needed, to skip them.
        flagged_ids = {entry.case_id for _, entry in flagged(session, query, now, policy)}
    if not more and query.flag is None and len(entries) <= limit:
        rest_position = position if position is not None and position[0] == "r" else None
        conds = filter_conditions(query)
        for stmt in _rest_statement(conds, rest_position):
            need = limit + 1 - len(entries)
            if need <= 0:
                break
            # Flagged cases may sit among the rows scanned (they are the soonest removals):
            # fetch enough to skip every one of them and still fill the page.
            for row in session.execute(stmt.limit(need + len(flagged_ids))):
                if row.id in flagged_ids:
                    continue
                if len(entries) == limit:
                    more = True
                    break
                entries.append(Entry(row.id, ()))
                last = ("r", _us(row.removal_scheduled_at), _us(row.created_at), row.id.hex)
            if more:
                break
    next_cursor = encode_cursor(last) if more and last is not None else None
    return Page(entries, next_cursor)
