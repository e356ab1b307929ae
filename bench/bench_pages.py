"""The urgent queue page (``GET /``): time to answer for one organisation's open cases.

The page takes its order from the API's SQL queue (``tracker.web.api_queue``: one page of ids),
then loads those 50 cases, evaluates ``tracker.rules`` for their badges and renders. Measured on
a SQLite file filled by ``bench.datagen`` (the first organisation holds 60 % of the cases),
through the whole stack (signed-in ``TestClient`` request). Baselines, same run: the SQL page of
ids alone, and the first design of this page (every open case through the rules in Python,
kept here as ``_rules_over_all``) which this one replaced.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only, selectinload

from bench.datagen import populate
from bench.harness import Context, Result, Section, set_environment
from tracker import db
from tracker.facts import case_facts, policy_for
from tracker.migrate import upgrade
from tracker.models import Case, Contact, Organization
from tracker.rules import evaluate, urgency_key
from tracker.schemas import UserCreate
from tracker.services import Actor
from tracker.services.orgs import create_user
from tracker.settings import get_settings
from tracker.web import api_queue
from tracker.web.pages_queue import QueueFilters, load_queue

TARGET_MS = 500.0
PASSWORD = "bench password not for production"  # noqa: S105 - a throw-away database


def _median_ms(fn: Any, repeat: int) -> float:
    fn()  # warm caches and the connection pool
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _measure(ctx: Context, n_cases: int) -> list[Result]:
    from starlette.testclient import TestClient

    from tracker.web.app import create_app

    path = ctx.workdir / f"pages-{n_cases}.sqlite3"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.reset()
    now = datetime.now(UTC)
    data = populate(url, cases=n_cases, now=now)
    org_id = data.org_ids[0]
    with db.session_scope() as s:
        org = s.get(Organization, org_id)
        assert org is not None
        open_cases = s.scalar(
            select(func.count()).where(Case.organization_id == org_id, Case.closed_at.is_(None))
        )
        create_user(
            s,
            Actor.system("bench"),
            org,
            UserCreate(email="bench-pages@example.org", role="hotline"),
            now,
            password=PASSWORD,
        )

    def ordering() -> None:
        with db.session_scope() as s:
            org = s.get(Organization, org_id)
            assert org is not None
            load_queue(s, org, QueueFilters(), now, get_settings().default_time_zone)

    def rules_over_all() -> None:
        with db.session_scope() as s:
            org = s.get(Organization, org_id)
            assert org is not None
            _rules_over_all(s, org, now)

    def sql_ordering() -> None:
        with db.session_scope() as s:
            org = s.get(Organization, org_id)
            assert org is not None
            api_queue.page(s, api_queue.CaseQuery(org_id), now, policy_for(org), 50)

    repeat = 3 if ctx.quick else 7
    order_ms = _median_ms(ordering, repeat)
    sql_ms = _median_ms(sql_ordering, repeat)
    old_ms = _median_ms(rules_over_all, 1 if ctx.quick else 3)
    with TestClient(create_app()) as client:
        login = client.get("/login").text
        token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post(
            "/login",
            data={"email": "bench-pages@example.org", "password": PASSWORD, "csrf_token": token},
        )
        assert "Urgent queue" in client.get("/").text
        page_ms = _median_ms(lambda: client.get("/"), repeat)
    db.reset()
    label = f"{open_cases:,} open cases in the org"
    return [
        Result(
            f"GET / (whole page), {label}, SQLite",
            page_ms,
            "ms",
            baseline=old_ms,
            baseline_label="first design: all open cases through the rules",
            target=f"< {TARGET_MS:.0f} ms",
            met=page_ms < TARGET_MS,
            notes="signed-in TestClient request, median",
        ),
        Result(
            f"queue of 50 with badges (load_queue), {label}",
            order_ms,
            "ms",
            baseline=sql_ms,
            baseline_label="the SQL page of ids alone",
            notes="ratio < 1: the share the rules, loading and decrypting the 50 add",
        ),
    ]


def _rules_over_all(session: Session, org: Organization, now: datetime) -> None:
    """The replaced design: evaluate every open case, sort by ``rules.urgency_key``."""
    cases = session.scalars(
        select(Case)
        .where(Case.organization_id == org.id, Case.closed_at.is_(None))
        .options(
            load_only(Case.id, Case.removal_scheduled_at, Case.custody_status, Case.closed_at),
            selectinload(Case.requests),
            selectinload(Case.contacts).load_only(Contact.unreachable, Contact.unreachable_since),
        )
    )
    policy = policy_for(org)
    ranked = sorted(
        (urgency_key(evaluate(case_facts(c), now, policy), c.removal_scheduled_at), c.id)
        for c in cases
    )
    assert ranked is not None


def run(ctx: Context) -> list[Section]:
    restore_environment = set_environment(
        {"DATA_KEYS": Fernet.generate_key().decode(), "VAR_DIR": str(ctx.workdir / "var-pages")},
        also=("DATABASE_URL",),  # each size's database (``_measure``)
    )
    results: list[Result] = []
    try:
        for n in (2_000,) if ctx.quick else (2_000, 10_000, 50_000):
            results += _measure(ctx, n)
    finally:
        restore_environment()
        db.reset()
    return [Section("Pages: the urgent queue", results)]
