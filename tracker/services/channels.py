"""Channel changes a family sees the effect of, written where people look: the case timeline
and the audit log (issue 13).

A message that could not go on the contact's preferred channel (a WhatsApp window closed with
no approved template, a call for a kind that is never phoned), and the fallbacks that move a
contact to another channel after refused or undelivered messages (``tracker.services.delivery``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from notifications import events, outbox
from notifications.channels import ChannelNote, next_channel
from tracker.i18n import N_
from tracker.models import Case, Contact, Notification
from tracker.presentation import humanise
from tracker.services import Actor, audit, timeline
from tracker.vocab import Channel

CHANNEL_ACTOR = Actor.system("channels")


def notify_family(
    session: Session,
    case: Case,
    kind: str,
    event_key: str,
    now: datetime,
    params: Mapping[str, Any] | None = None,
) -> int:
    """``notifications.events.notify_family``, with every channel fallback it made recorded."""
    notes: list[ChannelNote] = []
    count = events.notify_family(session, case, kind, event_key, now, params, notes=notes)
    for note in notes:
        record_note(session, note, now)
    return count


def record_note(session: Session, note: ChannelNote, now: datetime) -> None:
    contact = session.get(Contact, note.contact_id)
    if contact is None:
        return
    if note.used is None:
        summary = N_(
            "Family {kind} message not sent: no consented channel can carry it ({reason})"
        ).format(kind=humanise(note.kind), reason=note.reason)
    else:
        summary = N_(
            "Family {kind} message sent by {used} instead of {preferred} ({reason})"
        ).format(
            kind=humanise(note.kind), used=note.used, preferred=note.preferred, reason=note.reason
        )
    data = {
        "contact_id": str(contact.id),
        "kind": note.kind,
        "preferred": note.preferred,
        "used": note.used,
        "reason": note.reason,
    }
    timeline.add(session, contact.case_id, "channel_fallback", summary, CHANNEL_ACTOR, data, now)
    audit.record(
        session,
        CHANNEL_ACTOR,
        "channel_fallback",
        "contact",
        contact.id,
        {"channel_used": [note.preferred, note.used], "reason": [None, note.reason]},
        organization_id=contact.case.organization_id,
        now=now,
    )


def switch_channel(session: Session, contact: Contact, to: str, why: str, now: datetime) -> None:
    """Move a contact's preferred channel (a fallback), audited and on the timeline."""
    before = contact.channel
    if before == to:
        return
    contact.channel = to
    contact.updated_at = now
    audit.record(
        session,
        CHANNEL_ACTOR,
        "update",
        "contact",
        contact.id,
        {"channel": [before, to], "reason": [None, why]},
        organization_id=contact.case.organization_id,
        now=now,
    )
    timeline.add(
        session,
        contact.case_id,
        "channel_switched",
        N_("Family contact now reached by {to} instead of {before}: {why}").format(
            to=to, before=before, why=why
        ),
        CHANNEL_ACTOR,
        {"contact_id": str(contact.id), "from": before, "to": to, "reason": why},
        now,
    )


# Twilio's "'To' number is not a valid mobile number": a landline, which a call can reach.
LANDLINE_CODE = "21614"


def fall_back_from_landline(
    session: Session, contact: Contact, refused: Notification, now: datetime
) -> bool:
    """An SMS refused with 21614: the contact moves to voice when the family consented to
    calls, and the refused message is phoned when it is one that calls carry. True when
    the fallback happened (the contact is then not unreachable)."""
    if refused.error_code != LANDLINE_CODE or refused.channel != Channel.sms.value:
        return False
    if Channel.voice.value not in (contact.consented_channels or []):
        return False
    why = N_("Twilio error 21614: the number is not a mobile number (a landline?)")
    switch_channel(session, contact, Channel.voice.value, why, now)
    resend_on(session, refused, contact, Channel.voice.value, now)
    # What still waits as SMS to this number would be refused the same way.
    for waiting in outbox.move_waiting(session, contact.id, Channel.sms.value, why, now):
        row = session.get(Notification, waiting)
        if row is not None:
            session.refresh(row)
            resend_on(session, row, contact, Channel.voice.value, now)
    return True


def fall_back_after_failure(
    session: Session, contact: Contact, failed: Notification, now: datetime
) -> bool:
    """The second undelivered message in a row on the contact's channel: the next channel
    the family consented to, with the failed message re-sent on it. True when it switched."""
    failures = (contact.consecutive_failures or 0) + 1
    if contact.unreachable or failed.channel != contact.channel or failures % 2:
        return False
    following = next_channel(contact, failures // 2)
    if following is None:
        return False
    contact.consecutive_failures = failures
    before = contact.channel
    switch_channel(
        session,
        contact,
        following,
        N_("{n} {channel} messages in a row were not delivered").format(n=2, channel=before),
        now,
    )
    resend_on(session, failed, contact, following, now)
    return True


def resend_on(
    session: Session, original: Notification, contact: Contact, channel: str, now: datetime
) -> uuid.UUID | None:
    """Queue ``original`` again on ``channel`` (once: its own dedupe key), in this
    transaction; a message that channel cannot carry is recorded as not sent, with why."""
    params = json.loads(original.params) if original.params else {}
    notes: list[ChannelNote] = []
    created = outbox.enqueue(
        session,
        organization_id=original.organization_id,
        to_phone=contact.phone,
        kind=original.kind,
        dedupe_key=f"{original.dedupe_key}:via:{channel}"[:200],
        language=original.language,
        params=params,
        case_id=original.case_id,
        alert_id=original.alert_id,
        contact_id=contact.id,
        now=now,
        channel=channel,
        notes=notes,
    )
    if created is not None:
        for note in notes:
            record_note(session, note, now)
    return created
