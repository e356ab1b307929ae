"""The queue's SQL mirrors tracker.rules: on varied cases its order and membership equal the
order computed from the rules' own flags (rules.evaluate → soonest due, removal, creation).

Most cases are opened at a facility, as real ones are: a detained case opened with no facility
is (rightly) flagged whereabouts_unknown a day later, so the few without one, and the few whose
whereabouts became unknown later or were confirmed again, exercise that flag."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.web.conftest import NOW, Org
from tests.world import facility
from tracker import db, facts, rules
from tracker.models import Case, Contact
from tracker.schemas import AppealIn, CaseCreate, CustodyEventIn, DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import custody as custody_service
from tracker.services import requests as request_service
from tracker.vocab import CustodyEventKind, CustodyStatus, RequestKind
from tracker.web import api_queue


def test_sql_order_equals_the_rules_order(orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    rng = random.Random(3)
    # Where each person is held draws from its own stream: the request shapes above stay as
    # they were (some combinations of them cannot be recorded).
    where = random.Random(11)
    actor = north.actor()
    with db.session_scope() as session:
        held = facility(session, "Queue Test Detention Center")
        for i in range(40):
            at = NOW - timedelta(days=30) + timedelta(minutes=i)
            removal = NOW + timedelta(hours=rng.choice([-5, 2, 5, 23, 30, 70, 100, 500]))
            place = where.random()
            case = case_service.create_case(
                session,
                actor,
                CaseCreate(
                    given_name="Test",
                    removal_scheduled_at=removal if rng.random() < 0.7 else None,
                    facility_id=held.id if place >= 0.2 else None,
                    custody_status=(
                        CustodyStatus.released if place < 0.05 else CustodyStatus.detained
                    ),
                ),
                at,
            )
            if 0.2 <= place < 0.35:
                # Whereabouts unknown since a while ago (flagged) or only since this morning.
                hours = where.choice([3, 23, 25, 60])
                custody_service.record_event(
                    session,
                    actor,
                    case,
                    CustodyEventIn(
                        kind=CustodyEventKind.whereabouts_unknown, at=NOW - timedelta(hours=hours)
                    ),
                    NOW,
                )
                if where.random() < 0.3:
                    custody_service.record_event(
                        session,
                        actor,
                        case,
                        CustodyEventIn(kind=CustodyEventKind.located, at=NOW - timedelta(hours=1)),
                        NOW,
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
        raised = {f.kind for fl in flags.values() for f in fl}
        assert rules.FlagKind.whereabouts_unknown in raised
        unknown = [c for c in cases if c.location_unknown_since is not None]
        assert any(
            not any(f.kind is rules.FlagKind.whereabouts_unknown for f in flags[c.id])
            for c in unknown
        ), "some case's whereabouts are unknown but not for long enough (or it was released)"
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
