"""``amparo import custody FILE`` on SQLite and PostgreSQL: rows name a case by A-number or id,
go through the custody service (audit, timeline, the case's new place, the transfer alert and
its texts, exactly as the API), all or nothing, with errors naming row and column."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.jobs.world import COUNSEL_PHONE, World, new_case, world
from tests.world import facility, field_office
from tracker.cli import main
from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    CustodyEvent,
    Facility,
    Notification,
    TimelineEvent,
)
from tracker.types import utcnow

H = timedelta(hours=1)
HEADER = "a_number,case_id,kind,at,facility,source,notes\n"


def _setup(session: Session) -> tuple[World, Case, Case, Facility]:
    now = utcnow() - 48 * H
    w = world(session, now)
    first = new_case(session, w, now)  # A-099-000-123, at the world's Chicago-zone facility
    second = factories.case(
        session, w.actor, now, given_name="Luz", a_number="A-099-000-456", facility_id=w.facility.id
    )
    far = facility(
        session,
        "Fictional Pacific Center",
        office=field_office(session, "SEA"),
        time_zone="America/Los_Angeles",
    )
    session.commit()
    return w, first, second, far


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "custody.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return str(path)


def test_rows_are_recorded_like_the_api(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, first, second, far = _setup(session)
    # A naive time is read in the case's zone (its facility's: Chicago).
    local = (utcnow() - 5 * H).astimezone(ZoneInfo("America/Chicago")).replace(microsecond=0)
    lost = (utcnow() - 2 * H).replace(microsecond=0)
    path = _write(
        tmp_path,
        f"A 099 000 123,,transferred,{local.replace(tzinfo=None).isoformat()},"
        f"fictional pacific center,ICE eFile notice,overnight\n"
        f",{second.id},located,{lost.isoformat()},,family call,\n"
        f"099000123,,whereabouts_unknown,{lost.isoformat()},,locator,not listed\n",
    )
    assert main(["import", "custody", path, "--org", w.org.name]) == 0
    out = capsys.readouterr()
    assert "recorded 3 custody events (1 transfers)" in out.out and out.err == ""
    session.expire_all()
    moved = session.get(Case, first.id)
    assert moved is not None
    assert moved.facility_id == far.id and moved.facility_since == local
    assert moved.location_unknown_since == lost
    events = session.scalars(
        select(CustodyEvent).where(CustodyEvent.case_id == first.id).order_by(CustodyEvent.at)
    ).all()
    assert [(e.kind.value, e.source) for e in events] == [
        ("transferred", "ICE eFile notice"),
        ("whereabouts_unknown", "locator"),
    ]
    # The transfer alert and its SMS to counsel, as the API raises them.
    [alert] = session.scalars(
        select(Alert).where(Alert.case_id == first.id, Alert.kind == "transferred")
    ).all()
    texts = session.scalars(select(Notification).where(Notification.alert_id == alert.id)).all()
    assert COUNSEL_PHONE in {t.to_phone for t in texts}
    assert all("Fictitia" not in t.body and "000-123" not in t.body for t in texts)
    family = session.scalars(
        select(Notification).where(Notification.kind == "transferred_family")
    ).all()
    assert len(family) == 1
    kinds = {
        t.kind
        for t in session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == first.id))
    }
    assert {"custody_transferred", "custody_whereabouts_unknown"} <= kinds
    audited = {
        (a.action, a.entity)
        for a in session.scalars(select(AuditEntry).where(AuditEntry.organization_id == w.org.id))
    }
    assert {("create", "custody_event"), ("import", "custody_event")} <= audited


def test_any_bad_row_writes_nothing_and_names_row_and_column(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, first, second, _far = _setup(session)
    org = w.org.name
    facility_id = w.facility.id
    past = (utcnow() - 3 * H).replace(microsecond=0).isoformat()
    future = (utcnow() + 30 * 24 * H).replace(microsecond=0).isoformat()
    path = _write(
        tmp_path,
        f"A-099-000-123,,transferred,{past},Fictional Pacific Center,,\n"  # 2: fine
        f"A-099-000-123,,escaped,{past},,,\n"  # 3: unknown kind
        f",{second.id},located,yesterday,,,\n"  # 4: not a time
        f"A-099-000-999,,located,{past},,,\n"  # 5: no such case
        f",{uuid.uuid4()},released,{past},,,\n"  # 6: no such case (by id)
        f"A-099-000-456,,transferred,{past},,,\n"  # 7: a transfer names its facility
        f"A-099-000-456,,released,{past},Nowhere Known,,\n"  # 8: unknown facility
        f"A-099-000-456,,located,{future},,,\n"  # 9: in the future
        f"A-099-000-123,,transferred,{past},Fictional Pacific Center,,\n"  # 10: already there
        f"A-099-000-456,{second.id},removed,{past},,,\n",  # 11: both a_number and case_id
    )
    before = {m: _count(session, m) for m in (CustodyEvent, Alert, Notification, AuditEntry)}
    session.rollback()  # SQLite: no transaction of the test's may be open while the CLI writes
    assert main(["import", "custody", path, "--org", org]) == 1
    out = capsys.readouterr()
    assert "nothing imported" in out.out
    for expected in (
        "row 3, column kind:",
        "row 4, column at: not a date and time",
        "row 5, column a_number: no case in this organisation",
        "row 6, column case_id: no such case",
        "row 7, column facility: a transfer names the facility",
        "row 8, column facility: unknown facility",
        "row 9, column at: at is in the future",
        "row 10, column facility: the person is already recorded at this facility",
        "row 11, column case_id: give a_number or case_id, not both",
    ):
        assert expected in out.err, (expected, out.err)
    assert "row 2," not in out.err
    session.expire_all()
    assert {m: _count(session, m) for m in before} == before
    unmoved = session.get(Case, first.id)
    assert unmoved is not None and unmoved.facility_id == facility_id
    # Only the sequence makes row 10 wrong (row 2 moved the person there first): found by the
    # service while applying, and still nothing is kept.
    path = _write(
        tmp_path,
        f"A-099-000-123,,transferred,{past},Fictional Pacific Center,,\n"
        f"A-099-000-123,,transferred,{past},Fictional Pacific Center,,\n",
    )
    session.rollback()
    assert main(["import", "custody", path, "--org", org]) == 1
    err = capsys.readouterr().err
    assert "row 3, column facility: the person is already recorded at this facility" in err
    session.expire_all()
    assert {m: _count(session, m) for m in before} == before
    # A dry run of a good file writes nothing either.
    path = _write(tmp_path, f"A-099-000-123,,located,{past},,,\n")
    session.rollback()
    assert main(["import", "custody", path, "--org", org, "--dry-run"]) == 0
    assert "dry run: all 1 rows valid" in capsys.readouterr().out
    session.expire_all()
    assert _count(session, CustodyEvent) == before[CustodyEvent]


def test_a_bad_header_is_row_1(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, *_ = _setup(session)
    path = tmp_path / "bad.csv"
    path.write_text("a_number,when,facility\nA-099-000-123,2026-01-01,X\n", encoding="utf-8")
    assert main(["import", "custody", str(path), "--org", w.org.name]) == 1
    err = capsys.readouterr().err
    assert "row 1, column when: unknown column" in err
    assert "row 1, column kind: required column is missing" in err
    assert "row 1, column at: required column is missing" in err
