"""Alerts from the rules: raise each due rung once, resolve those that no longer hold,
acknowledge, escalate.

``sync_case`` (event-driven raising and resolving) is filled in by the clock issue.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from tracker.models import Alert, Case
from tracker.services import Actor, NotFound, ServiceError, audit, timeline

ACK_CHANNELS = ("web", "api", "sms")


def sync_case(session: Session, case: Case, now: datetime) -> None:
    """Bring the case's alerts in line with its flags at ``now`` (same transaction)."""
    return None


def get_alert(session: Session, actor: Actor, alert_id: uuid.UUID) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.organization_id != actor.organization_id:
        raise NotFound("alert")
    return alert


def acknowledge(
    session: Session, actor: Actor, alert: Alert, now: datetime, via: str = "web"
) -> Alert:
    """Acknowledge once; acknowledging again is a no-op that keeps the first record."""
    if via not in ACK_CHANNELS:
        raise ServiceError("unknown channel", {"via": f"one of {', '.join(ACK_CHANNELS)}"})
    if alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = now
    alert.acknowledged_by_id = actor.user_id
    alert.acknowledged_via = via
    audit.record(
        session,
        actor,
        "acknowledge",
        "alert",
        alert.id,
        {"acknowledged_at": [None, now.isoformat()], "via": [None, via]},
        organization_id=alert.organization_id,
        now=now,
    )
    timeline.add(
        session,
        alert.case_id,
        "alert_acknowledged",
        f"Alert acknowledged ({alert.kind.replace('_', ' ')}"
        f"{f', {alert.rung} h' if alert.rung else ''}) via {via}",
        actor,
        {"alert_id": str(alert.id)},
        now=now,
    )
    return alert
