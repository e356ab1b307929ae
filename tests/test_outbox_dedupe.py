"""``outbox.enqueue`` reports honestly whether it inserted, on both backends."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifications import outbox
from tests import factories
from tests.world import NOW
from tracker.models import Notification


def test_second_enqueue_with_same_key_inserts_nothing_and_says_so(session: Session) -> None:
    org = factories.org(session, NOW)
    args = {
        "organization_id": org.id,
        "to_phone": "+12025550133",
        "kind": "introduction",
        "dedupe_key": "introduction:test",
        "params": {"first_name": "Ana", "organization": org.name},
        "now": NOW,
    }
    first = outbox.enqueue(session, **args)  # type: ignore[arg-type]
    second = outbox.enqueue(session, **args)  # type: ignore[arg-type]
    assert first is not None
    assert second is None
    assert session.scalar(select(func.count()).select_from(Notification)) == 1
