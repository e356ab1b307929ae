"""Round trips to the database per request (issue 12): counted, so that they cannot creep back.

Every statement the app sends is counted (``before_cursor_execute``), and so is each BEGIN and
COMMIT of a real transaction (a read-only operation runs in AUTOCOMMIT and sends neither).
No pool pre-ping either: a dead pooled connection is found without a round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db, wakeups
from tracker.models import AuditEntry, Facility, FieldOffice
from tracker.vocab import FacilityKind, Role

# The request, statement by statement (PostgreSQL and SQLite alike).
INTAKE = 8  # BEGIN, token, facility, case, name tokens, audit, timeline, COMMIT
CASE_READ = 4  # token, case (with facility kind), requests, contacts; + its audit row
URGENT_PAGE = 3  # token, the page (cases, facility kind, earliest unreachable), requests


@contextmanager
def counted() -> Iterator[list[str]]:
    engine = db.get_engine()
    seen: list[str] = []

    def on_execute(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement != "BEGIN IMMEDIATE":  # counted as the transaction's BEGIN below
            seen.append(statement.split()[0].upper() + " " + statement[:60])

    def on_begin(conn: Any) -> None:
        if not db.is_autocommit(conn):
            seen.append("BEGIN")

    def on_commit(conn: Any) -> None:
        if not db.is_autocommit(conn):
            seen.append("COMMIT")

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", on_execute),
        ("begin", on_begin),
        ("commit", on_commit),
    ]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)


def _facility_id() -> str:
    with db.session_scope() as session:
        office = session.scalars(select(FieldOffice).order_by(FieldOffice.code)).first()
        assert office is not None
        facility = Facility(
            name="Round Trip Processing Center",
            kind=FacilityKind.detention,
            time_zone="America/Chicago",
        )
        facility.field_office_id = office.id
        session.add(facility)
        session.flush()
        return str(facility.id)


def _intake(client: TestClient, north: Org, facility_id: str, **more: Any) -> dict[str, Any]:
    body = {
        "given_name": "Ana",
        "family_name": "Pérez",
        "a_number": "A-123-456-789",
        "country_of_birth": "GT",
        "preferred_language": "es",
        "facility_id": facility_id,
        "factors": ["community_ties"],
        **more,
    }
    r = client.post("/api/cases", json=body, headers=north.headers())
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def test_intake_read_and_urgent_page_round_trips(client: TestClient, orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    facility_id = _facility_id()
    # The token's last use is written at most once a minute: the first request writes it.
    _intake(client, north, facility_id)
    with counted() as intake:
        created = _intake(client, north, facility_id)
    assert len(intake) == INTAKE, "\n".join(intake)
    assert created["field_office_id"] is not None and created["a_number"] == "123456789"

    removal = (NOW + timedelta(hours=30)).isoformat()
    _intake(client, north, facility_id, removal_scheduled_at=removal)
    with counted() as read:
        r = client.get(f"/api/cases/{created['id']}", headers=north.headers())
    assert r.status_code == 200
    assert len(read) == CASE_READ + 1, "\n".join(read)  # + the audit row
    assert [s for s in read if s.startswith("INSERT")] == [
        s for s in read if "audit_entries" in s
    ], "a read writes nothing but its audit row"
    assert "BEGIN" not in read and "COMMIT" not in read

    with counted() as page:
        r = client.get("/api/cases?flag=removal_imminent&limit=50", headers=north.headers())
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    assert len(page) == URGENT_PAGE, "\n".join(page)
    assert not [s for s in page if not s.startswith("SELECT")], "the list writes nothing"


def test_every_read_of_a_case_is_in_the_audit_log_without_a_transaction(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    north, _ = orgs
    created = _intake(client, north, _facility_id())
    for _ in range(3):
        assert client.get(f"/api/cases/{created['id']}", headers=north.headers()).status_code == 200
    with db.session_scope() as session:
        reads = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_id == created["id"], AuditEntry.action == "read"
            )
        ).all()
    assert len(reads) == 3
    assert {r.actor_id for r in reads} == {north.users[Role.attorney].id}


def test_a_connection_the_server_closed_is_replaced_without_a_pre_ping(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the pooled-connection check is PostgreSQL's (SQLite has no server)")
    engine = db.make_engine(db_url, pool_size=1, max_overflow=0)
    assert not engine.pool._pre_ping
    admin = create_engine(db.normalise_url(db_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
        # As a PostgreSQL restart does to every connection: the server ends it while pooled.
        with admin.connect() as a:
            assert a.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        for _ in range(50):  # the termination notice arrives asynchronously
            with admin.connect() as a:
                if not a.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
                ):
                    break
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT 1")) == 1
            assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        engine.dispose()
        admin.dispose()


def test_intake_wakes_the_clock_only_for_a_removal_date(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    """The NOTIFY round trip is spared for a new case without a removal; with one, the clock
    must still wake (its first rung is a deadline it has to sleep until)."""
    north, _ = orgs
    facility_id = _facility_id()
    for removal, wakes in ((None, False), ((NOW + timedelta(hours=80)).isoformat(), True)):
        waiter = wakeups.SIGNALS[wakeups.CLOCK].waiter()
        try:
            more = {"removal_scheduled_at": removal} if removal else {}
            _intake(client, north, facility_id, **more)
            assert waiter.is_set() is wakes, removal
        finally:
            wakeups.SIGNALS[wakeups.CLOCK].forget(waiter)


def test_a_read_session_on_sqlite_sends_only_its_statements(db_url: str) -> None:
    """No BEGIN, and no PRAGMA when the connection goes back to the pool (SQLAlchemy's own
    AUTOCOMMIT level would run one, and turn sqlite3's implicit BEGIN back on)."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's own statement trace")
    sent: list[str] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(sent.append)

    engine = db.get_engine()
    engine.dispose()  # new connections, traced from their first statement
    event.listen(engine, "connect", trace)
    try:
        for _ in range(2):
            with db.session_scope(db.get_read_sessionmaker()) as session:
                session.execute(text("SELECT 1"))
        with db.session_scope() as session:
            session.execute(text("SELECT 2"))
    finally:
        event.remove(engine, "connect", trace)
    statements = [s for s in sent if not s.startswith("PRAGMA journal_mode")]
    assert [s for s in statements if not s.startswith("PRAGMA")] == [
        "SELECT 1",
        "SELECT 1",
        "BEGIN IMMEDIATE",
        "SELECT 2",
        "COMMIT",
    ]
    assert "PRAGMA read_uncommitted = 0" not in statements
