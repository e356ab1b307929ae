"""Accountability reports: per field office and period, from an organisation's own requests.

Definitions (stated once, used by the page, the API and the public export):

- the period is ``[from, to)`` in UTC; ``as_of`` is ``min(to, now)``;
- **filed**: requests filed in the period (``filed_at``); **withdrawn**: of those, withdrawn;
- **unanswered**: of those, still undecided and flagged by ``rules.unanswered_flag`` at ``as_of``
  (the organisation's per-kind thresholds);
- **granted / denied**: determinations made in the period (``decided_at``);
- **days to decision**: ``decided_at - filed_at`` of those determinations, median and 90th
  percentile (nearest rank);
- **documented within 48 h**: of those determinations whose window (``rules.DOCUMENTATION_WINDOW``)
  has closed by ``as_of`` or that are documented, the share documented in the window;
- **advised right to appeal**: of the documented denials, the share whose documentation advised
  the right to appeal;
- **stays by forum**: the stay-of-removal requests alone, grouped by who they were asked of
  (ICE, an immigration judge, the BIA, a circuit or district court), with the same metrics.

Requests are loaded with one SQL query that selects only the candidate rows and only
non-sensitive columns (no names, no A-numbers: nothing here needs decrypting).
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tracker import rules
from tracker.facts import policy_for
from tracker.i18n import N_
from tracker.models import Case, FieldOffice, Organization, Request
from tracker.presentation import STAY_FORUM_LABELS
from tracker.vocab import ETHNICITIES, RACES, RequestKind, RequestStatus, StayForum

NOT_RECORDED = "not_recorded"
UNKNOWN_OFFICE = "—"
# The outcome columns of the public table: every request filed in the period lands in one.
OUTCOMES = ("granted", "denied", "withdrawn", "unanswered", "pending")


@dataclass(frozen=True)
class Row:
    """One request, as much as a report needs."""

    id: uuid.UUID
    case_id: uuid.UUID
    kind: RequestKind
    status: RequestStatus
    filed_at: datetime | None
    decided_at: datetime | None
    documentation_received_at: datetime | None
    advised_right_to_appeal: bool | None
    office_code: str
    country: str
    race: str
    ethnicity: str
    forum: StayForum = StayForum.ice


@dataclass
class Metrics:
    filed: int = 0
    granted: int = 0
    denied: int = 0
    withdrawn: int = 0
    unanswered: int = 0
    median_days_to_decision: float | None = None
    p90_days_to_decision: float | None = None
    documentation_window_closed: int = 0
    documented_within_48h: int = 0
    documented_denials: int = 0
    advised_right_to_appeal: int = 0

    @property
    def decided(self) -> int:
        return self.granted + self.denied

    @property
    def grant_rate(self) -> float | None:
        return self.granted / self.decided if self.decided else None

    @property
    def documented_on_time_share(self) -> float | None:
        if not self.documentation_window_closed:
            return None
        return self.documented_within_48h / self.documentation_window_closed

    @property
    def advised_appeal_share(self) -> float | None:
        if not self.documented_denials:
            return None
        return self.advised_right_to_appeal / self.documented_denials

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "filed": self.filed,
            "granted": self.granted,
            "denied": self.denied,
            "withdrawn": self.withdrawn,
            "unanswered": self.unanswered,
            "decided": self.decided,
            "grant_rate": _round(self.grant_rate),
            "median_days_to_decision": _round(self.median_days_to_decision),
            "p90_days_to_decision": _round(self.p90_days_to_decision),
            "documentation_window_closed": self.documentation_window_closed,
            "documented_within_48h": self.documented_within_48h,
            "documented_within_48h_share": _round(self.documented_on_time_share),
            "documented_denials": self.documented_denials,
            "advised_right_to_appeal": self.advised_right_to_appeal,
            "advised_right_to_appeal_share": _round(self.advised_appeal_share),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class Group:
    key: str
    label: str
    metrics: Metrics
    by_kind: dict[str, Metrics] = field(default_factory=dict)


@dataclass
class Bucket:
    """Determinations in one slice of the period (for the chart over time)."""

    start: datetime
    granted: int
    denied: int


@dataclass
class Report:
    organization_id: uuid.UUID
    period_from: datetime
    period_to: datetime
    as_of: datetime
    total: Metrics
    by_office: list[Group]
    by_kind: list[Group]
    by_country: list[Group]
    by_race: list[Group]
    by_ethnicity: list[Group]
    over_time: list[Bucket]
    rows: list[Row] = field(repr=False, default_factory=list)
    by_forum: list[Group] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        def groups(items: list[Group], with_kinds: bool = False) -> list[dict[str, object]]:
            out: list[dict[str, object]] = []
            for g in items:
                entry: dict[str, object] = {"key": g.key, "label": g.label, **g.metrics.as_dict()}
                if with_kinds:
                    entry["by_kind"] = {k: m.as_dict() for k, m in g.by_kind.items()}
                out.append(entry)
            return out

        return {
            "from": self.period_from.isoformat(),
            "to": self.period_to.isoformat(),
            "as_of": self.as_of.isoformat(),
            "total": self.total.as_dict(),
            "field_offices": groups(self.by_office, with_kinds=True),
            "request_kinds": groups(self.by_kind),
            "countries_of_birth": groups(self.by_country),
            "races": groups(self.by_race),
            "ethnicities": groups(self.by_ethnicity),
            "stay_forums": groups(self.by_forum),
            "decisions_over_time": [
                {"from": b.start.isoformat(), "granted": b.granted, "denied": b.denied}
                for b in self.over_time
            ],
        }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..1): always one of the values, never interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered)))
    return ordered[rank - 1]


def _in(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= value < end


def compute_metrics(
    rows: Iterable[Row],
    start: datetime,
    end: datetime,
    as_of: datetime,
    policy: rules.Policy,
    unanswered: Callable[[Row], bool] | None = None,
) -> Metrics:
    """``unanswered``: whether a row is unanswered at ``as_of`` (by default asked of the rules
    for each row; a report grouping the same rows many ways passes the answers it has)."""
    is_unanswered = unanswered or (lambda r: _is_unanswered(r, as_of, policy))
    m = Metrics()
    days: list[float] = []
    for r in rows:
        if _in(r.filed_at, start, end):
            m.filed += 1
            if r.status is RequestStatus.withdrawn:
                m.withdrawn += 1
            elif is_unanswered(r):
                m.unanswered += 1
        if not _in(r.decided_at, start, end) or r.decided_at is None:
            continue
        if r.status is RequestStatus.granted:
            m.granted += 1
        elif r.status is RequestStatus.denied:
            m.denied += 1
        else:
            continue
        if r.filed_at is not None:
            days.append((r.decided_at - r.filed_at).total_seconds() / 86_400)
        deadline = r.decided_at + rules.DOCUMENTATION_WINDOW
        received = r.documentation_received_at
        if received is not None or as_of > deadline:
            m.documentation_window_closed += 1
            if received is not None and received <= deadline:
                m.documented_within_48h += 1
        if r.status is RequestStatus.denied and received is not None:
            m.documented_denials += 1
            m.advised_right_to_appeal += bool(r.advised_right_to_appeal)
    m.median_days_to_decision = percentile(days, 0.5)
    m.p90_days_to_decision = percentile(days, 0.9)
    return m


def _facts(r: Row) -> rules.RequestFacts:
    return rules.RequestFacts(
        id=r.id,
        kind=r.kind,
        status=r.status,
        filed_at=r.filed_at,
        decided_at=r.decided_at,
        documentation_received_at=r.documentation_received_at,
    )


def _is_unanswered(r: Row, as_of: datetime, policy: rules.Policy) -> bool:
    return rules.unanswered_flag(r.case_id, _facts(r), as_of, policy) is not None


def outcome(r: Row, as_of: datetime, policy: rules.Policy) -> str:
    """Where a request filed in the period stands at ``as_of`` (one of ``OUTCOMES``)."""
    decided_by_then = r.decided_at is not None and r.decided_at < as_of
    if r.status is RequestStatus.granted and decided_by_then:
        return "granted"
    if r.status is RequestStatus.denied and decided_by_then:
        return "denied"
    if r.status is RequestStatus.withdrawn:
        return "withdrawn"
    if _is_unanswered(r, as_of, policy):
        return "unanswered"
    return "pending"


def load_rows(
    session: Session, organization_id: uuid.UUID, start: datetime, end: datetime
) -> list[Row]:
    """Requests of the organisation filed or decided in ``[start, end)``; drafts excluded."""
    office_id = func.coalesce(Request.field_office_id, Case.field_office_id)
    stmt = (
        select(
            Request.id,
            Request.case_id,
            Request.kind,
            Request.status,
            Request.filed_at,
            Request.decided_at,
            Request.documentation_received_at,
            Request.advised_right_to_appeal,
            FieldOffice.code,
            Case.country_of_birth,
            Case.race,
            Case.ethnicity,
            Request.forum,
        )
        .join(Case, Case.id == Request.case_id)
        .outerjoin(FieldOffice, FieldOffice.id == office_id)
        .where(
            Case.organization_id == organization_id,
            Request.status != RequestStatus.draft,
            or_(
                and_(Request.filed_at >= start, Request.filed_at < end),
                and_(Request.decided_at >= start, Request.decided_at < end),
            ),
        )
    )
    return [
        Row(
            id=r[0],
            case_id=r[1],
            kind=RequestKind(r[2]),
            status=RequestStatus(r[3]),
            filed_at=r[4],
            decided_at=r[5],
            documentation_received_at=r[6],
            advised_right_to_appeal=r[7],
            office_code=r[8] or UNKNOWN_OFFICE,
            country=r[9] or NOT_RECORDED,
            race=r[10] or NOT_RECORDED,
            ethnicity=r[11] or NOT_RECORDED,
            forum=StayForum(r[12]),
        )
        for r in session.execute(stmt)
    ]


def _office_names(session: Session) -> dict[str, str]:
    names = {
        code: name for code, name in session.execute(select(FieldOffice.code, FieldOffice.name))
    }
    names[UNKNOWN_OFFICE] = "No field office recorded"
    return names


def _label(vocab: dict[str, str], key: str) -> str:
    if key == NOT_RECORDED:
        return "Not recorded"
    return vocab.get(key, key)


def _grouped(
    rows: Sequence[Row],
    key: Callable[[Row], str],
    label: Callable[[str], str],
    metrics: Callable[[Iterable[Row]], Metrics],
    with_kinds: bool = False,
) -> list[Group]:
    buckets: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        buckets[key(r)].append(r)
    groups: list[Group] = []
    for k in sorted(buckets, key=lambda k: (k in (NOT_RECORDED, UNKNOWN_OFFICE), k)):
        group = Group(k, label(k), metrics(buckets[k]))
        if with_kinds:
            kinds: dict[str, list[Row]] = defaultdict(list)
            for r in buckets[k]:
                kinds[r.kind.value].append(r)
            group.by_kind = {
                kind.value: metrics(kinds[kind.value])
                for kind in RequestKind
                if kind.value in kinds
            }
        groups.append(group)
    return groups


def _slices(start: datetime, end: datetime) -> list[datetime]:
    """Week starts for periods up to ~4 months, else month starts."""
    if end - start <= timedelta(days=120):
        edges = [start]
        while edges[-1] + timedelta(days=7) < end:
            edges.append(edges[-1] + timedelta(days=7))
        return edges
    edges = [start]
    cursor = datetime(start.year, start.month, 1, tzinfo=UTC)
    while True:
        cursor = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
        if cursor >= end:
            return edges
        edges.append(cursor)


def _over_time(rows: Sequence[Row], start: datetime, end: datetime) -> list[Bucket]:
    edges = _slices(start, end)
    buckets = [Bucket(e, 0, 0) for e in edges]
    for r in rows:
        if not _in(r.decided_at, start, end) or r.decided_at is None:
            continue
        index = max(i for i, e in enumerate(edges) if e <= r.decided_at)
        if r.status is RequestStatus.granted:
            buckets[index].granted += 1
        elif r.status is RequestStatus.denied:
            buckets[index].denied += 1
    return buckets


def field_office_report(
    session: Session,
    org: Organization,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Report:
    if end <= start:
        raise ValueError(N_("the period must end after it starts"))
    as_of = min(end, now)
    policy = policy_for(org)
    rows = load_rows(session, org.id, start, end)
    # Asked of the rules once per request, not once per grouping it appears in (about 20).
    unanswered = {r.id for r in rows if _is_unanswered(r, as_of, policy)}

    def metrics(group: Iterable[Row]) -> Metrics:
        return compute_metrics(group, start, end, as_of, policy, lambda r: r.id in unanswered)

    offices = _office_names(session)
    return Report(
        organization_id=org.id,
        period_from=start,
        period_to=end,
        as_of=as_of,
        total=metrics(rows),
        by_office=_grouped(
            rows, lambda r: r.office_code, lambda k: offices.get(k, k), metrics, with_kinds=True
        ),
        by_kind=_grouped(rows, lambda r: r.kind.value, _kind_label, metrics),
        by_country=_grouped(rows, lambda r: r.country, _country_label, metrics),
        by_race=_grouped(rows, lambda r: r.race, lambda k: _label(RACES, k), metrics),
        by_ethnicity=_grouped(
            rows, lambda r: r.ethnicity, lambda k: _label(ETHNICITIES, k), metrics
        ),
        over_time=_over_time(rows, start, end),
        rows=rows,
        by_forum=_grouped(
            [r for r in rows if r.kind is RequestKind.stay_of_removal],
            lambda r: r.forum.value,
            lambda k: STAY_FORUM_LABELS[StayForum(k)],
            metrics,
        ),
    )


def _kind_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _country_label(key: str) -> str:
    if key == NOT_RECORDED:
        return "Not recorded"
    from babel import Locale

    return str(Locale("en").territories.get(key, key))
