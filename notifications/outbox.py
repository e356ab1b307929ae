"""The outbox: enqueue an SMS in the caller's transaction, exactly once per dedupe key;
claim due rows with a lease and record what became of each send."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict, Unpack, cast

from sqlalchemy import ColumnElement, Table, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifications import channels, quiet
from notifications.transports import Outgoing
from tracker import db, validators, wakeups
from tracker.models import Case, Contact, Notification, Organization, User
from tracker.types import utcnow
from tracker.vocab import Channel, ContactRole, NotificationStatus


class RowFields(TypedDict):
    """What one outbox row is made of (the rest: rendered body, status, timestamps)."""

    organization_id: uuid.UUID
    to_phone: str
    kind: str
    dedupe_key: str
    language: NotRequired[str]
    params: NotRequired[Mapping[str, Any] | None]
    case_id: NotRequired[uuid.UUID | None]
    alert_id: NotRequired[uuid.UUID | None]
    contact_id: NotRequired[uuid.UUID | None]
    user_id: NotRequired[uuid.UUID | None]
    urgent: NotRequired[bool]
    not_before: NotRequired[datetime | None]
    now: NotRequired[datetime | None]
    # Collects why a family message did not go on the contact's preferred channel.
    notes: NotRequired[list[channels.ChannelNote] | None]
    # This channel rather than the contact's choice (a fallback's re-send).
    channel: NotRequired[str | None]


def enqueue(session: Session, **fields: Unpack[RowFields]) -> uuid.UUID | None:
    """Insert one outbox row; return its id, or None when the dedupe key already exists."""
    row = build_row(session, **fields)
    return row["id"] if row["id"] in insert_rows(session, [row]) else None


def build_row(
    session: Session,
    *,
    organization_id: uuid.UUID,
    to_phone: str,
    kind: str,
    dedupe_key: str,
    language: str = "en",
    params: Mapping[str, Any] | None = None,
    case_id: uuid.UUID | None = None,
    alert_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    urgent: bool = False,
    not_before: datetime | None = None,
    now: datetime | None = None,
    notes: list[channels.ChannelNote] | None = None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The values of one outbox row (channel, rendered body, quiet-hours hold), for
    ``insert_rows``. ``channel``: this one (a fallback's re-send), not the contact's choice."""
    now = now or utcnow()
    due = max(not_before or now, now)
    contact = session.get(Contact, contact_id) if contact_id else None
    settings = db.settings_of(session)
    choice = (
        channels.on_channel(
            channel, contact, kind, language, params or {}, due, settings.whatsapp_templates
        )
        if channel is not None
        else channels.choose(
            contact, kind, language, params or {}, due, settings.whatsapp_templates
        )
    )
    if choice.channel == Channel.voice.value:
        # A call is never placed during quiet hours, whatever the message's urgency.
        urgent = False
    if quiet.applies(kind, urgent):
        # Held at enqueue so the worker does not claim it all night; re-checked at send time.
        held = quiet.hold_until(
            session.get(Case, case_id) if case_id else None,
            kind,
            urgent,
            due,
            settings.quiet_hours,
            settings.default_time_zone,
        )
        due = held or due
        if held and channel is None and choice.channel == Channel.whatsapp.value:
            # Held past the window's end: choose again for the moment it will really go.
            choice = channels.choose(
                contact, kind, language, params or {}, due, settings.whatsapp_templates
            )
    rendered = channels.body_for(choice.channel, kind, language, params or {})
    if contact is not None and notes is not None and (choice.note or choice.suppressed):
        notes.append(
            channels.ChannelNote(
                contact.id,
                case_id,
                kind,
                contact.channel,
                None if choice.suppressed else choice.channel,
                choice.suppressed or choice.note or "",
            )
        )
    org = session.get(Organization, organization_id)
    return {
        "id": uuid.uuid4(),
        "organization_id": organization_id,
        "case_id": case_id,
        "alert_id": alert_id,
        "contact_id": contact_id,
        "user_id": user_id,
        "to_phone": to_phone,
        # Routes a reply from this phone back to this organisation (``services.inbound``).
        "to_phone_hash": validators.phone_hash(to_phone),
        # The organisation's own sender, when it has one; NULL: the transport's global one.
        "sender": org.own_sender if org is not None else None,
        "language": language,
        "kind": kind,
        "body": rendered.body,
        "segments": rendered.segments,
        "encoding": rendered.encoding,
        "urgent": urgent,
        "dedupe_key": dedupe_key,
        "channel": choice.channel,
        "content_sid": choice.content_sid,
        "content_variables": choice.content_variables,
        "params": json.dumps(dict(params), default=str) if params else None,
        "status": NotificationStatus.suppressed if choice.suppressed else NotificationStatus.queued,
        "error_message": choice.suppressed,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
        "updated_at": now,
    }


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert outbox rows, skipping those whose dedupe key exists; the ids inserted.

    One cached statement executed over all rows: SQLAlchemy batches it into multi-row
    INSERTs ("insertmanyvalues"), so a sweep raising a thousand alerts pays a few round trips.
    """
    if not rows:
        return set()
    session.flush()
    table = cast(Table, Notification.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported backends
        raise RuntimeError(f"unsupported database {dialect}")
    # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT DO NOTHING.
    stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    inserted = set(session.connection().execute(stmt, rows).scalars())
    if inserted:
        wakeups.mark(session, wakeups.OUTBOX)
    return inserted


def _suppress_waiting(
    session: Session, which: ColumnElement[bool], reason: str, now: datetime
) -> int:
    """Suppress the rows ``which`` selects that have not gone out; returns how many."""
    result = session.execute(
        update(Notification)
        .where(
            which,
            # A row a worker holds is suppressed too: the worker re-checks before it posts.
            Notification.status.in_([NotificationStatus.queued, NotificationStatus.sending]),
        )
        .values(status=NotificationStatus.suppressed, error_message=reason, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def suppress_pending(session: Session, *, alert_ids: list[uuid.UUID], now: datetime) -> int:
    """Mark queued outbox rows of resolved alerts as suppressed; returns how many."""
    if not alert_ids:
        return 0
    return _suppress_waiting(
        session,
        Notification.alert_id.in_(alert_ids),
        "alert resolved or acknowledged before sending",
        now,
    )


# --- The worker's side: claim with a lease, then record what happened -----------------

N = Notification


@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row, as the send thread needs it (values already decrypted)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    case_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    user_id: uuid.UUID | None
    to_phone: str
    body: str
    kind: str
    urgent: bool
    segments: int
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sender: str | None = None
    channel: str = "sms"
    language: str = "en"
    content_sid: str | None = None
    content_variables: str | None = None
    # Set when the row was taken over from a worker whose lease ran out while it was
    # ``sending``: that worker may have posted it since this moment (see the dispatcher's
    # adoption of such a message instead of a second send).
    retaken_since: datetime | None = None


_CLAIMED_COLUMNS = (
    N.id,
    N.organization_id,
    N.case_id,
    N.contact_id,
    N.user_id,
    N.to_phone,
    N.body,
    N.kind,
    N.urgent,
    N.segments,
    N.attempts,
    N.next_attempt_at,
    N.created_at,
    N.sender,
    N.channel,
    N.language,
    N.content_sid,
    N.content_variables,
)


def claim(
    session: Session, worker: str, limit: int, now: datetime, lease: timedelta
) -> list[Claimed]:
    """Claim up to ``limit`` due rows for ``worker`` until ``now + lease`` (caller commits).

    Due: queued and ``next_attempt_at`` reached, or ``sending`` under a lease that ran out (its
    worker died; such a row comes back with ``retaken_since``).
    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so that concurrent workers never wait
    on or take each other's rows. SQLite: the engine opens every transaction with ``BEGIN
    IMMEDIATE``, so the whole UPDATE … RETURNING is one writer's claim.
    """
    if limit <= 0:
        return []
    due = (
        select(N.id, N.status.label("was_status"), N.claimed_until.label("was_until"))
        .where(
            N.status.in_([NotificationStatus.queued, NotificationStatus.sending]),
            N.next_attempt_at <= now,
            or_(N.status == NotificationStatus.queued, N.claimed_until < now),
        )
        .order_by(N.urgent.desc(), N.next_attempt_at, N.created_at)
        .limit(limit)
    )
    values = {
        "status": NotificationStatus.sending,
        "claimed_by": worker,
        "claimed_until": now + lease,
        "attempts": N.attempts + 1,
        "updated_at": now,
    }
    options = {"synchronize_session": False}
    rows: list[tuple[Any, Any, Any]]  # (claimed columns, status before, lease end before)
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the CTE locks the picked rows and carries what they were before.
        picked = due.with_for_update(skip_locked=True).cte("picked")
        stmt = (
            update(N)
            .where(N.id == picked.c.id)
            .values(values)
            .returning(*_CLAIMED_COLUMNS, picked.c.was_status, picked.c.was_until)
        )
        rows = [
            (row[: len(_CLAIMED_COLUMNS)], row[-2], row[-1])
            for row in session.execute(stmt, execution_options=options)
        ]
    else:
        # Under BEGIN IMMEDIATE nothing changes between the two statements.
        before = {i: (status, until) for i, status, until in session.execute(due)}
        if not before:
            return []
        stmt = update(N).where(N.id.in_(list(before))).values(values).returning(*_CLAIMED_COLUMNS)
        rows = [(row, *before[row[0]]) for row in session.execute(stmt, execution_options=options)]
    claimed = [
        dataclasses.replace(
            Claimed(*fields), retaken_since=_retaken_since(was_status, was_until, lease)
        )
        for fields, was_status, was_until in rows
    ]
    claimed.sort(key=lambda c: (not c.urgent, c.next_attempt_at, c.created_at))
    return claimed


def _retaken_since(status: Any, until: datetime | None, lease: timedelta) -> datetime | None:
    """When a row taken over from an expired lease may first have been posted: its last
    lease began (or was renewed, just before the post) at ``claimed_until - lease``."""
    if NotificationStatus(status) is not NotificationStatus.sending or until is None:
        return None
    return until - lease


def next_due(session: Session) -> datetime | None:
    """The next moment a row becomes claimable: a queued row's ``next_attempt_at`` or a
    ``sending`` row's lease expiry (the worker sleeps until then)."""
    queued = (
        select(func.min(N.next_attempt_at))
        .where(N.status == NotificationStatus.queued)
        .scalar_subquery()
    )
    leased = (
        select(func.min(N.claimed_until))
        .where(N.status == NotificationStatus.sending)
        .scalar_subquery()
    )
    first, second = session.execute(select(queued, leased)).one()
    moments = [m for m in (first, second) if m is not None]
    return min(moments) if moments else None


def _finish(session: Session, ids: list[uuid.UUID], worker: str | None, **values: Any) -> int:
    stmt = update(N).where(N.id.in_(ids))
    if worker is not None:
        stmt = stmt.where(N.claimed_by == worker, N.status == NotificationStatus.sending)
    result = session.execute(
        stmt.values(claimed_by=None, claimed_until=None, **values),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _put_back(
    session: Session, worker: str, ids: list[uuid.UUID], now: datetime, **values: Any
) -> int:
    """Return claimed rows that were never tried to the queue; the claim was no attempt."""
    if not ids:
        return 0
    return _finish(
        session,
        ids,
        worker,
        status=NotificationStatus.queued,
        attempts=N.attempts - 1,
        updated_at=now,
        **values,
    )


def release(session: Session, worker: str, ids: list[uuid.UUID], now: datetime) -> int:
    """Hand back claimed rows that were never tried (shutdown): due again at once."""
    return _put_back(session, worker, ids, now)


def defer(
    session: Session, worker: str, ids: list[uuid.UUID], until: datetime, now: datetime
) -> int:
    """Quiet hours: put claimed rows back, due at ``until``; not counted as an attempt."""
    return _put_back(session, worker, ids, now, next_attempt_at=until)


def renew(session: Session, worker: str, notification_id: uuid.UUID, until: datetime) -> bool:
    result = session.execute(
        update(N)
        .where(
            N.id == notification_id,
            N.claimed_by == worker,
            N.status == NotificationStatus.sending,
        )
        .values(claimed_until=until),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _settled_by_send(now: datetime) -> dict[str, Any]:
    """A send settles the worker's claim and any earlier error."""
    return {
        "claimed_by": None,
        "claimed_until": None,
        "error_code": None,
        "error_message": None,
        "updated_at": now,
    }


def mark_sent(
    session: Session, notification_id: uuid.UUID, sid: str, sender: str, now: datetime
) -> None:
    """Record the provider's id. A status callback may have won the race (``delivered``
    already): the status then stays where the callback put it."""
    session.execute(
        update(N)
        .where(N.id == notification_id)
        .values(
            provider_sid=sid,
            sender=sender[:64],
            sent_at=func.coalesce(N.sent_at, now),
            **_settled_by_send(now),
            status=case(
                (
                    N.status.in_(
                        [
                            NotificationStatus.queued,
                            NotificationStatus.sending,
                            NotificationStatus.suppressed,
                        ]
                    ),
                    NotificationStatus.sent,
                ),
                else_=N.status,
            ),
        ),
        execution_options={"synchronize_session": False},
    )


def mark_retry(
    session: Session,
    notification_id: uuid.UUID,
    worker: str,
    next_attempt_at: datetime,
    code: str | None,
    message: str,
    now: datetime,
) -> None:
    _finish(
        session,
        [notification_id],
        worker,
        status=NotificationStatus.queued,
        next_attempt_at=next_attempt_at,
        error_code=(code or "")[:16] or None,
        error_message=message[:2000],
        updated_at=now,
    )


def mark_failed(
    session: Session, notification_id: uuid.UUID, code: str | None, message: str, now: datetime
) -> None:
    _finish(
        session,
        [notification_id],
        None,
        status=NotificationStatus.failed,
        error_code=(code or "")[:16] or None,
        error_message=message[:2000],
        updated_at=now,
    )


def mark_suppressed(
    session: Session, notification_id: uuid.UUID, reason: str, now: datetime
) -> None:
    _finish(
        session,
        [notification_id],
        None,
        status=NotificationStatus.suppressed,
        error_message=reason[:2000],
        updated_at=now,
    )


def move_waiting(
    session: Session, contact_id: uuid.UUID, channel: str, reason: str, now: datetime
) -> list[uuid.UUID]:
    """Settle the contact's rows still waiting on ``channel`` as suppressed (``reason``);
    their ids, for the caller to queue them again on another channel."""
    ids = list(
        session.scalars(
            select(N.id).where(
                N.contact_id == contact_id,
                N.channel == channel,
                N.status.in_([NotificationStatus.queued, NotificationStatus.sending]),
            )
        )
    )
    if ids:
        _suppress_waiting(session, N.id.in_(ids), reason, now)
    return ids


def suppress_for_contacts(session: Session, contact_ids: list[uuid.UUID], now: datetime) -> int:
    """A contact opted out: nothing still waiting for them goes out."""
    if not contact_ids:
        return 0
    return _suppress_waiting(
        session, N.contact_id.in_(contact_ids), "recipient opted out (STOP)", now
    )


def mark_sent_many(session: Session, sent: list[tuple[uuid.UUID, str, str]], now: datetime) -> None:
    """``mark_sent`` for many rows in one statement (the worker's batched writer)."""
    if not sent:
        return
    table = cast(Table, Notification.__table__)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            provider_sid=bindparam("b_sid"),
            sender=bindparam("b_sender"),
            sent_at=func.coalesce(table.c.sent_at, now),
            **_settled_by_send(now),
            status=case(
                (
                    # Not IN (…): an expanding parameter cannot go through executemany.
                    or_(
                        table.c.status == NotificationStatus.queued.value,
                        table.c.status == NotificationStatus.sending.value,
                        table.c.status == NotificationStatus.suppressed.value,
                    ),
                    NotificationStatus.sent.value,
                ),
                else_=table.c.status,
            ),
        )
    )
    session.connection().execute(
        stmt,
        [{"b_id": i, "b_sid": sid, "b_sender": sender[:64]} for i, sid, sender in sent],
    )


def consent_problem(role: Any, consented: list[str] | None, channel: str) -> str | None:
    """Why a family contact may not be reached on ``channel`` (None: it may)."""
    if role != ContactRole.family or channel in (consented or []):
        return None
    if channel == Channel.sms.value:
        return "no SMS consent from this family contact"
    return f"no {channel} consent from this family contact"


def outgoing(row: Claimed) -> Outgoing:
    """What the transport is handed for a claimed row."""
    return Outgoing(
        row.id,
        row.to_phone,
        row.body,
        row.kind,
        row.segments,
        row.sender,
        channel=row.channel,
        language=row.language,
        content_sid=row.content_sid,
        content_variables=row.content_variables,
    )


@dataclass(frozen=True)
class Outcome:
    """What became of one send, waiting in the worker's result writer: ``sent`` (with the
    provider's id), ``queued`` again (a retry at ``next_attempt_at``) or ``failed``."""

    id: uuid.UUID
    status: NotificationStatus
    sid: str = ""
    sender: str = ""
    next_attempt_at: datetime | None = None
    code: str | None = None
    message: str = ""


def record_outcomes(session: Session, worker: str, outcomes: list[Outcome], now: datetime) -> None:
    """Record many sends' fates in the caller's transaction: at most one executemany
    statement per kind of fate, so a batch is one commit however many rows it holds."""
    sent = [(o.id, o.sid, o.sender) for o in outcomes if o.status is NotificationStatus.sent]
    mark_sent_many(session, sent, now)
    table = cast(Table, Notification.__table__)
    retries = [o for o in outcomes if o.status is NotificationStatus.queued]
    if retries:
        # Only while the row is still this worker's claim (as ``mark_retry``).
        stmt = (
            update(table)
            .where(
                table.c.id == bindparam("b_id"),
                table.c.claimed_by == worker,
                table.c.status == NotificationStatus.sending.value,
            )
            .values(
                status=NotificationStatus.queued.value,
                next_attempt_at=bindparam("b_next"),
                error_code=bindparam("b_code"),
                error_message=bindparam("b_message"),
                claimed_by=None,
                claimed_until=None,
                updated_at=now,
            )
        )
        session.connection().execute(stmt, [_error_params(o) for o in retries])
        # The worker may have gone to sleep before this write gave the rows a due time:
        # wake it (and the others) to recompute its sleep.
        wakeups.mark(session, wakeups.OUTBOX)
    failed = [o for o in outcomes if o.status is NotificationStatus.failed]
    if failed:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=NotificationStatus.failed.value,
                error_code=bindparam("b_code"),
                error_message=bindparam("b_message"),
                claimed_by=None,
                claimed_until=None,
                updated_at=now,
            )
        )
        session.connection().execute(stmt, [_error_params(o) for o in failed])


def _error_params(outcome: Outcome) -> dict[str, Any]:
    params: dict[str, Any] = {
        "b_id": outcome.id,
        "b_code": (outcome.code or "")[:16] or None,
        "b_message": outcome.message[:2000],
    }
    if outcome.status is NotificationStatus.queued:
        params["b_next"] = outcome.next_attempt_at
    return params


def suppress_unsendable(session: Session, ids: list[uuid.UUID], now: datetime) -> set[uuid.UUID]:
    """Of freshly claimed rows, settle those whose recipient opted out, withdrew consent or
    was deactivated; returns their ids."""
    if not ids:
        return set()
    reasons: dict[uuid.UUID, str] = {}
    for nid, opted_out_at, consented, role, channel in session.execute(
        select(
            Notification.id,
            Contact.opted_out_at,
            Contact.consented_channels,
            Contact.role,
            Notification.channel,
        )
        .join(Contact, Contact.id == Notification.contact_id)
        .where(Notification.id.in_(ids))
    ):
        problem = consent_problem(role, consented, channel)
        if opted_out_at is not None:
            reasons[nid] = "recipient opted out (STOP)"
        elif problem:
            reasons[nid] = problem
    for nid in session.scalars(
        select(Notification.id)
        .join(User, User.id == Notification.user_id)
        .where(Notification.id.in_(ids), User.active.is_(False))
    ):
        reasons[nid] = "recipient user is deactivated"
    for nid, reason in reasons.items():
        mark_suppressed(session, nid, reason, now)
    return set(reasons)
