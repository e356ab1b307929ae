"""Alerts from the rules: raise each due rung once, resolve those that no longer hold,
acknowledge, escalate.

The same primitives serve the event-driven path (``sync_case``, called by every service write
in the caller's transaction) and the clock's sweeps (``jobs.sweeps``), so that a flag raised by
a web request and the same flag found by a sweep are one alert: the ``dedupe_key`` of
``rules.Flag`` is UNIQUE and every insert is ``ON CONFLICT DO NOTHING``.

An alert whose flag stops holding is *cleared*: resolved, its queued SMS suppressed, and its
key set aside (suffixed) so that, should the same flag hold again later (a removal moved back
to its first date, a closed case reopened), it alerts again instead of staying silent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session, selectinload

from notifications import outbox
from tracker import db, facts, rules, validators
from tracker.i18n import N_
from tracker.models import (
    Alert,
    Case,
    CustodyEvent,
    Notification,
    Organization,
    Request,
    User,
)
from tracker.presentation import case_zone, flag_phrase
from tracker.services import Actor, NotFound, ServiceError, audit, liaisons, oncall, timeline
from tracker.timefmt import local_label
from tracker.vocab import (
    ContactRole,
    CustodyEventKind,
    CustodyStatus,
    FacilityKind,
    FlagKind,
    NotificationStatus,
    RequestStatus,
    Role,
)

log = logging.getLogger(__name__)

ACK_CHANNELS = ("web", "api", "sms")
CLOCK = Actor.system("clock")
# Alerts raised by a write (event-driven) are the rules' doing, not the writer's.
RULES = Actor.system("rules")

# Resolutions. ``superseded``: a tighter rung of the same ladder alerted; the others mean the
# flag no longer holds ("cleared").
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Recipient:
    phone: str
    language: str
    contact_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


def _alert_label(kind: str, rung: int | None) -> str:
    label = flag_phrase(kind)
    return N_("{phrase}, {hours} h").format(phrase=label, hours=rung) if rung else label


def display_zone(case: Case) -> str:
    """The zone ``case``'s deadlines are shown in (tracker.presentation.case_zone), with the
    default zone of the settings the case's session carries."""
    session = object_session(case)
    if session is None:
        raise RuntimeError("display_zone needs a case that belongs to a session")
    return case_zone(case, db.settings_of(session).default_time_zone)


def counsel_recipients(case: Case) -> list[Recipient]:
    """Counsel contacts not opted out, and the assigned attorney; one entry per phone."""
    seen: set[str] = set()
    out: list[Recipient] = []
    for contact in case.contacts:
        if contact.role is not ContactRole.counsel or contact.opted_out_at is not None:
            continue
        if contact.phone in seen:
            continue
        seen.add(contact.phone)
        out.append(Recipient(contact.phone, contact.language or "en", contact_id=contact.id))
    attorney = case.attorney
    if attorney is not None and attorney.active and attorney.phone and attorney.phone not in seen:
        seen.add(attorney.phone)
        out.append(Recipient(attorney.phone, attorney.language or "en", user_id=attorney.id))
    return out


def _request_of(case: Case, request_id: uuid.UUID | None) -> Request | None:
    if request_id is None:
        return None
    return next((r for r in case.requests if r.id == request_id), None)


# Liaison texts already looked up by (organisation, field office), within one batch of alerts:
# ``session.get`` remembers a liaison that exists but asks again for one that does not.
LiaisonMemo = dict[tuple[uuid.UUID, uuid.UUID], str]


def _liaison(case: Case, request: Request | None, memo: LiaisonMemo | None = None) -> str:
    """The case's organisation's own liaison at the request's (else the case's) field office."""
    office_id = (request.field_office_id if request else None) or case.field_office_id
    session = object_session(case)
    if office_id is None or session is None:
        return ""
    key = (case.organization_id, office_id)
    if memo is not None and key in memo:
        return memo[key]
    liaison = liaisons.get(session, case.organization_id, office_id)
    text = "" if liaison is None else " ".join(p for p in (liaison.name, liaison.phone) if p)
    if memo is not None:
        memo[key] = text
    return text


def message_params(
    case: Case,
    kind: str,
    rung: int | None,
    due_at: datetime | None,
    request_id: uuid.UUID | None,
    language: str,
    memo: LiaisonMemo | None = None,
) -> dict[str, Any]:
    """Template parameters: the given name only, never a family name or an A-number."""
    request = _request_of(case, request_id)
    params: dict[str, Any] = {
        "first_name": case.given_name,
        "local_time": local_label(due_at, display_zone(case), language) if due_at else "",
        "rung": rung or "",
        "request_kind": request.kind.value if request is not None else "",
    }
    if kind == FlagKind.unanswered:
        params["liaison"] = _liaison(case, request, memo)
    if kind == FlagKind.transferred:
        params.update(_transfer_params(case, due_at))
    return params


def _transfer_params(case: Case, at: datetime | None) -> dict[str, str]:
    """From where to where, and under which field office: of the transfer at ``at``."""
    session = object_session(case)
    event = None
    if session is not None:
        query = select(CustodyEvent).where(
            CustodyEvent.case_id == case.id, CustodyEvent.kind == CustodyEventKind.transferred
        )
        if at is not None:
            query = query.where(CustodyEvent.at == at)
        event = session.scalars(
            query.order_by(CustodyEvent.at.desc(), CustodyEvent.created_at.desc()).limit(1)
        ).first()
    to = event.facility if event is not None else case.facility
    office = (to.field_office if to is not None else None) or case.field_office
    return {
        "from_facility": event.from_facility.name
        if event is not None and event.from_facility is not None
        else "?",
        "to_facility": to.name if to is not None else "?",
        "field_office": office.name if office is not None else "?",
    }


def raise_event_alert(
    session: Session, case: Case, flag: rules.Flag, now: datetime, actor: Actor
) -> uuid.UUID | None:
    """Raise the alert of an event (``rules.EVENT_KINDS``): texted, acknowledged and escalated
    like the alerts of the rules, but never cleared by them."""
    return raise_flag(session, case, flag, now, facts.policy_for(case.organization), actor)


@dataclass(frozen=True)
class Due:
    """A flag to raise for a case, under the case's organisation policy."""

    case: Case
    flag: rules.Flag
    policy: rules.Policy


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """INSERT the alerts whose dedupe key is new, in one batch; the ids inserted."""
    session.flush()
    dialect = session.get_bind().dialect.name
    table = cast(Table, Alert.__table__)
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:  # pragma: no cover - only the two supported backends
        stmt = insert(table)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    # The executemany form is sent as multi-row INSERTs ("insertmanyvalues") compiled once.
    result = session.connection().execute(stmt.returning(table.c.id), rows)
    return {row[0] for row in result}


def raise_flags(
    session: Session, items: Sequence[Due], now: datetime, actor: Actor = CLOCK
) -> list[uuid.UUID | None]:
    """Raise the alerts of many flags at once and queue their SMS, in the caller's
    transaction; for each item the new alert's id, or None when it was raised already.

    Batched (one INSERT for the alerts, one UPDATE for the rungs they supersede, the audit
    and timeline rows flushed together) because a sweep raising a thousand alerts must not
    pay a thousand round trips for each. The cases must have contacts, requests and
    attorney loadable.
    """
    ids: list[uuid.UUID | None] = [None] * len(items)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = item.flag.dedupe_key()
        if not item.flag.alerts or key in seen:
            continue
        seen.add(key)
        ids[i] = uuid.uuid4()
        rows.append(
            {
                "id": ids[i],
                "organization_id": item.case.organization_id,
                "case_id": item.case.id,
                "request_id": item.flag.request_id,
                "kind": item.flag.kind.value,
                "rung": item.flag.rung,
                "due_at": item.flag.due_at,
                "dedupe_key": key,
                "raised_at": now,
                "acknowledged_at": None,
                "acknowledged_by_id": None,
                "acknowledged_via": None,
                "escalated_at": None,
                "resolved_at": None,
                "resolution": None,
            }
        )
    if not rows:
        return ids
    inserted = _insert_ignore(session, rows)
    ids = [i if i in inserted else None for i in ids]
    raised = [(item, alert_id) for item, alert_id in zip(items, ids, strict=True) if alert_id]
    _supersede_wider(session, raised, now)
    unheard: list[uuid.UUID] = []
    sms_rows: list[dict[str, Any]] = []
    memo: LiaisonMemo = {}
    audit_rows: list[dict[str, Any]] = []
    timeline_rows: list[dict[str, Any]] = []
    for item, alert_id in raised:
        case, flag = item.case, item.flag
        recipients = counsel_recipients(case)
        if not recipients:
            unheard.append(alert_id)
        sms_rows += _alert_sms_rows(
            session,
            case,
            alert_id,
            flag.kind.value,
            flag.rung,
            flag.due_at,
            flag.request_id,
            recipients,
            now,
            memo,
        )
        audit_rows.append(
            audit.row(
                actor,
                "raise",
                "alert",
                alert_id,
                {
                    "kind": [None, flag.kind.value],
                    "rung": [None, flag.rung],
                    "due_at": [None, flag.due_at.isoformat()],
                },
                organization_id=case.organization_id,
                now=now,
            )
        )
        timeline_rows.append(
            timeline.row(
                case.id,
                "alert_raised",
                N_("Alert: {alert}").format(alert=_alert_label(flag.kind.value, flag.rung)),
                actor,
                {"alert_id": str(alert_id), "kind": flag.kind.value, "rung": flag.rung},
                now=now,
            )
        )
    outbox.insert_rows(session, sms_rows)
    audit.append_many(session, audit_rows)
    timeline.add_many(session, timeline_rows)
    # No counsel to text (none listed, all opted out, no attorney phone): waiting for an
    # acknowledgement nobody can give would only delay the hotline, so escalate at once.
    escalate_many(session, unheard, now)
    return ids


def _alert_sms_rows(
    session: Session,
    case: Case,
    alert_id: uuid.UUID,
    kind: str,
    rung: int | None,
    due_at: datetime | None,
    request_id: uuid.UUID | None,
    recipients: Sequence[Recipient],
    now: datetime,
    memo: LiaisonMemo | None = None,
) -> list[dict[str, Any]]:
    """An alert's outbox rows, one per recipient; the key (alert, phone) makes each once-only."""
    return [
        outbox.build_row(
            session,
            organization_id=case.organization_id,
            to_phone=recipient.phone,
            kind=kind,
            dedupe_key=f"alert:{alert_id}:{validators.phone_hash(recipient.phone)[:32]}",
            language=recipient.language,
            params=message_params(case, kind, rung, due_at, request_id, recipient.language, memo),
            case_id=case.id,
            alert_id=alert_id,
            contact_id=recipient.contact_id,
            user_id=recipient.user_id,
            urgent=True,
            now=now,
        )
        for recipient in recipients
    ]


def notify_new_counsel(session: Session, case: Case, now: datetime) -> int:
    """Give counsel added after an alert was raised that alert too (once per phone).

    Open, unacknowledged alerts are still waiting for someone to act; a newly listed counsel
    contact or newly assigned attorney is exactly that someone.
    """
    pending = [a for a in open_alerts(session, [case.id]) if a.acknowledged_at is None]
    recipients = counsel_recipients(case)
    rows: list[dict[str, Any]] = []
    memo: LiaisonMemo = {}
    for alert in pending:
        rows += _alert_sms_rows(
            session,
            case,
            alert.id,
            alert.kind,
            alert.rung,
            alert.due_at,
            alert.request_id,
            recipients,
            now,
            memo,
        )
    outbox.insert_rows(session, rows)
    return len(pending)


def raise_flag(
    session: Session,
    case: Case,
    flag: rules.Flag,
    now: datetime,
    policy: rules.Policy | None = None,
    actor: Actor = CLOCK,
) -> uuid.UUID | None:
    """Raise the alert of one flag (see ``raise_flags``); None when it was raised already."""
    return raise_flags(session, [Due(case, flag, policy or rules.Policy())], now, actor)[0]


def _supersede_wider(
    session: Session, raised: Sequence[tuple[Due, uuid.UUID]], now: datetime
) -> None:
    """A tighter rung alerted: the wider rungs of the same ladder are done (no escalation;
    their unsent SMS would only repeat it)."""
    # The tightest rung raised now, by ladder (subject, kind, due time).
    tightest: dict[tuple[uuid.UUID, str, datetime], int] = {}
    for item, _ in raised:
        rung = item.flag.rung
        # The widest rung supersedes nothing: skip the statements in the common case.
        if rung is None or rung >= item.policy.ladder_hours[0]:
            continue
        key = (item.flag.request_id or item.case.id, item.flag.kind.value, item.flag.due_at)
        tightest[key] = min(tightest.get(key, rung), rung)
    if not tightest:
        return
    # Read the cases' open rungs and match them here, then resolve by id: two statements
    # compiled once, where an OR of one condition per alert was compiled anew every time.
    rows = session.execute(
        select(Alert.id, Alert.case_id, Alert.request_id, Alert.kind, Alert.due_at, Alert.rung)
        .where(
            Alert.case_id.in_(sorted({item.case.id for item, _ in raised})),
            Alert.resolved_at.is_(None),
            Alert.rung.is_not(None),
        )
        .order_by(Alert.id)
    )
    wider = []
    for row in rows:
        rung = tightest.get((row.request_id or row.case_id, row.kind, row.due_at))
        if rung is not None and row.rung is not None and row.rung > rung:
            wider.append(row.id)
    if not wider:
        return
    superseded = list(
        session.scalars(
            update(Alert)
            .where(Alert.id.in_(wider), Alert.resolved_at.is_(None))
            .values(resolved_at=now, resolution=SUPERSEDED)
            .returning(Alert.id)
        )
    )
    outbox.suppress_pending(session, alert_ids=superseded, now=now)


def _clear_reason(alert: Alert, case: Case, now: datetime) -> str:
    """Why the flag of ``alert`` stopped holding, in words for the timeline."""
    if case.closed_at is not None:
        return "case_closed"
    request = _request_of(case, alert.request_id)
    kind = alert.kind
    if kind == FlagKind.removal_likely:
        if case.custody_status is not CustodyStatus.detained:
            return case.custody_status.value
        if case.facility is None or case.facility.kind is not FacilityKind.staging:
            return "moved"
        return "stay_granted"
    if kind == FlagKind.whereabouts_unknown:
        if case.custody_status is not CustodyStatus.detained:
            return case.custody_status.value
        return "located" if case.location_unknown_since is None else "dates_changed"
    if kind == FlagKind.removal_imminent:
        if case.custody_status is CustodyStatus.removed:
            return "removed"
        if case.removal_scheduled_at is None:
            return "removal_cancelled"
        if case.removal_scheduled_at != alert.due_at:
            return "removal_moved"
        return "stay_granted"
    if request is None:
        return "request_deleted"
    if kind == FlagKind.documentation_overdue and request.documentation_received_at is not None:
        return "documentation_received"
    if kind == FlagKind.unanswered and request.status is not RequestStatus.filed:
        return "withdrawn" if request.status is RequestStatus.withdrawn else "decided"
    return "dates_changed"


def clear(
    session: Session, alerts: Sequence[Alert], case: Case, now: datetime, actor: Actor
) -> None:
    """Resolve alerts whose flag no longer holds and suppress their queued SMS."""
    for alert in alerts:
        reason = _clear_reason(alert, case, now)
        alert.resolved_at = now
        alert.resolution = reason
        # Free the key: the same flag holding again later must alert again.
        alert.dedupe_key = f"{alert.dedupe_key}~{alert.id.hex[:12]}"[:200]
        audit.record(
            session,
            actor,
            "resolve",
            "alert",
            alert.id,
            {"resolution": [None, reason]},
            organization_id=alert.organization_id,
            now=now,
        )
        timeline.add(
            session,
            alert.case_id,
            "alert_resolved",
            N_("Alert resolved ({alert}): {reason}").format(
                alert=_alert_label(alert.kind, alert.rung), reason=reason.replace("_", " ")
            ),
            actor,
            {"alert_id": str(alert.id), "resolution": reason},
            now=now,
        )
    session.flush()
    outbox.suppress_pending(session, alert_ids=[a.id for a in alerts], now=now)


def sync_case(
    session: Session, case: Case, now: datetime, actor: Actor | None = None, new: bool = False
) -> None:
    """Bring the case's alerts in line with its flags at ``now`` (same transaction).

    Raises at once every alerting flag that is due (a removal entered for tonight alerts in
    the request that entered it) and clears open alerts whose flag no longer holds. ``new``:
    the case was created in this transaction, so it has no open alert to look up.
    """
    actor = actor or RULES
    session.flush()
    policy = facts.policy_for(case.organization)
    flags = [f for f in rules.evaluate(facts.case_facts(case), now, policy) if f.alerts]
    wanted = {f.dedupe_key(): f for f in flags}
    open_alerts = (
        []
        if new
        else list(
            session.scalars(
                select(Alert).where(Alert.case_id == case.id, Alert.resolved_at.is_(None))
            )
        )
    )
    open_keys = {a.dedupe_key for a in open_alerts}
    raise_flags(
        session,
        [Due(case, flag, policy) for key, flag in wanted.items() if key not in open_keys],
        now,
        actor,
    )
    # Wider rungs of a flag that still holds are superseded by raise_flag, not cleared.
    ladders = {(f.kind.value, f.subject_id, f.due_at) for f in flags}
    stale = [
        a
        for a in open_alerts
        if a.kind not in rules.EVENT_KINDS
        and a.dedupe_key not in wanted
        and (a.kind, a.request_id or a.case_id, a.due_at) not in ladders
    ]
    if stale:
        clear(session, stale, case, now, actor)
    # Objects loaded before the Core UPDATEs above must not show stale state.
    for alert in open_alerts:
        if alert not in stale:
            session.expire(alert)


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
        raise ServiceError(
            N_("unknown channel"),
            {"via": N_("one of {choices}").format(choices=", ".join(ACK_CHANNELS))},
        )
    if alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = now
    alert.acknowledged_by_id = actor.user_id
    alert.acknowledged_via = via
    # Counsel answered: an escalation queued in the last moments need not wake the hotline.
    session.execute(
        update(Notification)
        .where(
            Notification.alert_id == alert.id,
            Notification.kind == "escalation",
            Notification.status == NotificationStatus.queued,
        )
        .values(status=NotificationStatus.suppressed, updated_at=now)
    )
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
        N_("Alert acknowledged ({alert}) via {via}").format(
            alert=N_("{phrase}, {hours} h").format(
                phrase=alert.kind.replace("_", " "), hours=alert.rung
            )
            if alert.rung
            else alert.kind.replace("_", " "),
            via=via,
        ),
        actor,
        {"alert_id": str(alert.id)},
        now=now,
    )
    return alert


def escalation_recipients(session: Session, org: Organization, now: datetime) -> list[Recipient]:
    """Everyone on shift at ``now`` (services.oncall); in a gap, the on-call number; without
    one, the organisation's active admins with a phone."""
    on_shift = oncall.on_call_now(session, org, now)
    if on_shift:
        return [Recipient(p.phone, p.language, user_id=p.user_id) for p in on_shift]
    if org.oncall_phone:
        return [Recipient(org.oncall_phone, "en")]
    admins = session.scalars(
        select(User).where(
            User.organization_id == org.id,
            User.role == Role.admin,
            User.active.is_(True),
            User.phone.is_not(None),
        )
    )
    return [Recipient(u.phone, u.language or "en", user_id=u.id) for u in admins if u.phone]


def escalate(session: Session, alert: Alert, now: datetime) -> bool:
    """Escalate one alert (``escalate_many``); True if done here."""
    return bool(escalate_many(session, [alert.id], now))


def escalate_many(
    session: Session, alert_ids: Sequence[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """Escalate each unacknowledged open alert of ``alert_ids`` once, to whoever is on call;
    the ids escalated here, in the caller's transaction.

    The claim is one conditional UPDATE, so two clocks racing escalate each alert once; it
    locks the rows in id order (as every sweep does), so two claims never deadlock. The
    outbox, audit and timeline rows of all of them go in one batch each.
    """
    if not alert_ids:
        return []
    claimable = (
        select(Alert.id)
        .where(
            Alert.id.in_(sorted(set(alert_ids))),
            Alert.escalated_at.is_(None),
            Alert.acknowledged_at.is_(None),
            Alert.resolved_at.is_(None),
        )
        .order_by(Alert.id)
        .with_for_update()
    )
    claimed = list(
        session.scalars(
            update(Alert)
            .where(Alert.id.in_(claimable.scalar_subquery()))
            .values(escalated_at=now)
            .returning(Alert.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    alerts = session.scalars(
        select(Alert)
        .where(Alert.id.in_(claimed))
        .order_by(Alert.id)
        .options(selectinload(Alert.case).selectinload(Case.requests))
        .execution_options(populate_existing=True)
    ).all()
    on_call: dict[uuid.UUID, list[Recipient]] = {}
    memo: LiaisonMemo = {}
    sms_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    timeline_rows: list[dict[str, Any]] = []
    for alert in alerts:
        case = alert.case
        if alert.organization_id not in on_call:
            on_call[alert.organization_id] = escalation_recipients(session, case.organization, now)
        recipients = on_call[alert.organization_id]
        if not recipients:
            log.error(
                "alert %s: no on-call number and no admin phone; escalation not sent", alert.id
            )
        for recipient in recipients:
            params = message_params(
                case,
                alert.kind,
                alert.rung,
                alert.due_at,
                alert.request_id,
                recipient.language,
                memo,
            )
            params["alert_kind"] = alert.kind
            sms_rows.append(
                outbox.build_row(
                    session,
                    organization_id=alert.organization_id,
                    to_phone=recipient.phone,
                    kind="escalation",
                    dedupe_key=f"escalation:{alert.id}:{validators.phone_hash(recipient.phone)[:32]}",
                    language=recipient.language,
                    params=params,
                    case_id=alert.case_id,
                    alert_id=alert.id,
                    user_id=recipient.user_id,
                    urgent=True,
                    now=now,
                )
            )
        audit_rows.append(
            audit.row(
                CLOCK,
                "escalate",
                "alert",
                alert.id,
                {"escalated_at": [None, now.isoformat()], "recipients": [None, len(recipients)]},
                organization_id=alert.organization_id,
                now=now,
            )
        )
        timeline_rows.append(
            timeline.row(
                alert.case_id,
                "alert_escalated",
                N_(
                    "Alert escalated to the hotline on call ({alert}): not acknowledged in time"
                ).format(alert=_alert_label(alert.kind, alert.rung)),
                CLOCK,
                {"alert_id": str(alert.id)},
                now=now,
            )
        )
    outbox.insert_rows(session, sms_rows)
    audit.append_many(session, audit_rows)
    timeline.add_many(session, timeline_rows)
    return [alert.id for alert in alerts]


def open_alerts(session: Session, case_ids: Iterable[uuid.UUID]) -> list[Alert]:
    ids = list(case_ids)
    if not ids:
        return []
    return list(
        session.scalars(select(Alert).where(Alert.case_id.in_(ids), Alert.resolved_at.is_(None)))
    )
