"""The sweeps: find what time has made due, raise each newly reached rung once.

Each sweep asks the database only for rows that can be due (a range on a partial index by due
time) and that have no open alert for the rung they are in (an anti-join on ``alerts``), so its
cost follows what is due, not the size of the tables. The candidates are then evaluated by
``tracker.rules`` (the one source of truth) through ``tracker.facts`` and raised through
``tracker.services.alerts`` — the same code the event-driven path uses. Inserts are
``ON CONFLICT DO NOTHING`` on the alert's dedupe key, so two clocks, or a clock and a web
request, raise an alert exactly once. Sweeps never send: they write outbox rows.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, false, or_, select
from sqlalchemy.orm import Session, defer, lazyload, selectinload, sessionmaker

from tracker import db, facts, rules
from tracker.models import Alert, Case, Contact, Facility, Organization, Request, User
from tracker.services import alerts as alert_service
from tracker.vocab import CustodyStatus, FacilityKind, FlagKind, RequestStatus

log = logging.getLogger(__name__)

# Candidates are raised in transactions of this many cases: small enough that a failure
# (logged, retried at the next run) costs little, large enough to keep round trips few.
CHUNK = 200

Factory = sessionmaker[Session]


@dataclass
class SweepOutcome:
    name: str
    candidates: int = 0
    raised: Counter[str] = field(default_factory=Counter)
    alert_ids: list[uuid.UUID] = field(default_factory=list)
    failed_chunks: int = 0

    @property
    def total(self) -> int:
        return sum(self.raised.values())


@dataclass(frozen=True)
class PolicyGroups:
    """Organisations grouped by the parts of their policy a sweep's query depends on."""

    policies: dict[uuid.UUID, rules.Policy]
    by_ladder: dict[tuple[int, ...], list[uuid.UUID]]
    by_unanswered: dict[tuple[tuple[tuple[str, int], ...], int], list[uuid.UUID]]
    min_escalation_minutes: int | None
    # Every organisation's escalation delay, once each (the clock's next-moment query).
    escalation_delays: tuple[int, ...] = ()
    # Organisations by their ``whereabouts_hours``.
    by_whereabouts: dict[int, list[uuid.UUID]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> PolicyGroups:
        policies: dict[uuid.UUID, rules.Policy] = {}
        by_ladder: dict[tuple[int, ...], list[uuid.UUID]] = defaultdict(list)
        by_unanswered: dict[tuple[tuple[tuple[str, int], ...], int], list[uuid.UUID]] = defaultdict(
            list
        )
        delays: list[int] = []
        by_whereabouts: dict[int, list[uuid.UUID]] = defaultdict(list)
        for org in session.scalars(select(Organization)):
            policy = facts.policy_for(org)
            policies[org.id] = policy
            by_ladder[policy.ladder_hours].append(org.id)
            key = (tuple(sorted(policy.unanswered_days.items())), policy.default_unanswered_days)
            by_unanswered[key].append(org.id)
            delays.append(org.escalation_delay_minutes)
            by_whereabouts[policy.whereabouts_hours].append(org.id)
        return cls(
            policies,
            dict(by_ladder),
            dict(by_unanswered),
            min(delays, default=None),
            tuple(sorted(set(delays))),
            dict(by_whereabouts),
        )


def _org_filter(column: Any, groups: int, org_ids: list[uuid.UUID]) -> list[Any]:
    # With one policy for everyone (the usual case) the filter would only cost.
    return [] if groups == 1 else [column.in_(org_ids)]


def _windows(
    ladder: Sequence[int], now: datetime
) -> Iterator[tuple[int, datetime, datetime | None]]:
    """(rung, upper, lower): the due times for which ``rung`` is the tightest rung reached."""
    for i, rung in enumerate(ladder):
        lower = now + timedelta(hours=ladder[i + 1]) if i + 1 < len(ladder) else None
        yield rung, now + timedelta(hours=rung), lower


def _open_alert(kind: FlagKind, *criteria: Any) -> Any:
    return exists().where(Alert.kind == kind.value, Alert.resolved_at.is_(None), *criteria)


# --- candidate queries (each is also what BENCHMARKS.md explains) -------------------------


def removal_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    queries = []
    for ladder, org_ids in groups.by_ladder.items():
        for rung, upper, lower in _windows(ladder, now):
            due = Case.removal_scheduled_at
            queries.append(
                select(Case.id).where(
                    Case.closed_at.is_(None),
                    due.is_not(None),
                    due <= upper,
                    *([due > lower] if lower is not None else []),
                    *_org_filter(Case.organization_id, len(groups.by_ladder), org_ids),
                    ~_open_alert(
                        FlagKind.removal_imminent,
                        Alert.case_id == Case.id,
                        Alert.rung == rung,
                        Alert.due_at == due,
                    ),
                )
            )
    return queries


def documentation_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    return [
        select(Request.case_id).where(
            Request.decided_at.is_not(None),
            Request.documentation_received_at.is_(None),
            Request.decided_at < now - rules.DOCUMENTATION_WINDOW,
            ~_open_alert(FlagKind.documentation_overdue, Alert.request_id == Request.id),
        )
    ]


def unanswered_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    queries = []
    for per_kind, default_days in groups.by_unanswered:
        named = [k for k, _ in per_kind]
        thresholds = [
            and_(Request.kind == kind, Request.filed_at <= now - timedelta(days=days))
            for kind, days in per_kind
        ]
        thresholds.append(
            and_(
                Request.kind.not_in(named) if named else Request.kind.is_not(None),
                Request.filed_at <= now - timedelta(days=default_days),
            )
        )
        queries.append(
            select(Request.case_id).where(
                Request.status == RequestStatus.filed,
                Request.filed_at.is_not(None),
                or_(false(), *thresholds),
                ~_open_alert(FlagKind.unanswered, Alert.request_id == Request.id),
            )
        )
    return queries


def stay_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    queries = []
    for ladder in groups.by_ladder:
        for rung, upper, lower in _windows(ladder, now):
            due = Request.stay_expires_at
            queries.append(
                select(Request.case_id).where(
                    Request.status == RequestStatus.granted,
                    due.is_not(None),
                    due <= upper,
                    *([due > lower] if lower is not None else []),
                    ~_open_alert(
                        FlagKind.stay_expiring,
                        Alert.request_id == Request.id,
                        Alert.rung == rung,
                        Alert.due_at == due,
                    ),
                )
            )
    return queries


def staging_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    """Detained cases at a staging facility with no open ``removal_likely`` alert.

    From the few staging facilities (``ix_facilities_staging``) to their cases
    (``ix_cases_facility_id``); the stay check is the rules' own, on the candidates.
    """
    return [
        select(Case.id)
        .join(Facility, Facility.id == Case.facility_id)
        .where(
            Facility.kind == FacilityKind.staging,
            Case.closed_at.is_(None),
            Case.custody_status == CustodyStatus.detained,
            ~_open_alert(FlagKind.removal_likely, Alert.case_id == Case.id),
        )
    ]


def whereabouts_queries(groups: PolicyGroups, now: datetime) -> list[Select[uuid.UUID]]:
    """Detained cases whose location has been unknown for their organisation's hours, with no
    open ``whereabouts_unknown`` alert: a range on the partial ``ix_cases_location_unknown``."""
    queries = []
    for hours, org_ids in groups.by_whereabouts.items():
        since = Case.location_unknown_since
        queries.append(
            select(Case.id).where(
                Case.closed_at.is_(None),
                since.is_not(None),
                since <= now - timedelta(hours=hours),
                Case.custody_status == CustodyStatus.detained,
                *_org_filter(Case.organization_id, len(groups.by_whereabouts), org_ids),
                ~_open_alert(FlagKind.whereabouts_unknown, Alert.case_id == Case.id),
            )
        )
    return queries


def escalation_query(
    groups: PolicyGroups, now: datetime
) -> Select[uuid.UUID, datetime, int] | None:
    if groups.min_escalation_minutes is None:
        return None
    return (
        select(Alert.id, Alert.raised_at, Organization.escalation_delay_minutes)
        .join(Organization, Organization.id == Alert.organization_id)
        .where(
            Alert.acknowledged_at.is_(None),
            Alert.escalated_at.is_(None),
            Alert.resolved_at.is_(None),
            Alert.raised_at <= now - timedelta(minutes=groups.min_escalation_minutes),
        )
        .order_by(Alert.id)
    )


# --- raising ----------------------------------------------------------------------------


def _chunks(ids: Sequence[uuid.UUID], size: int = CHUNK) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _load_cases(session: Session, ids: Iterable[uuid.UUID]) -> list[Case]:
    cases = session.scalars(
        select(Case)
        .where(Case.id.in_(list(ids)))
        .options(
            # The sweeps never need names, A-numbers or notes; not decrypting them is cheaper
            # and safer (each is still loaded on first use). Nor a request's field office
            # row: only its id is read.
            selectinload(Case.requests).options(
                defer(Request.notes), lazyload(Request.field_office)
            ),
            selectinload(Case.contacts).options(defer(Contact.name)),
            selectinload(Case.attorney).options(defer(User.name)),
            defer(Case.family_name),
            defer(Case.a_number),
        )
    ).unique()
    # One order in every process: two clocks meet on the same key first, never deadlock.
    return sorted(cases, key=lambda c: c.id)


def raise_due(
    factory: Factory,
    case_ids: Iterable[uuid.UUID],
    kinds: frozenset[FlagKind],
    now: datetime,
    groups: PolicyGroups,
    outcome: SweepOutcome,
) -> None:
    """Evaluate the candidate cases and raise their due flags of ``kinds``."""
    ids = sorted(set(case_ids))
    outcome.candidates += len(ids)
    for chunk in _chunks(ids):
        try:
            with db.session_scope(factory) as session:
                items: list[alert_service.Due] = []
                for case in _load_cases(session, chunk):
                    policy = groups.policies.get(case.organization_id) or facts.policy_for(
                        case.organization
                    )
                    items.extend(
                        alert_service.Due(case, flag, policy)
                        for flag in rules.evaluate(facts.case_facts(case), now, policy)
                        if flag.kind in kinds
                    )
                for item, alert_id in zip(
                    items, alert_service.raise_flags(session, items, now), strict=True
                ):
                    if alert_id is not None:
                        outcome.raised[item.flag.kind.value] += 1
                        outcome.alert_ids.append(alert_id)
        except Exception:  # one bad chunk must not stop the others; the next run retries
            log.exception("sweep %s: a chunk of %d cases failed", outcome.name, len(chunk))
            outcome.failed_chunks += 1


def _candidates(factory: Factory, queries: Sequence[Select[uuid.UUID]]) -> set[uuid.UUID]:
    """The open cases among the candidates of ``queries``.

    The request sweeps' queries read ``requests`` alone: joined to ``cases`` for
    ``closed_at``, PostgreSQL misjudges how few rows the partial index yields (its statistics
    are of the whole table) and hash-joins a sequential scan of every case. The few
    candidates' cases are checked here by primary key instead.
    """
    with factory() as session:
        found: set[uuid.UUID] = set()
        for query in queries:
            found.update(session.scalars(query))
        ids = sorted(found)
        open_ids: set[uuid.UUID] = set()
        for start in range(0, len(ids), 1000):
            open_ids.update(
                session.scalars(
                    select(Case.id).where(
                        Case.id.in_(ids[start : start + 1000]), Case.closed_at.is_(None)
                    )
                )
            )
        return open_ids


def _load_groups(factory: Factory) -> PolicyGroups:
    with factory() as session:
        return PolicyGroups.load(session)


QueryBuilder = Callable[[PolicyGroups, datetime], list[Select[uuid.UUID]]]

RAISING_SWEEPS: dict[str, tuple[QueryBuilder, FlagKind]] = {
    "removal": (removal_queries, FlagKind.removal_imminent),
    "documentation": (documentation_queries, FlagKind.documentation_overdue),
    "unanswered": (unanswered_queries, FlagKind.unanswered),
    "stay_expiry": (stay_queries, FlagKind.stay_expiring),
    "staging": (staging_queries, FlagKind.removal_likely),
    "whereabouts": (whereabouts_queries, FlagKind.whereabouts_unknown),
}
SWEEPS: tuple[str, ...] = (*RAISING_SWEEPS, "escalation")


def sweep(
    name: str,
    now: datetime,
    factory: Factory | None = None,
    groups: PolicyGroups | None = None,
) -> SweepOutcome:
    """Run one sweep at ``now``."""
    factory = factory or db.get_sessionmaker()
    groups = groups or _load_groups(factory)
    if name == "escalation":
        return escalate_due(factory, now, groups)
    build, kind = RAISING_SWEEPS[name]
    outcome = SweepOutcome(name)
    raise_due(
        factory, _candidates(factory, build(groups, now)), frozenset({kind}), now, groups, outcome
    )
    return outcome


def escalate_due(factory: Factory, now: datetime, groups: PolicyGroups) -> SweepOutcome:
    outcome = SweepOutcome("escalation")
    query = escalation_query(groups, now)
    if query is None:
        return outcome
    with factory() as session:
        rows = session.execute(query).all()
    due = [
        alert_id
        for alert_id, raised_at, delay in rows
        if raised_at + timedelta(minutes=delay) <= now
    ]
    outcome.candidates = len(due)
    for chunk in _chunks(due):
        try:
            with db.session_scope(factory) as session:
                escalated = alert_service.escalate_many(session, chunk, now)
            outcome.raised["escalation"] += len(escalated)
            outcome.alert_ids.extend(escalated)
        except Exception:  # as in raise_due: log, go on, retry at the next run
            log.exception("sweep escalation: a chunk of %d alerts failed", len(chunk))
            outcome.failed_chunks += 1
    return outcome


def sweep_all(now: datetime, factory: Factory | None = None) -> list[SweepOutcome]:
    """Every sweep once, escalation last (so an alert raised now is not escalated now)."""
    factory = factory or db.get_sessionmaker()
    groups = _load_groups(factory)
    return [sweep(name, now, factory, groups) for name in SWEEPS]


def counts(outcomes: Iterable[SweepOutcome]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for outcome in outcomes:
        total.update(outcome.raised)
    return dict(total)


def explain_targets(groups: PolicyGroups, now: datetime) -> dict[str, list[Any]]:
    """Every candidate query of every sweep, for ``EXPLAIN`` in the benchmarks."""
    out: dict[str, list[Any]] = {
        name: list(build(groups, now)) for name, (build, _) in RAISING_SWEEPS.items()
    }
    esc = escalation_query(groups, now)
    out["escalation"] = [esc] if esc is not None else []
    return out


__all__ = [
    "SWEEPS",
    "PolicyGroups",
    "SweepOutcome",
    "counts",
    "sweep",
    "sweep_all",
]
