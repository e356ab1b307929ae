"""Quiet hours: non-urgent family SMS wait for the morning in the family's time zone.

The family's zone is taken to be the case's detention facility zone, else its field office's,
else the organisation's. The window comes from the organisation (``quiet_hours``), else the
``QUIET_HOURS`` setting; ``off`` disables it. Counsel alerts are urgent and never wait.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifications.messages import FAMILY_KINDS
from tracker.models import Case
from tracker.presentation import case_zone

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    start: time
    end: time


def parse(spec: str | None) -> Window | None:
    """``"21:00-08:00"`` → a window; ``"off"`` (or empty) → None. Raises ValueError."""
    text = (spec or "").strip().lower()
    if text in ("", "off", "none", "0"):
        return None
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"quiet hours must look like 21:00-08:00 or be off, got {spec!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"quiet hours out of range: {spec!r}")
    if (h1, m1) == (h2, m2):
        return None
    return Window(time(h1, m1), time(h2, m2))


def applies(kind: str, urgent: bool) -> bool:
    return not urgent and kind in FAMILY_KINDS


def zone_for(case: Case | None, default_zone: str) -> str:
    return case_zone(case, default_zone)


def spec_for(case: Case | None, default_spec: str) -> str:
    if case is not None and case.organization is not None and case.organization.quiet_hours:
        return case.organization.quiet_hours
    return default_spec


def release_at(now: datetime, zone: str, window: Window | None) -> datetime | None:
    """When the quiet window containing ``now`` ends (UTC), or None when ``now`` is not quiet."""
    if window is None:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if window.start < window.end:  # e.g. 01:00-06:00, same day
        quiet = window.start <= t < window.end
        end_day = local.date()
    else:  # e.g. 21:00-08:00, across midnight
        quiet = t >= window.start or t < window.end
        end_day = local.date() + timedelta(days=1) if t >= window.start else local.date()
    if not quiet:
        return None
    end_local = datetime.combine(end_day, window.end, tzinfo=tz)
    # A DST gap can make the wall-clock end not exist; fold keeps it well defined.
    return end_local.astimezone(ZoneInfo("UTC"))


def hold_until(
    case: Case | None, kind: str, urgent: bool, now: datetime, default_spec: str, default_zone: str
) -> datetime | None:
    """When a message of ``kind`` for ``case`` may go, if it must wait; else None."""
    if not applies(kind, urgent):
        return None
    try:
        window = parse(spec_for(case, default_spec))
    except ValueError:
        window = parse("21:00-08:00")
    return release_at(now, zone_for(case, default_zone), window)
