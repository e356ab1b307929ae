"""One full sweep over 10k / 100k / 1M cases with 1,250 due, against a naive baseline.

Each size gets a fresh, migrated database filled in bulk (PostgreSQL ``COPY``, SQLite
``executemany``) with fictional rows: 1–3 requests a case, 30 % of cases closed, 20 % with a
removal weeks away, requests decided-and-documented, filed recently, drafted, withdrawn, and
stays expiring in weeks — none of them due — plus exactly 250 removals inside the 72 h
ladder, 250 undocumented decisions older than 48 h, 250 requests unanswered for more than
14 days, 250 stays expiring within 72 h and 250 people whose whereabouts have been unknown for
more than 24 h (plus 1 % of open cases whose whereabouts became unknown less than 24 h ago, not
yet due): 1,250 alerts due at every size, so a sweep's time can be compared across sizes at
equal due count. Names are one precomputed ciphertext reused
(encrypting a million names would time the benchmark, not the sweep); counsel contacts exist
for the due cases only (the sweep reads contacts by case id, never by scanning).

Figures: the full sweep (every sweep once: find, evaluate with ``tracker.rules``, insert the
alerts, their outbox rows, audit and timeline entries), the same sweep run again when nothing
is new (the steady state every 15 s), and the naive baseline — load every open case and its
requests, build the facts and run the rules in Python — which only *finds* what is due and
writes nothing, so the ratio understates the difference.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import ClauseElement, Executable

from bench.datagen import _Writer as Writer
from bench.harness import Context, Result, Section
from jobs.sweeps import (
    CHUNK,
    RAISING_SWEEPS,
    PolicyGroups,
    _candidates,
    _load_cases,
    counts,
    explain_targets,
    sweep_all,
)
from tracker import crypto, db, facts, rules, validators
from tracker.migrate import upgrade
from tracker.models import Case, Contact, Facility, FieldOffice, Organization, Request, User
from tracker.rules import CaseFacts, RequestFacts
from tracker.settings import get_settings
from tracker.vocab import ContactRole, CustodyStatus, RequestKind, RequestStatus, Role

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DUE_EACH = 250  # per kind: 1,250 due alerts at every size
DUE_KINDS = 5
H = timedelta(hours=1)
D = timedelta(days=1)


class Explain(Executable, ClauseElement):
    """``EXPLAIN [ANALYZE]`` of a statement, compiled (binds included) by SQLAlchemy."""

    inherit_cache = False

    def __init__(self, statement: Any, analyze: bool) -> None:
        self.statement = statement
        self.analyze = analyze


@compiles(Explain, "postgresql")
def _explain_pg(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if element.analyze else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.statement, **kw)


# --- data ---------------------------------------------------------------------------------


def _fresh_database(ctx: Context, backend: str, size: int) -> tuple[str, Any]:
    """(url, drop callable) of a migrated empty database."""
    if backend == "sqlite":
        path = ctx.workdir / f"sweeps_{size}.sqlite3"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        upgrade(url)
        return url, lambda: path.unlink(missing_ok=True)
    assert ctx.postgres_url
    name = f"amparo_bench_sweeps_{os.getpid()}_{size}"
    admin = create_engine(db.normalise_url(ctx.postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(db.normalise_url(ctx.postgres_url)).set(database=name)
    url_s = url.render_as_string(hide_password=False)
    upgrade(url_s)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url_s, drop


def _u(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def populate(engine: Engine, size: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    writer = Writer(engine)
    name_ct = crypto.encrypt("Fictional")
    phone = "+12025550111"
    phone_ct = crypto.encrypt(phone)
    org_id, user_id, facility_id = _u(rng), _u(rng), _u(rng)
    with engine.begin() as conn:
        office_id = conn.scalar(select(FieldOffice.id).where(FieldOffice.code == "NOL"))
    writer.write(
        Organization.__table__,  # type: ignore[arg-type]
        [
            "id",
            "name",
            "oncall_phone",
            "alert_ladder_hours",
            "unanswered_days",
            "default_unanswered_days",
            "escalation_delay_minutes",
            "retention_days",
            "time_zone",
            "created_at",
            "updated_at",
        ],
        [
            (
                org_id,
                "Bench Hotline (fictional)",
                crypto.encrypt("+12025550100"),
                [72, 24, 6],
                {},
                14,
                60,
                365,
                "America/New_York",
                NOW,
                NOW,
            )
        ],
    )
    writer.write(
        User.__table__,  # type: ignore[arg-type]
        [
            "id",
            "organization_id",
            "email",
            "name",
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
                "attorney@bench.invalid",
                name_ct,
                "x",
                Role.attorney.value,
                phone_ct,
                validators.phone_hash(phone),
                "en",
                True,
                NOW,
                NOW,
            )
        ],
    )
    writer.write(
        Facility.__table__,  # type: ignore[arg-type]
        ["id", "name", "field_office_id", "time_zone", "created_at"],
        [(facility_id, "Bench Center (fictional)", office_id, "America/Chicago", NOW)],
    )

    case_rows: list[tuple[Any, ...]] = []
    request_rows: list[tuple[Any, ...]] = []
    contact_rows: list[tuple[Any, ...]] = []
    normal_kinds = [RequestKind.release, RequestKind.prosecutorial_discretion]

    def request(case_id: uuid.UUID, kind: RequestKind, status: RequestStatus, **t: Any) -> None:
        request_rows.append(
            (
                _u(rng),
                case_id,
                kind.value,
                status.value,
                t.get("filed"),
                t.get("decided"),
                t.get("expires"),
                t.get("documented"),
                office_id,
                NOW,
                NOW,
            )
        )

    for i in range(size):
        case_id = _u(rng)
        due_kind = i // DUE_EACH if i < DUE_KINDS * DUE_EACH else None
        removal = None
        closed = None
        lost = None
        r = rng.random()
        if due_kind == 4:
            lost = NOW - rng.uniform(25, 100) * H
        elif due_kind is None and rng.random() < 0.01:
            lost = NOW - rng.uniform(0.5, 23.5) * H
        if due_kind == 0:
            removal = NOW + timedelta(minutes=rng.uniform(30, 71 * 60))
        elif due_kind is None and r < 0.3:
            closed = NOW - rng.uniform(1, 300) * D
            removal = closed if rng.random() < 0.5 else None
        elif due_kind is None and r < 0.5:
            removal = NOW + rng.uniform(4, 60) * D
        case_rows.append(
            (
                case_id,
                org_id,
                name_ct,
                CustodyStatus.detained.value,
                facility_id,
                office_id,
                removal,
                user_id,
                [],
                closed,
                lost,
                NOW - 30 * D,
                NOW,
            )
        )
        if due_kind is not None:
            contact_rows.append(
                (
                    _u(rng),
                    case_id,
                    ContactRole.counsel.value,
                    phone_ct,
                    validators.phone_hash(phone),
                    "en",
                    True,
                    0,
                    False,
                    NOW,
                    NOW,
                )
            )
        if due_kind == 1:
            decided = NOW - rng.uniform(49, 240) * H
            request(
                case_id,
                RequestKind.release,
                RequestStatus.denied,
                filed=decided - 5 * D,
                decided=decided,
            )
        elif due_kind == 2:
            request(
                case_id,
                RequestKind.prosecutorial_discretion,
                RequestStatus.filed,
                filed=NOW - rng.uniform(15, 40) * D,
            )
        elif due_kind == 3:
            decided = NOW - rng.uniform(5, 20) * D
            request(
                case_id,
                RequestKind.stay_of_removal,
                RequestStatus.granted,
                filed=decided - D,
                decided=decided,
                documented=decided + H,
                expires=NOW + timedelta(minutes=rng.uniform(30, 71 * 60)),
            )
        # Ordinary history, never due (and never a stay on a case whose removal is due).
        for _ in range(rng.randint(1, 3) - (1 if due_kind is not None else 0)):
            kind = rng.choice(normal_kinds)
            x = rng.random()
            if x < 0.5:
                decided = NOW - rng.uniform(3, 300) * D
                request(
                    case_id,
                    kind,
                    rng.choice([RequestStatus.granted, RequestStatus.denied]),
                    filed=decided - 10 * D,
                    decided=decided,
                    documented=decided + rng.uniform(1, 40) * H,
                )
            elif x < 0.7:
                request(case_id, kind, RequestStatus.filed, filed=NOW - rng.uniform(0, 13) * D)
            elif x < 0.8:
                request(case_id, kind, RequestStatus.draft)
            elif x < 0.9:
                request(case_id, kind, RequestStatus.withdrawn, filed=NOW - rng.uniform(1, 90) * D)
            elif x < 0.995 and due_kind != 0:
                decided = NOW - rng.uniform(3, 100) * D
                request(
                    case_id,
                    RequestKind.stay_of_removal,
                    RequestStatus.granted,
                    filed=decided - D,
                    decided=decided,
                    documented=decided + H,
                    expires=NOW + rng.uniform(4, 200) * D,
                )
            else:
                # Decided in the last 47 h: documentation is due, not yet overdue.
                decided = NOW - rng.uniform(1, 47) * H
                request(case_id, kind, RequestStatus.denied, filed=decided - D, decided=decided)

    writer.write(
        Case.__table__,  # type: ignore[arg-type]
        [
            "id",
            "organization_id",
            "given_name",
            "custody_status",
            "facility_id",
            "field_office_id",
            "removal_scheduled_at",
            "attorney_id",
            "factors",
            "closed_at",
            "location_unknown_since",
            "created_at",
            "updated_at",
        ],
        case_rows,
    )
    writer.write(
        Request.__table__,  # type: ignore[arg-type]
        [
            "id",
            "case_id",
            "kind",
            "status",
            "filed_at",
            "decided_at",
            "stay_expires_at",
            "documentation_received_at",
            "field_office_id",
            "created_at",
            "updated_at",
        ],
        request_rows,
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
        contact_rows,
    )
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return {"cases": len(case_rows), "requests": len(request_rows)}


# --- measurements --------------------------------------------------------------------------


def naive_due(engine: Engine, now: datetime) -> tuple[int, float]:
    """Load every open case and its requests, run the rules in Python: (alerting flags, s)."""
    started = time.perf_counter()
    policy = rules.Policy()
    by_case: dict[uuid.UUID, list[RequestFacts]] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            select(
                Request.case_id,
                Request.id,
                Request.kind,
                Request.status,
                Request.filed_at,
                Request.decided_at,
                Request.stay_expires_at,
                Request.documentation_received_at,
            )
        ):
            by_case.setdefault(row[0], []).append(
                RequestFacts(row[1], RequestKind(row[2]), RequestStatus(row[3]), *row[4:])
            )
        due = 0
        for case_id, custody, removal, closed, lost in conn.execute(
            select(
                Case.id,
                Case.custody_status,
                Case.removal_scheduled_at,
                Case.closed_at,
                Case.location_unknown_since,
            ).where(Case.closed_at.is_(None))
        ):
            facts = CaseFacts(
                case_id,
                custody,
                removal,
                closed,
                tuple(by_case.get(case_id, ())),
                location_unknown_since=lost,
            )
            due += sum(1 for f in rules.evaluate(facts, now, policy) if f.alerts)
    return due, time.perf_counter() - started


def find_due(factory: sessionmaker[Session], now: datetime) -> tuple[int, float]:
    """The sweeps' finding half alone (indexed candidates, load, rules), writing nothing:
    the like-for-like comparison with the naive pass."""
    started = time.perf_counter()
    with factory() as session:
        groups = PolicyGroups.load(session)
    due = 0
    for build, kind in RAISING_SWEEPS.values():
        ids = sorted(_candidates(factory, build(groups, now)))
        with factory() as session:
            for chunk in range(0, len(ids), CHUNK):
                for case in _load_cases(session, ids[chunk : chunk + CHUNK]):
                    policy = groups.policies[case.organization_id]
                    flags = rules.evaluate(facts.case_facts(case), now, policy)
                    due += sum(1 for f in flags if f.kind is kind)
    return due, time.perf_counter() - started


def _plans(engine: Engine, now: datetime) -> str:
    analyze = engine.dialect.name == "postgresql"
    out: list[str] = []
    with Session(engine) as session:
        targets = explain_targets(PolicyGroups.load(session), now)
        for name, queries in targets.items():
            for n, query in enumerate(queries, 1):
                result: Any = session.connection().execute(Explain(query, analyze))
                # Raw DBAPI rows: the plan is text, not the select's typed columns.
                rows = result.cursor.fetchall()
                plan = "\n".join(str(r[-1]) for r in rows)
                out.append(f"#### {name} sweep, query {n}/{len(queries)}\n\n```\n{plan}\n```")
    return "\n\n".join(out)


def _sizes(ctx: Context) -> Iterator[tuple[str, int]]:
    sizes = [10_000] if ctx.quick else [10_000, 100_000, 1_000_000]
    if ctx.postgres_url:
        for size in sizes:
            yield "postgresql", size
    for size in sizes[:2]:
        yield "sqlite", size


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def run(ctx: Context) -> list[Section]:
    results: list[Result] = []
    plans: dict[str, str] = {}
    sweep_time: dict[tuple[str, int], float] = {}
    find_time: dict[tuple[str, int], float] = {}
    notes: list[str] = []
    for backend, size in _sizes(ctx):
        url, drop = _fresh_database(ctx, backend, size)
        engine = db.make_engine(url)
        try:
            t0 = time.perf_counter()
            rows = populate(engine, size)
            built = time.perf_counter() - t0
            print(f"   built {backend} {_label(size)}: {rows} in {built:.1f} s", flush=True)
            expected, naive = naive_due(engine, NOW)
            plans[backend] = _plans(engine, NOW)  # the largest size's plans win
            # Sessions that carry settings, as the clock's do (alerts read the default zone).
            factory = db.make_sessionmaker(engine, get_settings())
            found, finding = find_due(factory, NOW)
            t0 = time.perf_counter()
            outcomes = sweep_all(NOW, factory)
            elapsed = time.perf_counter() - t0
            raised = sum(counts(outcomes).values())
            t0 = time.perf_counter()
            again = sum(counts(sweep_all(NOW + timedelta(seconds=15), factory)).values())
            steady = time.perf_counter() - t0
            sweep_time[(backend, size)] = elapsed
            pretty = "PostgreSQL" if backend == "postgresql" else "SQLite"
            check = "" if raised == expected else f" — MISMATCH: naive found {expected}"
            results.append(
                Result(
                    f"full sweep, {_label(size)} cases, {pretty}",
                    elapsed,
                    "s",
                    baseline=naive,
                    baseline_label="naive: load all, rules in Python",
                    target="< 1 s" if (backend, size) == ("postgresql", 1_000_000) else "",
                    met=elapsed < 1 if (backend, size) == ("postgresql", 1_000_000) else None,
                    notes=f"{raised} alerts raised{check}; {rows['requests']:,} requests; "
                    f"built in {built:.0f} s",
                )
            )
            results.append(
                Result(
                    f"finding what is due (no writes), {_label(size)} cases, {pretty}",
                    finding,
                    "s",
                    baseline=naive,
                    baseline_label="naive: load all, rules in Python",
                    notes=f"{found} due found",
                )
            )
            find_time[(backend, size)] = finding
            results.append(
                Result(
                    f"steady-state sweep (nothing new), {_label(size)} cases, {pretty}",
                    steady,
                    "s",
                    notes=f"{again} raised",
                )
            )
        finally:
            engine.dispose()
            drop()
    for backend in ("postgresql", "sqlite"):
        for what, times in (("full sweep", sweep_time), ("finding", find_time)):
            big, small = times.get((backend, 1_000_000)), times.get((backend, 100_000))
            if big is not None and small is not None:
                ratio = big / small
                results.append(
                    Result(
                        f"{what} time 1M ÷ 100k at equal due count, {backend}",
                        ratio,
                        "×",
                        target="≤ 2",
                        met=ratio <= 2,
                    )
                )
    load = os.getloadavg()
    notes.append(
        f"Load average at the end of this run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
        f"{os.cpu_count()} cores shared with other work, so small-size timings are noisy; the "
        "steady-state and finding figures are the ones that show the scaling."
    )
    if ctx.quick:
        notes.append("Quick mode: 10k only; run `make bench` for the 100k and 1M figures.")
    text_parts = [
        "The baseline column is the naive sweep (load every open case and its requests, run "
        "the rules in Python; finding only, no writes). Every full sweep raises exactly the "
        "1,250 alerts the naive pass finds (checked in each run).",
        *notes,
    ]
    for backend, plan in plans.items():
        label = "PostgreSQL (EXPLAIN ANALYZE)" if backend == "postgresql" else "SQLite"
        text_parts.append(f"### Query plans, {label}, largest size\n\n{plan}")
    return [Section("Deadline sweeps", results, text="\n\n".join(text_parts))]
