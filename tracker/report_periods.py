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


def public_period_fields(params: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """The period of a public export request, or ``PublicPeriodError`` naming each bad field."""
    errors = {name: FREE_BOUND_REASON for name in ("from", "to") if params.get(name)}
    raw = params.get("period")
    start = end = None
    if not raw:
        errors.setdefault("period", f"required: {PERIOD_HELP}")
    else:
        try:
            start, end = public_period(raw, now)
        except ValueError as exc:
            errors["period"] = str(exc)
    if errors or start is None or end is None:
        raise PublicPeriodError(errors)
    return start, end


class PublicPeriodError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
