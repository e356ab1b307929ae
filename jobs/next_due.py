"""The next moment anything falls due, so that the clock can sleep exactly until then.

One statement of scalar subqueries, one (or one per policy group / rung) per kind, each a
``min`` over a range of the partial indexes the sweeps use: removal − rung, decided + 48 h,
filed + N days, stay expiry − rung, location unknown since + whereabouts hours, raised +
escalation delay. Each asks only for moments
strictly after ``after`` (what is already due is the sweep's business), so a moment that
needs no alert (a case with an active stay, say) costs one empty sweep, never a busy loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.sweeps import PolicyGroups, _org_filter
from tracker import rules
from tracker.models import Alert, Case, Organization, Request
from tracker.vocab import CustodyStatus, RequestStatus


def _candidates(groups: PolicyGroups, after: datetime) -> list[tuple[Any, timedelta]]:
    """(``min`` subquery, offset): the moment is the subquery's value + offset."""
    out: list[tuple[Any, timedelta]] = []
    for ladder, org_ids in groups.by_ladder.items():
        for rung in ladder:
            reach = timedelta(hours=rung)
            removal = Case.removal_scheduled_at
            out.append(
                (
                    select(func.min(removal))
                    .where(
                        Case.closed_at.is_(None),
                        removal > after + reach,
                        *_org_filter(Case.organization_id, len(groups.by_ladder), org_ids),
                    )
                    .scalar_subquery(),
                    -reach,
                )
            )
            expiry = Request.stay_expires_at
            out.append(
                (
                    select(func.min(expiry))
                    .where(Request.status == RequestStatus.granted, expiry > after + reach)
                    .scalar_subquery(),
                    -reach,
                )
            )
    window = rules.DOCUMENTATION_WINDOW
    out.append(
        (
            select(func.min(Request.decided_at))
            .where(
                Request.decided_at.is_not(None),
                Request.documentation_received_at.is_(None),
                Request.decided_at >= after - window,
            )
            .scalar_subquery(),
            # "Overdue" is strictly after decided + 48 h.
            window + timedelta(milliseconds=1),
        )
    )
    for per_kind, default_days in groups.by_unanswered:
        named = [kind for kind, _ in per_kind]
        for kind, days in [*per_kind, (None, default_days)]:
            wait = timedelta(days=days)
            if kind is not None:
                which = Request.kind == kind
            else:
                which = Request.kind.not_in(named) if named else Request.kind.is_not(None)
            out.append(
                (
                    select(func.min(Request.filed_at))
                    .where(
                        Request.status == RequestStatus.filed,
                        Request.filed_at > after - wait,
                        which,
                    )
                    .scalar_subquery(),
                    wait,
                )
            )
    for hours, org_ids in groups.by_whereabouts.items():
        wait = timedelta(hours=hours)
        since = Case.location_unknown_since
        out.append(
            (
                select(func.min(since))
                .where(
                    Case.closed_at.is_(None),
                    since > after - wait,
                    Case.custody_status == CustodyStatus.detained,
                    *_org_filter(Case.organization_id, len(groups.by_whereabouts), org_ids),
                )
                .scalar_subquery(),
                wait,
            )
        )
    for minutes in groups.escalation_delays:
        delay = timedelta(minutes=minutes)
        out.append(
            (
                select(func.min(Alert.raised_at))
                .join(Organization, Organization.id == Alert.organization_id)
                .where(
                    Organization.escalation_delay_minutes == minutes,
                    Alert.acknowledged_at.is_(None),
                    Alert.escalated_at.is_(None),
                    Alert.resolved_at.is_(None),
                    Alert.raised_at > after - delay,
                )
                .scalar_subquery(),
                delay,
            )
        )
    return out


def next_due(session: Session, groups: PolicyGroups, after: datetime) -> datetime | None:
    """The earliest moment after ``after`` at which a sweep has something new to raise."""
    candidates = _candidates(groups, after)
    if not candidates:
        return None
    values = session.execute(select(*(query for query, _ in candidates))).one()
    moments = [
        value + offset
        for value, (_, offset) in zip(values, candidates, strict=True)
        if value is not None
    ]
    return min(moments) if moments else None
