"""Who is on call at an instant: THE rule of on-call shifts, pure (no database, no clock).

A shift runs from ``starts_at`` to ``ends_at`` (UTC-aware instants). A weekly shift repeats
every seven days *in the organisation's zone*: each occurrence keeps the local wall-clock
start and end of the first one, so a Friday 18:00–Monday 08:00 shift stays 18:00–08:00 local
across a DST change (its length in hours changes instead). A local time that does not exist
(spring forward) is read with the offset before the change (``fold=0``), i.e. one hour later
on the wall; a time that occurs twice (fall back) is its first occurrence.

Overlapping shifts are all on call at once; a gap leaves nobody (the caller falls back).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Shift:
    id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    weekly: bool = False


@dataclass(frozen=True)
class Occurrence:
    shift: Shift
    starts_at: datetime
    ends_at: datetime


def _wall(t: datetime, zone: ZoneInfo) -> datetime:
    return t.astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def occurrence(shift: Shift, k: int, zone: ZoneInfo) -> Occurrence:
    """The ``k``-th occurrence (0: the first) of ``shift``."""
    if k == 0:
        return Occurrence(shift, shift.starts_at, shift.ends_at)
    start = _instant(_wall(shift.starts_at, zone) + k * WEEK, zone)
    end = _instant(_wall(shift.ends_at, zone) + k * WEEK, zone)
    return Occurrence(shift, start, end)


def _candidates(shift: Shift, t: datetime, zone: ZoneInfo) -> Iterator[int]:
    if not shift.weekly:
        yield 0
        return
    weeks = (_wall(t, zone) - _wall(shift.starts_at, zone)) / WEEK
    base = math.floor(weeks)
    # A weekly shift lasts at most a week, so only the occurrences starting in the week
    # before t (and, across a DST hour, either neighbour) can cover it.
    for k in (base - 1, base, base + 1):
        if k >= 0:
            yield k


def covering(shift: Shift, t: datetime, zone: ZoneInfo) -> Occurrence | None:
    """The occurrence of ``shift`` that covers ``t`` (start included, end excluded)."""
    for k in _candidates(shift, t, zone):
        occ = occurrence(shift, k, zone)
        if occ.starts_at <= t < occ.ends_at:
            return occ
    return None


def on_call_at(shifts: Iterable[Shift], t: datetime, zone: ZoneInfo) -> list[Occurrence]:
    """Every shift on call at ``t``, in the order given."""
    return [occ for s in shifts if (occ := covering(s, t, zone)) is not None]


def starting_between(
    shifts: Iterable[Shift], after: datetime, until: datetime, zone: ZoneInfo
) -> list[Occurrence]:
    """The occurrences that start in (``after``, ``until``]."""
    out: list[Occurrence] = []
    for shift in shifts:
        for k in _candidates(shift, until, zone):
            occ = occurrence(shift, k, zone)
            if after < occ.starts_at <= until:
                out.append(occ)
    return out
