"""The queue's SQL mirrors tracker.rules: on varied cases its order and membership equal the
order computed from the rules' own flags (rules.evaluate → soonest due, removal, creation)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.web.conftest import NOW, Org
from tracker import db, facts, rules
from tracker.models import Case, Contact
from tracker.schemas import AppealIn, CaseCreate, DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import RequestKind
from tracker.web import api_queue


def test_sql_order_equals_the_rules_order(orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    rng = random.Random(3)
    actor = north.actor()
    with db.session_scope() as session:
        for i in range(40):
            at = NOW - timedelta(days=30) + timedelta(minutes=i)
            removal = NOW + timedelta(hours=rng.choice([-5, 2, 5, 23, 30, 70, 100, 500]))
            case = case_service.create_case(
                session,
                actor,
                CaseCreate(
                    given_name="Test",
                    removal_scheduled_at=removal if rng.random() < 0.7 else None,
                ),
                at,
            )
            shape = rng.randrange(6)
            if shape == 0:
                continue
            kind = rng.choice([RequestKind.stay_of_removal, RequestKind.release])
            filed = NOW - timedelta(days=rng.choice([1, 13, 15, 20]))
            req = request_service.create_request(
                session, actor, case, RequestCreate(kind=kind, filed_at=filed), filed
            )
            if shape >= 2:
                decided = filed + timedelta(hours=rng.choice([1, 20, 40]))
                outcome = "granted" if shape in (2, 3) else "denied"
                expiry = NOW + timedelta(hours=rng.choice([10, 50, 300])) if shape == 3 else None
                request_service.record_determination(
                    session,
                    actor,
                    req,
                    DeterminationIn(
                        outcome=outcome,  # type: ignore[arg-type]
                        decided_at=decided,
                        stay_expires_at=expiry,
                    ),
                    decided,
                )
                if shape == 5:
                    appeal = request_service.appeal(
                        session, actor, req, AppealIn(filed_at=decided + timedelta(hours=1)), NOW
                    )
                    if rng.random() < 0.5:
                        request_service.record_determination(
                            session,
                            actor,
                            appeal,
                            DeterminationIn(outcome="granted", decided_at=NOW - timedelta(hours=3)),
                            NOW,
                        )
            if rng.random() < 0.15:
                contact = session.scalars(select(Contact).where(Contact.case_id == case.id)).first()
                if contact is not None:
                    contact.unreachable = True
                    contact.unreachable_since = NOW - timedelta(hours=2)

    with db.session_scope() as session:
        org_policy = facts.policy_for(north.org)
        cases = session.scalars(
            select(Case).options(selectinload(Case.requests), selectinload(Case.contacts))
        ).all()
        flags = {c.id: rules.evaluate(facts.case_facts(c), NOW, org_policy) for c in cases}
        expected = [
            c.id for c in sorted(cases, key=lambda c: api_queue.ordering_key(flags[c.id], c))
        ]
        assert any(flags.values()) and not all(flags.values())
        query = api_queue.CaseQuery(organization_id=north.org.id)
        got: list[uuid.UUID] = []
        cursor = None
        while True:
            page = api_queue.page(session, query, NOW, org_policy, 7, cursor)
            got += page.case_ids
            cursor = page.next_cursor
            if cursor is None:
                break
        assert got == expected
        for kind in rules.FlagKind:
            only = api_queue.page(
                session, api_queue.CaseQuery(north.org.id, flag=kind), NOW, org_policy, 200
            ).case_ids
            assert set(only) == {c for c, fl in flags.items() if any(f.kind == kind for f in fl)}
