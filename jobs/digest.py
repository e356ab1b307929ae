"""The morning digest: at 07:00 in each attorney's zone, one SMS listing their open alerts.

Transfers are news rather than deadlines (their alerts stay open until the case closes): the
digest counts those of the last day, so "1 transferred" says someone moved since yesterday.

The job runs every minute and sends during a morning window, so a clock that was down at
07:00 still sends the day's digest when it comes back (late, not never); the dedupe key
(attorney, local date) makes it once a day however often it runs and however many clocks run.
Nothing is sent to an attorney with nothing open.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from notifications import outbox
from tracker import db
from tracker.models import Alert, Case, Notification, User
from tracker.presentation import flag_phrase
from tracker.vocab import FlagKind, Role

log = logging.getLogger(__name__)

DIGEST_AT = time(7, 0)
# Until when a missed digest is still worth sending that morning.
DIGEST_UNTIL = time(12, 0)
# How far back the digest reports transfers: since the previous morning.
TRANSFERS_SINCE = timedelta(hours=24)


def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("digest: unknown time zone %r", candidate)
    return ZoneInfo("UTC")


def summary(by_kind: Counter[str]) -> str:
    """``2 removal imminent, 1 documentation overdue``: counts only, never a name."""
    return ", ".join(
        f"{n} {flag_phrase(kind)}"
        for kind, n in sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def send_digests(session: Session, now: datetime) -> int:
    """Queue today's digest for every attorney whose morning it is; returns how many."""
    attorneys = [
        u
        for u in session.scalars(
            select(User).where(
                User.role == Role.attorney, User.active.is_(True), User.phone.is_not(None)
            )
        )
        if u.phone
    ]
    default_zone = db.settings_of(session).default_time_zone
    due: dict[str, tuple[User, str]] = {}
    for user in attorneys:
        local = now.astimezone(_zone(user.time_zone or user.organization.time_zone, default_zone))
        if DIGEST_AT <= local.time() < DIGEST_UNTIL:
            key = f"digest:{user.id}:{local.date().isoformat()}"
            due[key] = (user, local.date().isoformat())
    if not due:
        return 0
    already = set(
        session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(due)))
    )
    todo = {k: v for k, v in due.items() if k not in already}
    if not todo:
        return 0
    ids = [u.id for u, _ in todo.values()]
    open_by_attorney: dict[object, Counter[str]] = defaultdict(Counter)
    for attorney_id, kind, n in session.execute(
        select(Case.attorney_id, Alert.kind, func.count())
        .join(Case, Case.id == Alert.case_id)
        .where(
            Case.attorney_id.in_(ids),
            Case.closed_at.is_(None),
            Alert.resolved_at.is_(None),
            or_(
                Alert.kind != FlagKind.transferred.value,
                Alert.raised_at > now - TRANSFERS_SINCE,
            ),
        )
        .group_by(Case.attorney_id, Alert.kind)
    ):
        open_by_attorney[attorney_id][kind] += int(n)
    sent = 0
    for key, (user, _day) in todo.items():
        by_kind = open_by_attorney.get(user.id)
        if not by_kind or user.phone is None:
            continue
        created = outbox.enqueue(
            session,
            organization_id=user.organization_id,
            to_phone=user.phone,
            kind="digest",
            dedupe_key=key,
            language=user.language or "en",
            params={"count": sum(by_kind.values()), "summary": summary(by_kind)},
            user_id=user.id,
            now=now,
        )
        sent += created is not None
    return sent
