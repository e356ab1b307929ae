"""The periods a public export may cover: whole calendar months or quarters, nothing else.

Two exports over free periods that differ by one day (1–10 and 1–11 October) differ by exactly
the people who filed on the 11th, whatever the small-cell suppression does to each. Fixed,
non-overlapping periods leave nothing to subtract. The internal report keeps free periods.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from tracker.validators import EARLIEST_YEAR, LATEST_YEAR

_PERIOD = re.compile(r"(?P<year>\d{4})-(?:(?P<month>0[1-9]|1[0-2])|[Qq](?P<quarter>[1-4]))")
PERIOD_HELP = "a calendar month (YYYY-MM, e.g. 2026-10) or quarter (YYYY-Qn, e.g. 2026-Q4)"
FREE_BOUND_REASON = (
    "the public CSV covers whole calendar months or quarters only: use period=YYYY-MM or YYYY-Qn"
)


def public_period(raw: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC for ``2026-10`` or ``2026-Q4``; ``ValueError`` with the reason.

    Only a period that has ended: the export of a running month would grow day by day, and
    two downloads a day apart would single out that day's filers."""
    match = _PERIOD.fullmatch(raw.strip())
    if match is None:
        raise ValueError(f"not {PERIOD_HELP}")
    year = int(match["year"])
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"the year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    first = int(match["month"]) if match["month"] else 3 * int(match["quarter"]) - 2
    months = 1 if match["month"] else 3
    start = datetime(year, first, 1, tzinfo=UTC)
    after = first + months
    end = datetime(year + (after > 12), (after - 1) % 12 + 1, 1, tzinfo=UTC)
    if end > now:
        raise ValueError("the period has not ended yet: a public export covers a finished period")
    return start, end


def last_finished_month(now: datetime) -> str:
    """The default public period: the calendar month before ``now``'s, e.g. ``2026-11``."""
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def public_period_fields(params: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """The period of a public export request (default: the last finished month), or
    ``PublicPeriodError`` naming each bad field; ``from``/``to`` are refused outright."""
    errors = {name: FREE_BOUND_REASON for name in ("from", "to") if params.get(name)}
    if errors:
        raise PublicPeriodError(errors)
    try:
        return public_period(params.get("period") or last_finished_month(now), now)
    except ValueError as exc:
        raise PublicPeriodError({"period": str(exc)}) from exc


class PublicPeriodError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
