"""The urgency queue (``GET /api/cases``) at 100,000 cases, in process, without HTTP.

What one list request costs the server: finding the flaggable cases by indexed SQL, evaluating
their flags with the rules, the keyset page of the rest, loading and serialising 50 cases.
Measured through the app (Starlette TestClient, one connection, so no queueing) on PostgreSQL
and on the embedded SQLite file. Quick mode: 10,000 cases.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.datagen import populate
from bench.harness import Context, Result, Section, set_environment
from tracker import db
from tracker.db import normalise_url
from tracker.migrate import upgrade
from tracker.settings import get_settings

P99_TARGET_MS = 100.0


def _pg_scratch(admin_url: str) -> tuple[str, str]:
    name = f"amparo_bench_queue_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, make_url(normalise_url(admin_url)).set(database=name).render_as_string(
        hide_password=False
    )


def _pg_drop(admin_url: str, name: str) -> None:
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _measure(url: str, n_cases: int, label: str, rounds: int) -> list[Result]:
    from starlette.testclient import TestClient

    from tracker.web.app import create_app

    upgrade(url)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.reset()
    now = datetime.now(UTC)
    data = populate(url, cases=n_cases, now=now)
    headers = {"Authorization": f"Bearer {data.tokens['hotline']}"}
    scenarios = {
        "first page (50)": "/api/cases",
        "flag=removal_imminent": "/api/cases?flag=removal_imminent",
        "third page (cursor)": None,
        "q=name word": "/api/cases?q=Garcia",
    }
    results: list[Result] = []
    app = create_app()
    with TestClient(app) as client:
        first = client.get("/api/cases", headers=headers).json()
        second = client.get(f"/api/cases?cursor={first['next_cursor']}", headers=headers).json()
        scenarios["third page (cursor)"] = f"/api/cases?cursor={second['next_cursor']}"
        for name, path in scenarios.items():
            assert path is not None
            times: list[float] = []
            for _ in range(rounds):
                t = time.perf_counter()
                r = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            p50, p99 = statistics.median(times), _percentile(times, 99)
            results.append(
                Result(
                    f"GET /api/cases {name}, {label}, {n_cases:,} cases",
                    round(p99, 1),
                    "ms",
                    target=f"p99 < {P99_TARGET_MS:.0f} ms (one connection)",
                    met=p99 < P99_TARGET_MS,
                    notes=f"p50 {p50:.1f} ms, {rounds} requests, {len(r.json()['items'])} items",
                )
            )
    db.reset()
    return results


def run(ctx: Context) -> list[Section]:
    n_cases = 3_000 if ctx.quick else 100_000
    rounds = 20 if ctx.quick else 100
    # _measure sets DATABASE_URL for each backend: put back with the rest at the end.
    restore_environment = set_environment(
        {"DATA_KEYS": Fernet.generate_key().decode(), "VAR_DIR": str(ctx.workdir / "var-queue")},
        also=("DATABASE_URL",),
    )
    results: list[Result] = []
    notes = []
    try:
        if ctx.postgres_url:
            name, url = _pg_scratch(ctx.postgres_url)
            try:
                results += _measure(url, n_cases, "PostgreSQL", rounds)
            finally:
                db.reset()
                _pg_drop(ctx.postgres_url, name)
        else:
            notes.append("No PostgreSQL configured: SQLite only.")
        path = ctx.workdir / f"queue-{uuid.uuid4().hex[:6]}.sqlite3"
        try:
            results += _measure(f"sqlite:///{path}", n_cases, "SQLite", rounds)
        finally:
            path.unlink(missing_ok=True)
    finally:
        restore_environment()
        db.reset()
    text_ = (
        "In process through Starlette's TestClient (auth, one transaction, the rules, "
        "serialisation; no network). Data from bench/datagen.py (about 1 % of cases inside the "
        "72-hour ladder). Load average at the end of the run: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on the machine "
        "inflates every figure). " + " ".join(notes)
    )
    return [Section("API urgency queue", results, text=text_)]
