"""Showing UTC instants to people: in the facility's (or user's) zone, and relative to now."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from tracker.i18n import N_


def to_local(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone))


def local_label(instant: datetime, zone: str, locale: str = "en") -> str:
    """``Tue 24 Nov, 14:00 CST`` in the given zone and language."""
    local = to_local(instant, zone)
    try:
        return str(format_datetime(local, "EEE d MMM, HH:mm zzz", locale=locale.replace("-", "_")))
    except (ValueError, LookupError):
        return str(format_datetime(local, "EEE d MMM, HH:mm zzz", locale="en"))


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


def relative(due: datetime, now: datetime) -> str:
    """``in 5 h`` before the moment, ``overdue by 3 h`` after it."""
    # Marked for the web catalog; pages translate the result (tracker.i18n.translate_reason).
    if due >= now:
        return N_("in {span}").format(span=_span(due - now))
    return N_("overdue by {span}").format(span=_span(now - due))
