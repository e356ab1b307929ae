"""Channel changes a family sees the effect of, written where people look: the case timeline
and the audit log (issue 13).

A message that could not go on the contact's preferred channel (a WhatsApp window closed with
no approved template, a call for a kind that is never phoned), and the fallbacks that move a
contact to another channel after refused or undelivered messages (``tracker.services.delivery``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from notifications import events
from notifications.channels import ChannelNote
from tracker.models import Case, Contact
from tracker.services import Actor, audit, timeline

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
        summary = (
            f"Family {note.kind} message not sent: no consented channel can carry it "
            f"({note.reason})"
        )
    else:
        summary = (
            f"Family {note.kind} message sent by {note.used} instead of {note.preferred} "
            f"({note.reason})"
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
        f"Family contact now reached by {to} instead of {before}: {why}",
        CHANNEL_ACTOR,
        {"contact_id": str(contact.id), "from": before, "to": to, "reason": why},
        now,
    )
