"""The data commands (report, import, purge, rotate-keys) through ``amparo`` on a real database."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker import db
from tracker.cli import main
from tracker.models import AuditEntry, Case
from tracker.schemas import CaseUpdate
from tracker.services import Actor
from tracker.services import cases as case_service
from tracker.services.orgs import create_org
from tracker.types import utcnow

DATA = Path(__file__).parent / "data"


def _cases() -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_import_cases_reports_rows_and_exits_non_zero(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["org", "create", "Import Hotline"]) == 0
    capsys.readouterr()
    bad = str(DATA / "import_invalid.csv")
    assert main(["import", "cases", bad, "--org", "Import Hotline"]) == 1
    captured = capsys.readouterr()
    assert "row 3, column given_name: required" in captured.err
    assert "nothing imported" in captured.out
    assert _cases() == 0

    assert main(["import", "cases", bad, "--org", "Import Hotline", "--skip-invalid"]) == 1
    assert "imported 1 of 6 cases" in capsys.readouterr().out
    assert _cases() == 1

    good = str(DATA / "import_valid.csv")
    assert main(["import", "cases", good, "--org", "Import Hotline", "--dry-run"]) == 0
    assert "dry run: 3 of 3 rows valid" in capsys.readouterr().out
    assert _cases() == 1
    assert main(["import", "cases", good, "--org", "Import Hotline"]) == 0
    assert "imported 3 of 3 cases" in capsys.readouterr().out
    assert _cases() == 4

    assert main(["import", "cases", good, "--org", "No Such Org"]) == 1
    assert "no organization" in capsys.readouterr().err
    assert main(["import", "cases", "/nonexistent.csv", "--org", "Import Hotline"]) == 1


def test_report_csv_and_purge_and_rotate(
    db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    now = utcnow()
    with db.session_scope() as session:
        org = create_org(session, Actor.system("test"), "Report Hotline", now)
        org.retention_days = 30
        actor = Actor("test", org.id)
        from tracker.schemas import CaseCreate

        case = case_service.create_case(session, actor, CaseCreate(given_name="Old"), now)
        case_service.update_case(session, actor, case, CaseUpdate(closed=True), now)
        case.closed_at = now - timedelta(days=45)
    out = tmp_path / "public.csv"
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    report = ["report", "--csv", "--org", "Report Hotline", "--period", last_month]
    assert main([*report, "--output", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][:4] == ["period_from", "period_to", "breakdown", "group"]
    assert (
        main(["report", "--org", "Report Hotline", "--from", "2026-01-01", "--to", "2025-01-01"])
        == 1
    )
    assert "--to must not be before --from" in capsys.readouterr().err
    assert main(["report", "--org", "Report Hotline"]) == 0
    assert "not for publication" in capsys.readouterr().out

    assert main(["purge", "--dry-run"]) == 0
    assert "Report Hotline: would purge 1 cases" in capsys.readouterr().out
    assert _cases() == 1
    assert main(["purge"]) == 0
    assert "Report Hotline: purged 1 cases" in capsys.readouterr().out
    assert _cases() == 0
    with db.session_scope() as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "purge"))

    assert main(["rotate-keys"]) == 0
    assert "blind index value(s) rebuilt" in capsys.readouterr().out
