"""Alerts from the rules: raise each due rung once, resolve those that no longer hold.

Interim: the clock issue fills in ``sync_case`` (event-driven raising) and acknowledgement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tracker.models import Case


def sync_case(session: Session, case: Case, now: datetime) -> None:
    """Bring the case's alerts in line with its flags at ``now`` (same transaction)."""
    return None
