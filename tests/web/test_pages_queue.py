"""The urgent queue: order from the rules, badges in the facility's zone, filters, search."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from tests import factories
from tests.web.conftest import NOW, Org
from tests.web.pages_support import case_ids_in_order, signed_in, travel
from tracker import db
from tracker.models import Facility
from tracker.schemas import DeterminationIn, RequestCreate
from tracker.services import requests as request_service
from tracker.vocab import RequestKind, Role
from tracker.web import pages_queue


def _seed(orgs: tuple[Org, Org]) -> dict[str, uuid.UUID]:
    """Four open cases of org A, one closed, one of org B; returns their ids by role.

    All opened at a facility, as ordinary cases are (one opened nowhere is flagged
    whereabouts_unknown a day later)."""
    a, b = orgs
    actor = a.actor(Role.attorney)
    with db.session_scope() as s:
        chicago = Facility(name="Test Facility Chicago", time_zone="America/Chicago")
        s.add(chicago)
        s.flush()
        removal = factories.case(
            s,
            actor,
            NOW - timedelta(days=1),
            given_name="María José",
            family_name="Ejemplo",
            a_number="A-012-345-678",
            facility_id=chicago.id,
            attorney_id=a.users[Role.attorney].id,
            removal_scheduled_at=NOW + timedelta(hours=5),
        )
        decided = factories.case(
            s, actor, NOW - timedelta(days=3), given_name="Decided", facility_id=chicago.id
        )
        req = request_service.create_request(
            s,
            actor,
            decided,
            RequestCreate(kind=RequestKind.release, filed_at=NOW - timedelta(days=2)),
            NOW - timedelta(days=2),
        )
        request_service.record_determination(
            s,
            actor,
            req,
            DeterminationIn(outcome="denied", decided_at=NOW - timedelta(hours=10)),
            NOW - timedelta(hours=10),
        )
        ignored = factories.case(
            s, actor, NOW - timedelta(days=30), given_name="Ignored", facility_id=chicago.id
        )
        request_service.create_request(
            s,
            actor,
            ignored,
            RequestCreate(
                kind=RequestKind.prosecutorial_discretion, filed_at=NOW - timedelta(days=20)
            ),
            NOW - timedelta(days=20),
        )
        quiet = factories.case(
            s, actor, NOW - timedelta(days=2), given_name="Quiet", facility_id=chicago.id
        )
        closed = factories.case(
            s, actor, NOW - timedelta(days=2), given_name="Closed", facility_id=chicago.id
        )
        closed.closed_at = NOW - timedelta(days=1)
        other = factories.case(
            s,
            b.actor(Role.attorney),
            NOW,
            given_name="Other Org",
            removal_scheduled_at=NOW + timedelta(hours=1),
        )
        return {
            "removal": removal.id,
            "decided": decided.id,
            "ignored": ignored.id,
            "quiet": quiet.id,
            "closed": closed.id,
            "other": other.id,
        }


def test_queue_orders_open_cases_by_urgency_with_badges(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    ids = _seed(orgs)
    travel(client)
    signed_in(client, orgs[0].users[Role.hotline].email)
    page = client.get("/")
    assert page.status_code == 200
    # Unanswered since 6 days, then removal in 5 h, then documentation due in 38 h, then
    # the case with no flag; never the closed case nor another organisation's.
    assert case_ids_in_order(page.text) == [
        str(ids["ignored"]),
        str(ids["removal"]),
        str(ids["decided"]),
        str(ids["quiet"]),
    ]
    html = page.text
    assert 'data-flag="unanswered"' in html and "overdue by 6 d" in html
    assert 'data-flag="removal_imminent"' in html and "in 5 h" in html
    assert 'data-flag="documentation_due"' in html and "in 38 h" in html
    # The removal is shown in the facility's zone (Chicago: CST), 17:00 UTC → 11:00 CST.
    assert "Mon 23 Nov, 11:00 CST" in html
    assert "Other Org" not in html and "Closed" not in html


def test_queue_filters_and_search(client: TestClient, orgs: tuple[Org, Org]) -> None:
    ids = _seed(orgs)
    travel(client)
    signed_in(client, orgs[0].users[Role.attorney].email)

    def found(query: str) -> list[str]:
        response = client.get("/?" + query)
        assert response.status_code == 200
        return case_ids_in_order(response.text)

    assert found("flag=documentation_due") == [str(ids["decided"])]
    assert found("flag=unanswered") == [str(ids["ignored"])]
    assert found(f"attorney_id={orgs[0].users[Role.attorney].id}") == [str(ids["removal"])]
    # Whole words, accents and case folded; every word must match.
    assert found("q=maria") == [str(ids["removal"])]
    assert found("q=JOSE+ejemplo") == [str(ids["removal"])]
    assert found("q=maria+quiet") == []
    # A-number in any common spelling.
    assert found("q=A012345678") == [str(ids["removal"])]
    assert found("q=012-345-678") == [str(ids["removal"])]
    # Another organisation's case is not found even by its exact name.
    assert found("q=Other+Org") == []
    # Nonsense filters are ignored rather than failing.
    assert len(found("flag=bogus&field_office_id=nope&cursor=x")) == 4


def test_stored_text_is_escaped(client: TestClient, orgs: tuple[Org, Org]) -> None:
    with db.session_scope() as s:
        factories.case(
            s, orgs[0].actor(), NOW, given_name="<script>alert(1)</script>", family_name="X&Y"
        )
    signed_in(client, orgs[0].users[Role.hotline].email)
    html = client.get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "X&amp;Y" in html


def test_queue_pages_with_a_cursor(
    client: TestClient, orgs: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _seed(orgs)
    monkeypatch.setattr(pages_queue, "PAGE_SIZE", 3)
    travel(client)
    signed_in(client, orgs[0].users[Role.hotline].email)
    first = client.get("/?flag=")
    assert case_ids_in_order(first.text) == [
        str(ids["ignored"]),
        str(ids["removal"]),
        str(ids["decided"]),
    ]
    link = re.search(r'href="\?([^"]+)" id="next-page"', first.text)
    assert link
    second = client.get("/?" + html.unescape(link.group(1)))
    assert case_ids_in_order(second.text) == [str(ids["quiet"])]
    assert 'id="next-page"' not in second.text
    # A mangled cursor starts again from the most urgent instead of failing.
    assert case_ids_in_order(client.get("/?cursor=%%%").text)[0] == str(ids["ignored"])
