"""The ``amparo`` command against a real database."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tracker import db
from tracker.cli import main
from tracker.models import Case, Organization, User


def test_org_user_token_flow(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "create", "Bay Area Hotline"]) == 0
    out = capsys.readouterr().out
    org_id = re.search(r"organization ([0-9a-f-]{36})", out)
    assert org_id
    assert (
        main(
            [
                "user",
                "create",
                "--org",
                org_id.group(1),
                "--email",
                "A@Example.org",
                "--role",
                "attorney",
                "--phone",
                "202 555 0143",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "password (shown once): " in out
    assert (
        main(
            [
                "user",
                "create",
                "--org",
                "Bay Area Hotline",
                "--email",
                "b@example.org",
                "--role",
                "hotline",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["token", "create", "--email", "a@example.org"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("amp_") and len(token) > 40
    with db.session_scope() as session:
        user = session.scalar(select(User).where(User.email == "a@example.org"))
        assert user is not None and user.phone == "+12025550143"
        assert user.password_hash.startswith("$argon2")


def test_cli_errors_are_clear(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["user", "create", "--org", "Nope", "--email", "x@example.org", "--role", "admin"])
        == 1
    )
    assert "no organization 'Nope'" in capsys.readouterr().err
    assert main(["org", "create", "Dup"]) == 0
    assert main(["org", "create", "Dup"]) == 1
    assert "already taken" in capsys.readouterr().err
    assert (
        main(
            [
                "user",
                "create",
                "--org",
                "Dup",
                "--email",
                "x@example.org",
                "--role",
                "admin",
                "--phone",
                "12",
            ]
        )
        == 1
    )
    assert "phone" in capsys.readouterr().err


def test_bootstrap_once_and_demo(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap"]) == 0
    assert "One-time password:" in capsys.readouterr().out
    assert main(["bootstrap"]) == 0
    assert "nothing to bootstrap" in capsys.readouterr().out
    assert main(["demo"]) == 0
    assert "FICTIONAL DEMO DATA" in capsys.readouterr().out
    assert main(["demo"]) == 0
    assert "already loaded" in capsys.readouterr().out
    with db.session_scope() as session:
        demo = session.scalar(select(Organization).where(Organization.name.contains("DEMO")))
        assert demo is not None
        cases = session.scalars(select(Case).where(Case.organization_id == demo.id)).all()
        assert len(cases) == 4
