"""THE deadline rules (docs/domain.md): pure functions from facts and ``now`` to flags.

No I/O and no ORM here: callers (the web, the sweeps, the reports, the calendar) build
``CaseFacts`` / ``RequestFacts`` from whatever they loaded and ask for the flags. Keeping the
rules pure is what lets one module answer "what is due?" identically everywhere.

Boundaries, stated once:
- removal_imminent: the rung R of the ladder is reached when ``removal - now <= R hours``;
  the flag carries the smallest rung reached, and stays (at the last rung) after the time.
- documentation window: due at ``decided_at + 48 h``; ``documentation_due`` up to and including
  that instant, ``documentation_overdue`` strictly after it.
- unanswered: a filed, undecided request is flagged from ``filed_at + N days`` inclusive.
- stay_expiring: as the removal ladder, counted to ``stay_expires_at`` (a temporary stay from
  any forum included).
- removal_likely: detained at a staging facility with no stay in force, due from the placement
  there (``facility_since``), with or without a removal date.
- whereabouts_unknown: detained, with no confirmed location since ``location_unknown_since``
  (opened with no facility, or a ``whereabouts_unknown`` custody event), flagged from
  ``location_unknown_since + whereabouts_hours`` inclusive. A stay does not suppress it: a stay
  protects no one whose whereabouts nobody knows.
- a stay protects: granted, from any forum, and ``now < stay_expires_at`` (strictly; at the
  expiry instant it no longer protects). While one protects, no removal flag is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tracker.vocab import (
    CustodyStatus,
    FacilityKind,
    FlagKind,
    RequestKind,
    RequestStatus,
    StayForum,
)

DOCUMENTATION_WINDOW = timedelta(hours=48)
DEFAULT_LADDER_HOURS: tuple[int, ...] = (72, 24, 6)
DEFAULT_UNANSWERED_DAYS = 14
DEFAULT_WHEREABOUTS_HOURS = 24

# Successor kinds: a flag that time turns into another (used to state "flags never vanish").
SUCCESSOR: Mapping[FlagKind, FlagKind] = {
    FlagKind.documentation_due: FlagKind.documentation_overdue,
}

# Flags that call for an alert to counsel (documentation_due is shown, not alerted).
ALERTING_KINDS = frozenset(
    {
        FlagKind.removal_imminent,
        FlagKind.documentation_overdue,
        FlagKind.unanswered,
        FlagKind.stay_expiring,
        FlagKind.removal_likely,
        FlagKind.transferred,
        FlagKind.whereabouts_unknown,
    }
)
# Alerts raised by an event rather than by time: the rules neither raise nor clear them.
EVENT_KINDS = frozenset({FlagKind.transferred})
# The flags a granted, unexpired stay from any forum suppresses.
REMOVAL_KINDS = frozenset({FlagKind.removal_imminent, FlagKind.removal_likely})


def _utc_fields(obj: object) -> None:
    """Store every datetime field in UTC.

    Python subtracts and compares two datetimes that share a tzinfo by wall clock, which is
    wrong across a DST change; in UTC, arithmetic is in real elapsed time.
    """
    for name in _datetime_fields(type(obj)):
        value = getattr(obj, name)
        if isinstance(value, datetime) and value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError(f"{name}: naive datetime; the rules need aware times")
            object.__setattr__(obj, name, value.astimezone(UTC))


_DATETIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _datetime_fields(cls: type) -> tuple[str, ...]:
    # Every fact is built per case per request: look the fields up once per class, and only
    # those that can hold a datetime (the annotations are strings here).
    names = _DATETIME_FIELDS.get(cls)
    if names is None:
        names = _DATETIME_FIELDS[cls] = tuple(
            f.name for f in fields(cls) if "datetime" in str(f.type)
        )
    return names


@dataclass(frozen=True)
class Policy:
    """An organisation's thresholds."""

    ladder_hours: tuple[int, ...] = DEFAULT_LADDER_HOURS
    unanswered_days: Mapping[str, int] = field(default_factory=dict)
    default_unanswered_days: int = DEFAULT_UNANSWERED_DAYS
    whereabouts_hours: int = DEFAULT_WHEREABOUTS_HOURS

    def __post_init__(self) -> None:
        if self.whereabouts_hours <= 0:
            raise ValueError("whereabouts_hours must be a positive number of hours")
        ladder = tuple(sorted({int(h) for h in self.ladder_hours}, reverse=True))
        if not ladder or ladder[-1] <= 0:
            raise ValueError("the alert ladder needs at least one positive number of hours")
        object.__setattr__(self, "ladder_hours", ladder)

    @property
    def horizon(self) -> timedelta:
        """How far ahead the ladder looks: the widest rung."""
        return timedelta(hours=self.ladder_hours[0])

    def unanswered_after(self, kind: str) -> timedelta:
        return timedelta(days=self.unanswered_days.get(kind, self.default_unanswered_days))

    @property
    def whereabouts_after(self) -> timedelta:
        return timedelta(hours=self.whereabouts_hours)

    @property
    def max_unanswered_after(self) -> timedelta:
        days = [self.default_unanswered_days, *self.unanswered_days.values()]
        return timedelta(days=max(days))

    @property
    def min_unanswered_after(self) -> timedelta:
        days = [self.default_unanswered_days, *self.unanswered_days.values()]
        return timedelta(days=min(days))


@dataclass(frozen=True)
class RequestFacts:
    id: UUID
    kind: RequestKind
    status: RequestStatus
    filed_at: datetime | None = None
    decided_at: datetime | None = None
    stay_expires_at: datetime | None = None
    documentation_received_at: datetime | None = None
    forum: StayForum = StayForum.ice
    temporary: bool = False
    # For an appeal: the kind of the request at the root of the appeal chain.
    appeal_root_kind: RequestKind | None = None

    def __post_init__(self) -> None:
        _utc_fields(self)

    @property
    def is_stay(self) -> bool:
        if self.kind is RequestKind.stay_of_removal:
            return True
        return (
            self.kind is RequestKind.appeal and self.appeal_root_kind is RequestKind.stay_of_removal
        )


@dataclass(frozen=True)
class CaseFacts:
    id: UUID
    custody_status: CustodyStatus = CustodyStatus.detained
    removal_scheduled_at: datetime | None = None
    closed_at: datetime | None = None
    requests: Sequence[RequestFacts] = ()
    # When the earliest still-unreachable contact became unreachable; None when all reachable.
    unreachable_since: datetime | None = None
    # The kind of the current facility, and since when the person is held there.
    facility_kind: FacilityKind | None = None
    facility_since: datetime | None = None
    # Since when no location is confirmed (None: the current facility is confirmed).
    location_unknown_since: datetime | None = None

    def __post_init__(self) -> None:
        _utc_fields(self)


@dataclass(frozen=True, order=True)
class Flag:
    due_at: datetime
    kind: FlagKind
    case_id: UUID = field(compare=False)
    request_id: UUID | None = field(default=None, compare=False)
    rung: int | None = field(default=None, compare=False)

    @property
    def subject_id(self) -> UUID:
        return self.request_id or self.case_id

    @property
    def alerts(self) -> bool:
        return self.kind in ALERTING_KINDS

    def dedupe_key(self) -> str:
        """Unique per (subject, kind, rung, due time): a changed date re-arms the ladder."""
        due = int(self.due_at.timestamp())
        return f"{self.kind.value}:{self.subject_id}:{self.rung or 0}:{due}"


def rung_reached(until: timedelta, ladder_hours: Sequence[int]) -> int | None:
    """The smallest rung of the ladder that ``until`` (time left) has reached, if any."""
    reached = [h for h in ladder_hours if until <= timedelta(hours=h)]
    return min(reached) if reached else None


def protects(request: RequestFacts, now: datetime) -> bool:
    """A granted stay, whoever granted it, that has not expired at ``now``."""
    return (
        request.is_stay
        and request.status is RequestStatus.granted
        and (request.stay_expires_at is None or request.stay_expires_at > now)
    )


def protecting_stay(requests: Iterable[RequestFacts], now: datetime) -> RequestFacts | None:
    """The stay that protects the person longest at ``now`` (one with no expiry first), if any."""
    active = [r for r in requests if protects(r, now)]
    if not active:
        return None
    far = datetime.max.replace(tzinfo=UTC)
    return max(active, key=lambda r: (r.stay_expires_at or far, not r.temporary))


def has_active_stay(requests: Iterable[RequestFacts], now: datetime) -> bool:
    return protecting_stay(requests, now) is not None


def removal_flag(case: CaseFacts, now: datetime, policy: Policy) -> Flag | None:
    if case.removal_scheduled_at is None or case.custody_status is CustodyStatus.removed:
        return None
    if has_active_stay(case.requests, now):
        return None
    rung = rung_reached(case.removal_scheduled_at - now, policy.ladder_hours)
    if rung is None:
        return None
    return Flag(case.removal_scheduled_at, FlagKind.removal_imminent, case.id, None, rung)


def removal_likely_flag(case: CaseFacts, now: datetime) -> Flag | None:
    """Held at a staging facility with no stay in force: removal is likely, date or no date.

    Due from the placement there (``facility_since``), so a later placement alerts again.
    """
    if case.facility_kind is not FacilityKind.staging or case.facility_since is None:
        return None
    if case.custody_status is not CustodyStatus.detained:
        return None
    if has_active_stay(case.requests, now):
        return None
    return Flag(case.facility_since, FlagKind.removal_likely, case.id)


def whereabouts_flag(case: CaseFacts, now: datetime, policy: Policy) -> Flag | None:
    """Detained and nobody has confirmed where for ``policy.whereabouts_hours``: due then.

    Not suppressed by a stay (a stay protects no one whose whereabouts nobody knows).
    """
    if case.location_unknown_since is None or case.custody_status is not CustodyStatus.detained:
        return None
    due = case.location_unknown_since + policy.whereabouts_after
    if now < due:
        return None
    return Flag(due, FlagKind.whereabouts_unknown, case.id)


def documentation_flag(case_id: UUID, request: RequestFacts, now: datetime) -> Flag | None:
    if request.decided_at is None or request.documentation_received_at is not None:
        return None
    if request.status not in (RequestStatus.granted, RequestStatus.denied):
        return None
    due = request.decided_at + DOCUMENTATION_WINDOW
    kind = FlagKind.documentation_overdue if now > due else FlagKind.documentation_due
    return Flag(due, kind, case_id, request.id)


def unanswered_flag(
    case_id: UUID, request: RequestFacts, now: datetime, policy: Policy
) -> Flag | None:
    if request.status is not RequestStatus.filed or request.filed_at is None:
        return None
    due = request.filed_at + policy.unanswered_after(request.kind.value)
    if now < due:
        return None
    return Flag(due, FlagKind.unanswered, case_id, request.id)


def stay_expiry_flag(
    case_id: UUID, request: RequestFacts, now: datetime, policy: Policy
) -> Flag | None:
    if not request.is_stay or request.status is not RequestStatus.granted:
        return None
    if request.stay_expires_at is None:
        return None
    rung = rung_reached(request.stay_expires_at - now, policy.ladder_hours)
    if rung is None:
        return None
    return Flag(request.stay_expires_at, FlagKind.stay_expiring, case_id, request.id, rung)


def evaluate(case: CaseFacts, now: datetime, policy: Policy | None = None) -> list[Flag]:
    """All flags of a case at ``now``, soonest due first. A closed case has none."""
    if case.closed_at is not None:
        return []
    now = now.astimezone(UTC)
    policy = policy or Policy()
    flags: list[Flag | None] = [
        removal_flag(case, now, policy),
        removal_likely_flag(case, now),
        whereabouts_flag(case, now, policy),
    ]
    for request in case.requests:
        flags.append(documentation_flag(case.id, request, now))
        flags.append(unanswered_flag(case.id, request, now, policy))
        flags.append(stay_expiry_flag(case.id, request, now, policy))
    if case.unreachable_since is not None:
        flags.append(Flag(case.unreachable_since, FlagKind.unreachable, case.id))
    return sorted(f for f in flags if f is not None)


def urgency_key(flags: Sequence[Flag], removal_at: datetime | None) -> tuple[int, float, float]:
    """Sort key for queues: cases with flags first, by soonest due, then by removal time."""
    far = float("inf")
    soonest = min((f.due_at.timestamp() for f in flags), default=far)
    removal = removal_at.timestamp() if removal_at else far
    return (0 if flags else 1, soonest, removal)
