"""``flag=removal_imminent`` pages come straight from the (organisation, removal) index: paged
by cursor, they hold exactly the cases the rules flag, in the rules' order, ties included."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db, facts, rules
from tracker.models import Case, Contact
from tracker.schemas import AppealIn, CaseCreate, DeterminationIn, RequestCreate
from tracker.services import cases as case_service
from tracker.services import requests as request_service
from tracker.vocab import ContactRole, FlagKind, RequestKind
from tracker.web import api_queue
from tracker.web.api import FlagOut


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


def test_list_flags_equal_the_rules_on_the_whole_case(
    orgs: tuple[Org, Org], client: TestClient
) -> None:
    """The list reads the rules' inputs as plain rows: appeal chains and unreachable contacts
    give the same flags as the rules on the fully loaded case."""
    north, _ = orgs
    actor = north.actor()
    with db.session_scope() as session:
        for i in range(6):
            case = case_service.create_case(
                session,
                actor,
                CaseCreate(given_name="Test", removal_scheduled_at=NOW + timedelta(hours=5 + i)),
                NOW - timedelta(days=20),
            )
            filed = NOW - timedelta(days=15)
            kind = RequestKind.stay_of_removal if i % 2 else RequestKind.release
            req = request_service.create_request(
                session, actor, case, RequestCreate(kind=kind, filed_at=filed), filed
            )
            if i >= 2:
                decided = filed + timedelta(days=1)
                request_service.record_determination(
                    session, actor, req, DeterminationIn(outcome="denied", decided_at=decided), NOW
                )
                appeal = request_service.appeal(
                    session, actor, req, AppealIn(filed_at=decided + timedelta(hours=1)), NOW
                )
                if i >= 4:
                    request_service.record_determination(
                        session,
                        actor,
                        appeal,
                        DeterminationIn(
                            outcome="granted",
                            decided_at=NOW - timedelta(hours=3),
                            stay_expires_at=NOW + timedelta(hours=30),
                        ),
                        NOW,
                    )
            if i == 3:
                contact = Contact(
                    case_id=case.id,
                    role=ContactRole.family,
                    phone="+12025550123",
                    phone_hash="test",
                    unreachable=True,
                    unreachable_since=NOW - timedelta(hours=2),
                )
                session.add(contact)

    body = client.get("/api/cases?limit=50", headers=north.headers()).json()
    with db.session_scope() as session:
        policy = facts.policy_for(north.org)
        for item in body["items"]:
            case = session.get_one(Case, uuid.UUID(item["id"]))
            expected = rules.evaluate(facts.case_facts(case), NOW, policy)
            assert item["flags"] == [FlagOut.of(f).model_dump(mode="json") for f in expected]
    kinds = {f["kind"] for item in body["items"] for f in item["flags"]}
    assert {
        "removal_imminent",
        "unanswered",
        "documentation_overdue",
        "unreachable",
        "stay_expiring",
    } <= kinds
