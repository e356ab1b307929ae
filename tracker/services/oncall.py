"""On-call shifts (issue 15): plan them, ask who is on call, tell the team.

Who is on call at an instant is ``tracker.oncall``'s pure rule; this module reads the
organisation's shifts for it, writes shifts (audited), and queues the on-call SMS in the
caller's transaction: the shift-start notice (once per occurrence: its dedupe key names the
shift and the occurrence's start) and the "someone took it" notice after an OK.

No SMS here names a detained person; volunteers are named by their first name only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifications import outbox
from tracker import oncall, validators
from tracker.i18n import N_
from tracker.models import Alert, Notification, OnCallShift, Organization, User
from tracker.schemas import ShiftCreate
from tracker.services import Actor, NotFound, ServiceError, audit

log = logging.getLogger(__name__)

SHIFT_START_KIND = "shift_start"
ACK_TAKEN_KIND = "ack_taken"
# A weekly shift longer than a week would overlap itself.
MAX_WEEKLY = oncall.WEEK


@dataclass(frozen=True)
class OnCall:
    """A person on call now: where to text them and until when."""

    shift_id: uuid.UUID
    name: str
    phone: str
    language: str
    until: datetime
    user_id: uuid.UUID | None = None


def _rule(shift: OnCallShift) -> oncall.Shift:
    return oncall.Shift(shift.id, shift.starts_at, shift.ends_at, shift.weekly)


def person(shift: OnCallShift) -> tuple[str, str | None, str]:
    """(name, phone, language) of the shift's person; a user's as they are now."""
    user = shift.user
    if user is not None:
        return (user.name or user.email, user.phone if user.active else None, user.language)
    return (shift.name or "", shift.phone, "en")


def shifts_of(session: Session, organization_id: uuid.UUID) -> list[OnCallShift]:
    return list(
        session.scalars(
            select(OnCallShift)
            .where(OnCallShift.organization_id == organization_id)
            .order_by(OnCallShift.starts_at, OnCallShift.id)
        ).unique()
    )


def on_call_now(session: Session, org: Organization, now: datetime) -> list[OnCall]:
    """Everyone on shift at ``now`` with a phone to text; empty in a gap."""
    shifts = {s.id: s for s in shifts_of(session, org.id)}
    zone = ZoneInfo(org.time_zone)
    out: list[OnCall] = []
    seen: set[str] = set()
    for occ in oncall.on_call_at([_rule(s) for s in shifts.values()], now, zone):
        shift = shifts[occ.shift.id]
        name, phone, language = person(shift)
        if not phone or phone in seen:
            continue
        seen.add(phone)
        out.append(OnCall(shift.id, name, phone, language, occ.ends_at, shift.user_id))
    return out


def create_shift(session: Session, actor: Actor, data: ShiftCreate, now: datetime) -> OnCallShift:
    """Add a shift to the actor's organisation; every field checked before anything is written."""
    if actor.organization_id is None:
        raise ServiceError(N_("a shift belongs to an organisation"))
    errors: dict[str, str] = {}
    user: User | None = None
    if data.user_id is not None:
        if data.name is not None or data.phone is not None:
            errors["user_id"] = N_("give either user_id, or name and phone, not both")
        else:
            user = session.get(User, data.user_id)
            # Another organisation's user is answered exactly like a missing one.
            if user is None or user.organization_id != actor.organization_id:
                errors["user_id"] = N_("no such user in your organisation")
            elif not user.active:
                errors["user_id"] = N_("this user is deactivated")
            elif not user.phone:
                errors["user_id"] = N_("this user has no phone number to text")
    else:
        if data.name is None:
            errors["name"] = N_("required without user_id")
        if data.phone is None:
            errors["phone"] = N_("required without user_id")
    if data.ends_at <= data.starts_at:
        errors["ends_at"] = N_("must be after starts_at")
    elif data.weekly and data.ends_at - data.starts_at > MAX_WEEKLY:
        errors["ends_at"] = N_("a weekly shift lasts at most a week")
    if errors:
        raise ServiceError(N_("the shift cannot be added"), errors)
    shift = OnCallShift(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        user_id=user.id if user is not None else None,
        name=None if user is not None else data.name,
        phone=None if user is not None else data.phone,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        weekly=data.weekly,
        created_at=now,
    )
    audit.created(
        session, actor, shift, "on_call_shift", audit.diff({}, data.model_dump()), now=now
    )
    return shift


def get_shift(session: Session, actor: Actor, shift_id: uuid.UUID) -> OnCallShift:
    shift = session.get(OnCallShift, shift_id)
    if shift is None or shift.organization_id != actor.organization_id:
        raise NotFound("shift")
    return shift


def delete_shift(session: Session, actor: Actor, shift: OnCallShift, now: datetime) -> None:
    audit.record(
        session,
        actor,
        "delete",
        "on_call_shift",
        shift.id,
        {"starts_at": [shift.starts_at.isoformat(), None]},
        organization_id=shift.organization_id,
        now=now,
    )
    session.delete(shift)
    session.flush()


def _first_name(name: str) -> str:
    return name.split()[0] if name.strip() else ""


def announce_shift_starts(session: Session, now: datetime, window: timedelta) -> int:
    """Text each person whose shift occurrence started in (now - window, now] the count of
    open alerts; the number queued. Once per occurrence, however many clocks run it."""
    queued = 0
    for org in session.scalars(
        select(Organization).where(Organization.id.in_(select(OnCallShift.organization_id)))
    ):
        shifts = {s.id: s for s in shifts_of(session, org.id)}
        zone = ZoneInfo(org.time_zone)
        starting = oncall.starting_between(
            [_rule(s) for s in shifts.values()], now - window, now, zone
        )
        if not starting:
            continue
        open_count = session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.organization_id == org.id, Alert.resolved_at.is_(None))
        )
        for occ in starting:
            shift = shifts[occ.shift.id]
            _name, phone, language = person(shift)
            if not phone:
                continue
            stamp = occ.starts_at.strftime("%Y%m%dT%H%M%SZ")
            if outbox.enqueue(
                session,
                organization_id=org.id,
                to_phone=phone,
                kind=SHIFT_START_KIND,
                dedupe_key=f"shift_start:{shift.id}:{stamp}",
                language=language,
                params={"count": open_count or 0},
                user_id=shift.user_id,
                urgent=True,
                now=now,
            ):
                queued += 1
                log.info(
                    "shift %s started: notice queued for %s",
                    shift.id,
                    validators.mask_phone(phone),
                )
    return queued


def tell_others_taken(
    session: Session,
    alert: Alert,
    now: datetime,
    user: User | None = None,
    phone: str | None = None,
    name: str | None = None,
) -> int:
    """After an OK from ``user`` (or from ``phone``: a counsel contact's, or an on-call phone
    of no user, whose first ``name`` is given): tell the others the alert's escalation reached
    that someone took it; the number of notices queued.

    Only those whose escalation was actually sent: one still queued (quiet hours) or
    suppressed never reached them, so "X took it" would be news of an alert they never saw.
    Runs in the acknowledging transaction; one notice per (alert, phone).
    """
    taker_phone = (user.phone if user is not None else None) or phone
    taker_name = _first_name(user.name or "") if user is not None else (name or "")
    escalated = session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id,
            Notification.kind == "escalation",
            Notification.sent_at.is_not(None),
        )
    )
    queued = 0
    seen = {taker_phone} if taker_phone else set()
    for sent in escalated:
        if sent.to_phone in seen:
            continue
        seen.add(sent.to_phone)
        if outbox.enqueue(
            session,
            organization_id=alert.organization_id,
            to_phone=sent.to_phone,
            kind=ACK_TAKEN_KIND,
            dedupe_key=f"ack_taken:{alert.id}:{validators.phone_hash(sent.to_phone)[:32]}",
            language=sent.language,
            params={"taker": taker_name or "counsel", "alert_kind": alert.kind},
            case_id=alert.case_id,
            alert_id=alert.id,
            user_id=sent.user_id,
            urgent=True,
            now=now,
        ):
            queued += 1
    return queued
