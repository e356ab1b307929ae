"""``flag=removal_imminent`` pages come straight from the (organisation, removal) index: paged
by cursor, they hold exactly the cases the rules flag, in the rules' order, ties included."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.web.conftest import NOW, Org
from tracker import db, facts, rules
from tracker.models import Case
from tracker.schemas import CaseCreate, DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import FlagKind, RequestKind
from tracker.web import api_queue


def test_removal_imminent_pages_follow_the_rules(orgs: tuple[Org, Org]) -> None:
    north, south = orgs
    rng = random.Random(11)
    with db.session_scope() as session:
        for org in (north, south):
            actor = org.actor()
            for i in range(30):
                # Few distinct removal and creation times: ties on both are the common case.
                removal = NOW + timedelta(hours=rng.choice([-3, 2, 2, 30, 30, 71, 200]))
                created = NOW - timedelta(days=2, minutes=rng.choice([0, 0, 5]) + i % 2)
                case = case_service.create_case(
                    session,
                    actor,
                    CaseCreate(given_name="Test", removal_scheduled_at=removal),
                    created,
                )
                if i % 7 == 3:
                    # A granted stay lifts the flag.
                    filed = NOW - timedelta(days=1)
                    req = request_service.create_request(
                        session,
                        actor,
                        case,
                        RequestCreate(kind=RequestKind.stay_of_removal, filed_at=filed),
                        filed,
                    )
                    request_service.record_determination(
                        session,
                        actor,
                        req,
                        DeterminationIn(outcome="granted", decided_at=filed),
                        filed,
                    )

    with db.session_scope() as session:
        policy = facts.policy_for(north.org)
        cases = session.scalars(
            select(Case)
            .where(Case.organization_id == north.org.id)
            .options(selectinload(Case.requests), selectinload(Case.contacts))
        ).all()
        flags = {c.id: rules.evaluate(facts.case_facts(c), NOW, policy) for c in cases}
        flagged = [
            c for c in cases if any(f.kind == FlagKind.removal_imminent for f in flags[c.id])
        ]
        expected = [
            c.id
            for c in sorted(
                flagged,
                key=lambda c: api_queue.ordering_key(
                    [f for f in flags[c.id] if f.kind == FlagKind.removal_imminent], c
                ),
            )
        ]
        assert 5 < len(expected) < len(cases)
        query = api_queue.CaseQuery(organization_id=north.org.id, flag=FlagKind.removal_imminent)
        got: list[uuid.UUID] = []
        cursor = None
        while True:
            page = api_queue.page(session, query, NOW, policy, 3, cursor)
            got += page.case_ids
            cursor = page.next_cursor
            if cursor is None:
                break
        assert got == expected
