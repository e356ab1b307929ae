"""Field-office reports and the public export, on a real database."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from tests.test_report_export import _alternative_exists
from tests.world import NOW
from tracker.facts import policy_for
from tracker.models import FieldOffice, Organization, Request
from tracker.report_export import SUPPRESSED_MARK, THRESHOLD, public_csv, public_tables
from tracker.reports import field_office_report, percentile
from tracker.schemas import DeterminationIn, DocumentationIn, RequestCreate, RequestUpdate
from tracker.services import Actor
from tracker.services import requests as request_service

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def d(day: int, month: int = 10, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _office(session: Session, code: str) -> uuid.UUID:
    office_id = session.scalar(select(FieldOffice.id).where(FieldOffice.code == code))
    assert office_id is not None
    return office_id


def _request(
    session: Session,
    actor: Actor,
    office: uuid.UUID,
    kind: str,
    filed: datetime,
    decided: tuple[str, datetime] | None = None,
    documented: tuple[datetime, bool] | None = None,
    withdrawn: bool = False,
    **case_fields: object,
) -> Request:
    case = factories.case(session, actor, NOW, field_office_id=office, **case_fields)
    req = request_service.create_request(
        session, actor, case, RequestCreate(kind=kind, filed_at=filed), NOW
    )
    if decided:
        request_service.record_determination(
            session,
            actor,
            req,
            DeterminationIn(outcome=decided[0], decided_at=decided[1]),
            NOW,
        )
    if documented:
        request_service.record_documentation(
            session,
            actor,
            req,
            DocumentationIn(
                received_at=documented[0], language="es", advised_right_to_appeal=documented[1]
            ),
            NOW,
        )
    if withdrawn:
        request_service.update_request(session, actor, req, RequestUpdate(status="withdrawn"), NOW)
    return req


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([2, 4, 10, 12], 0.5) == 4
    assert percentile([2, 4, 10, 12], 0.9) == 12
    assert percentile([7], 0.9) == 7


def test_field_office_report_counts_per_the_rules(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    atl, hou = _office(session, "ATL"), _office(session, "HOU")
    _request(session, actor, atl, "release", d(2), ("granted", d(6)), (d(7), False), race="black")
    _request(
        session,
        actor,
        atl,
        "prosecutorial_discretion",
        d(3),
        ("denied", d(13)),
        (d(20), False),
        country_of_birth="GT",
    )
    _request(session, actor, atl, "stay_of_removal", d(5), ("denied", d(7)), (d(8), True))
    _request(session, actor, atl, "release", d(10))  # unanswered by Nov 1 (22 days)
    _request(session, actor, atl, "prosecutorial_discretion", d(25))  # 7 days: not yet
    _request(session, actor, atl, "release", d(12), withdrawn=True)
    _request(session, actor, atl, "release", d(20, 9), ("granted", d(2)))  # filed before
    _request(session, actor, hou, "release", d(1), ("granted", d(2)))  # never documented
    _request(session, actor, atl, "release", d(2, 11), ("granted", d(3, 11)))  # after period
    # Another organisation's requests never count.
    other = factories.org(session, NOW)
    other_actor = factories.actor_for(factories.user(session, other, NOW))
    _request(session, other_actor, atl, "release", d(2), ("granted", d(3)))
    session.commit()

    report = field_office_report(session, org, START, END, NOW)
    by_code = {g.key: g.metrics for g in report.by_office}
    assert set(by_code) == {"ATL", "HOU"}
    m = by_code["ATL"]
    assert (m.filed, m.granted, m.denied, m.withdrawn, m.unanswered) == (6, 2, 2, 1, 1)
    assert m.median_days_to_decision == 4
    assert m.p90_days_to_decision == 12
    assert (m.documentation_window_closed, m.documented_within_48h) == (4, 2)
    assert (m.documented_denials, m.advised_right_to_appeal) == (2, 1)
    assert m.grant_rate == 0.5
    assert by_code["HOU"].documented_on_time_share == 0
    assert report.total.filed == 7 and report.total.decided == 5
    atl_group = next(g for g in report.by_office if g.key == "ATL")
    assert atl_group.by_kind["release"].filed == 3
    assert atl_group.by_kind["stay_of_removal"].denied == 1
    races = {g.key: g.metrics.filed for g in report.by_race}
    assert races == {"black": 1, "not_recorded": 6}
    assert {g.key for g in report.by_country} == {"GT", "not_recorded"}
    assert sum(b.granted + b.denied for b in report.over_time) == 5
    payload = report.as_dict()
    assert payload["total"]["filed"] == 7  # type: ignore[index]


def test_unanswered_follows_the_organisations_threshold(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    atl = _office(session, "ATL")
    _request(session, actor, atl, "release", d(20))  # 12 days before Nov 1
    session.commit()
    assert field_office_report(session, org, START, END, NOW).total.unanswered == 0
    loaded = session.get(Organization, org.id)
    assert loaded is not None
    loaded.unanswered_days = {"release": 10}
    session.commit()
    assert field_office_report(session, org, START, END, NOW).total.unanswered == 1


def test_public_csv_publishes_no_number_below_five(session: Session) -> None:
    org = factories.org(session, NOW)
    actor = factories.actor_for(factories.user(session, org, NOW))
    atl, hou = _office(session, "ATL"), _office(session, "HOU")
    # Enough people in ATL for publishable cells; a handful elsewhere; one person from Tonga.
    for i in range(12):
        outcome = "granted" if i < 7 else "denied"
        _request(
            session,
            actor,
            atl,
            "release",
            d(2 + i),
            (outcome, d(3 + i)),
            country_of_birth="MX",
        )
    dal = _office(session, "DAL")
    for i in range(6):
        _request(session, actor, dal, "release", d(1 + i), country_of_birth="GT")  # unanswered
    for i in range(3):
        _request(session, actor, hou, "release", d(4 + i), ("denied", d(6 + i)))
    _request(session, actor, hou, "release", d(4), ("granted", d(5)), country_of_birth="TO")
    session.commit()

    report = field_office_report(session, org, START, END, NOW)
    text = public_csv(report, policy_for(org))
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["period_from", "period_to", "breakdown", "group", "requests_filed"]
    assert body and all(r[0] == "2026-10-01" and r[1] == "2026-11-01" for r in body)
    totals = {r[2]: r for r in body if r[3] == "All"}
    for row in body:
        for column, value in enumerate(row[4:], start=4):
            # A zero is published only for an outcome nobody at all had (no withdrawals).
            empty_column = totals[row[2]][column] == "0"
            assert value == SUPPRESSED_MARK or int(value) >= THRESHOLD or empty_column, row
    # No label singles out a group of fewer than five people.
    assert not any(r[3] in ("TO", "HOU") for r in body)
    offices = {r[3]: r for r in body if r[2] == "field_office"}
    assert offices["ATL"][4] == "12"
    assert offices["other"][4] == SUPPRESSED_MARK
    assert totals["field_office"][4:] == ["22", "8", "8", "0", "6", "0"]
    # And the withheld cells cannot be recovered from what is published.
    for table in public_tables(report, policy_for(org)):
        for cell in sorted(table.suppressed):
            assert _alternative_exists(table, cell), (table.name, cell)


def test_report_refuses_an_empty_period(session: Session) -> None:
    org = factories.org(session, NOW)
    try:
        field_office_report(session, org, END, START, NOW)
    except ValueError as exc:
        assert "period" in str(exc)
    else:
        raise AssertionError("expected ValueError")
    assert timedelta(0) == timedelta(0)
