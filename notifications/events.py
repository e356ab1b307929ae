"""Family notifications for case events (request filed, decision, release, documentation).

Called by the services in the same transaction as the change. Only contacts who consented
and have not opted out are written to; the first message to a number introduces us.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from notifications import outbox
from notifications.channels import ChannelNote
from tracker.models import Case, Contact
from tracker.vocab import ContactRole


def family_recipients(case: Case) -> list[Contact]:
    """Family contacts who consented to at least one channel and did not reply STOP."""
    return [
        c
        for c in case.contacts
        if c.role is ContactRole.family and c.consented_channels and c.opted_out_at is None
    ]


def notify_family(
    session: Session,
    case: Case,
    kind: str,
    event_key: str,
    now: datetime,
    params: Mapping[str, Any] | None = None,
    notes: list[ChannelNote] | None = None,
) -> int:
    """Queue ``kind`` to every reachable family contact; ``event_key`` makes it once-only.
    ``notes`` collects the messages that could not go on a contact's preferred channel."""
    count = 0
    for contact in family_recipients(case):
        base = {"first_name": case.given_name, "organization": case.organization.name}
        after_intro = contact.introduced_at is None
        if after_intro:
            intro_notes: list[ChannelNote] = []
            introduced = outbox.enqueue(
                session,
                organization_id=case.organization_id,
                to_phone=contact.phone,
                kind="introduction",
                dedupe_key=f"introduction:{contact.id}",
                language=contact.language,
                params=base,
                case_id=case.id,
                contact_id=contact.id,
                now=now,
                notes=intro_notes,
            )
            if introduced is not None and notes is not None:
                notes.extend(intro_notes)
            contact.introduced_at = now
        row_notes: list[ChannelNote] = []
        created = outbox.enqueue(
            session,
            organization_id=case.organization_id,
            to_phone=contact.phone,
            kind=kind,
            dedupe_key=f"{kind}:{event_key}:{contact.id}",
            language=contact.language,
            params={**base, **(params or {})},
            case_id=case.id,
            contact_id=contact.id,
            # A second after the introduction so that the introduction is claimed and sent
            # first, even when quiet hours hold both to the same morning.
            now=now + timedelta(seconds=1) if after_intro else now,
            notes=row_notes,
        )
        if created is not None and notes is not None:
            notes.extend(row_notes)
        count += created is not None
    return count
