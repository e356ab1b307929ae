"""Alert latency: from the moment a rung falls due to its SMS being posted.

1,000 cases are written straight to a fresh SQLite file (the embedded default) with removal
times chosen so that their 72 h rung falls due at 1,000 moments spread over a window (6 s in
quick mode, 120 s otherwise) — written around the services so that only the clock can find
them. The real clock (``jobs.clock.start_in_background``, default 15 s interval) and, when
it exists, the real SMS worker (``notifications.dispatcher.start_in_background``, log
transport) run in this process; a poller notes when each case's SMS is first posted (or,
without a worker, when its outbox row is first visible). Latency = seen − due moment.
"""

from __future__ import annotations

import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bench.datagen import _Writer as Writer
from bench.harness import Context, Result, Section, set_environment
from tracker import crypto, db, validators
from tracker.migrate import upgrade
from tracker.models import Case, Contact, Facility, Notification, Organization, User
from tracker.settings import get_settings
from tracker.vocab import ContactRole, CustodyStatus, NotificationStatus, Role

MOMENTS = 1000
RUNG = timedelta(hours=72)


def _populate(url: str, due: list[datetime]) -> dict[uuid.UUID, datetime]:
    engine = db.make_engine(url)
    writer = Writer(engine)
    now = datetime.now(UTC)
    phone = "+12025550111"
    phone_ct = crypto.encrypt(phone)
    name_ct = crypto.encrypt("Fictional")
    org_id, user_id, facility_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    writer.write(
        Organization.__table__,  # type: ignore[arg-type]
        [
            "id",
            "name",
            "alert_ladder_hours",
            "unanswered_days",
            "default_unanswered_days",
            "escalation_delay_minutes",
            "retention_days",
            "time_zone",
            "created_at",
            "updated_at",
        ],
        [(org_id, "Latency Hotline (fictional)", [72, 24, 6], {}, 14, 60, 365, "UTC", now, now)],
    )
    writer.write(
        User.__table__,  # type: ignore[arg-type]
        [
            "id",
            "organization_id",
            "email",
            "password_hash",
            "role",
            "phone",
            "phone_hash",
            "language",
            "active",
            "created_at",
            "updated_at",
        ],
        [
            (
                user_id,
                org_id,
                "attorney@latency.invalid",
                "x",
                Role.attorney.value,
                phone_ct,
                validators.phone_hash(phone),
                "en",
                True,
                now,
                now,
            )
        ],
    )
    writer.write(
        Facility.__table__,  # type: ignore[arg-type]
        ["id", "name", "time_zone", "created_at"],
        [(facility_id, "Latency Center (fictional)", "America/Chicago", now)],
    )
    by_case = {uuid.uuid4(): moment for moment in due}
    writer.write(
        Case.__table__,  # type: ignore[arg-type]
        [
            "id",
            "organization_id",
            "given_name",
            "custody_status",
            "facility_id",
            "removal_scheduled_at",
            "attorney_id",
            "factors",
            "created_at",
            "updated_at",
        ],
        [
            (
                case_id,
                org_id,
                name_ct,
                CustodyStatus.detained.value,
                facility_id,
                moment + RUNG,
                user_id,
                [],
                now,
                now,
            )
            for case_id, moment in by_case.items()
        ],
    )
    writer.write(
        Contact.__table__,  # type: ignore[arg-type]
        [
            "id",
            "case_id",
            "role",
            "phone",
            "phone_hash",
            "language",
            "sms_consent",
            "consecutive_failures",
            "unreachable",
            "created_at",
            "updated_at",
        ],
        [
            (
                uuid.uuid4(),
                case_id,
                ContactRole.counsel.value,
                phone_ct,
                validators.phone_hash(phone),
                "en",
                True,
                0,
                False,
                now,
                now,
            )
            for case_id in by_case
        ],
    )
    engine.dispose()
    return by_case


def _start_worker() -> Callable[[], None] | None:
    from notifications.dispatcher import start_in_background
    from tracker.services.delivery import REACTIONS

    return start_in_background(get_settings(), REACTIONS)


def _fresh_postgres(ctx: Context) -> tuple[str, Callable[[], None]]:
    """A new database on the machine's PostgreSQL, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert ctx.postgres_url
    name = f"amparo_bench_latency_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(db.normalise_url(ctx.postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(db.normalise_url(ctx.postgres_url)).set(database=name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


# Quick mode spreads the 1,000 due moments over 6 s per backend (the run's 2-minute budget).
QUICK_WINDOW = 6.0


def _measure(ctx: Context, url: str, label: str) -> tuple[list[Result], str]:
    window = QUICK_WINDOW if ctx.quick else 120.0
    upgrade(url)
    rng = random.Random(11)
    # Due moments start a little after the clock does, so none is due before it runs; the
    # start leaves time to write the 1,000 cases.
    lead = 2.0 if ctx.quick else 5.0
    start_wall = datetime.now(UTC) + timedelta(seconds=4 if ctx.quick else 20)
    due = sorted(
        start_wall + timedelta(seconds=lead + rng.uniform(0, window)) for _ in range(MOMENTS)
    )
    by_case = _populate(url, due)
    late_start = (datetime.now(UTC) - start_wall).total_seconds()
    restore_environment = set_environment(
        {
            "DATABASE_URL": url,
            "SMS_TRANSPORT": "log",
            # A thousand alerts in a minute from one long code would queue behind the
            # carrier's 1 SMS/s; this measures the clock and the worker, not that throughput
            # (see notes).
            "SENDER_RATE_PER_SECOND": "1000",
        }
    )
    db.reset()
    while datetime.now(UTC) < start_wall:
        time.sleep(0.05)
    from jobs.clock import start_in_background

    stops: list[Callable[[], None]] = []
    posted = {NotificationStatus.sent, NotificationStatus.delivered}
    seen: dict[uuid.UUID, datetime] = {}
    queued: dict[uuid.UUID, datetime] = {}
    deadline = time.monotonic() + lead + window + 90
    worker: Callable[[], None] | None = None
    try:
        stops.append(start_in_background(get_settings()))
        worker = _start_worker()
        if worker is not None:
            stops.append(worker)
        factory = db.get_sessionmaker()
        while len(seen) < len(by_case) and time.monotonic() < deadline:
            with factory() as session:
                query = select(Notification.case_id, Notification.status).where(
                    Notification.kind == "removal_imminent"
                )
                at = datetime.now(UTC)
                for case_id, status in session.execute(query):
                    if case_id in seen or case_id is None:
                        continue
                    queued.setdefault(case_id, at)
                    if worker is None or status in posted:
                        seen[case_id] = at
            time.sleep(0.1)
        load = os.getloadavg()
    finally:
        for stop in stops:
            stop()
        restore_environment()
        db.reset()
    latencies = sorted((seen[c] - by_case[c]).total_seconds() for c in seen)
    missing = len(by_case) - len(seen)
    what = "SMS posted by the worker" if worker is not None else "outbox row written"
    if not latencies:
        return [], f"{label}: no alert seen in time ({missing} missing)."
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    results = [
        Result(
            f"due → {what}, p99 ({MOMENTS} due moments), {label}",
            p99,
            "s",
            target="≤ 1 s",
            met=p99 <= 1 and missing == 0,
            notes=f"{missing} never seen; load average {load[0]:.1f} / {load[1]:.1f} "
            f"/ {load[2]:.1f} on {os.cpu_count()} cores",
        ),
        Result(f"due → {what}, median, {label}", statistics.median(latencies), "s"),
        Result(f"due → {what}, max, {label}", latencies[-1], "s"),
    ]
    if worker is not None and queued:
        rows = sorted((queued[c] - by_case[c]).total_seconds() for c in queued)
        results.append(
            Result(
                f"due → outbox row written (the clock alone), p99, {label}",
                rows[int(0.99 * (len(rows) - 1))],
                "s",
                notes="the rest of the end-to-end figure is the worker's",
            )
        )
    note = (
        f"{label}: the cases were written {late_start:.1f} s after the clock was due to start; "
        "the first due moment came later."
        if late_start > lead
        else ""
    )
    return results, note


def run(ctx: Context) -> list[Section]:
    window = QUICK_WINDOW if ctx.quick else 120.0
    results, notes = _measure(ctx, f"sqlite:///{ctx.workdir / 'latency.sqlite3'}", "SQLite")
    texts = [notes]
    if ctx.postgres_url:
        url, drop = _fresh_postgres(ctx)
        try:
            more, note = _measure(ctx, url, "PostgreSQL")
        finally:
            drop()
        results += more
        texts.append(note)
    else:
        texts.append("PostgreSQL not reachable: measured on SQLite only.")
    text = (
        f"{MOMENTS} due moments spread over {window:g} s on each backend (the embedded "
        "default, SQLite, and PostgreSQL); poller resolution 0.1 s. The real clock "
        "(`jobs.clock`, exact-time: it sleeps until the next moment anything falls due) and "
        "the real SMS worker run in this process. Measured to the worker's posting of the "
        "SMS (log transport, SENDER_RATE_PER_SECOND=1000 so that one sender's 1 SMS/s "
        "carrier limit does not dominate: at the default 1/s, 1,000 SMS from one number take "
        "1,000 s whatever the clock does). " + " ".join(t for t in texts if t)
    )
    return [Section("Alert latency", results, text=text)]
