"""Fast bulk creation of realistic, entirely fictional data for benchmarks.

``populate(url, cases=100_000, now=...)`` fills a migrated database with organisations, users
(with API tokens), facilities, cases (names in many scripts, A-numbers, removal dates,
factors), 1–3 requests per case and a family contact per case — about 1 % of cases have a
removal inside the 72-hour alert ladder, as on a busy night.

Writing goes around the services on purpose: 100,000 intakes through the ORM would take
longer than the benchmarks they feed. The rows are built the way the services build them
(encrypted names and numbers, blind indexes, name tokens) and written with PostgreSQL
``COPY`` or SQLite ``executemany``. Every value is invented: phone numbers are in the
555-01xx range reserved for fiction, A-numbers are random.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.engine import make_url

from tracker import crypto, validators
from tracker.db import make_engine
from tracker.models import (
    ApiToken,
    Case,
    CaseNameToken,
    Contact,
    Facility,
    FieldOffice,
    Organization,
    Request,
    User,
)
from tracker.services.orgs import hash_password, token_digest
from tracker.vocab import FACTORS, CustodyStatus, RequestKind, RequestStatus, Role

# Invented given and family names across the scripts hotlines meet, some with accents.
GIVEN = [
    "Ana", "José", "María", "Luis", "Rosa", "Jean", "Marie", "Wilner", "Fabiola", "Nadia",
    "Ahmed", "Fatima", "Omar", "Yusuf", "Mei", "Wei", "Anh", "Thu", "Olena", "Dmytro",
    "Kwame", "Amara", "Tenzin", "Pema", "Sofía", "Ixchel", "Tomás", "Iñaki", "Zoë", "Raúl",
    "Алексей", "Наталья", "محمد", "فاطمة", "明", "芳", "민준", "서연", "Ngọc", "Đức",
]  # fmt: skip
FAMILY = [
    "García", "Hernández", "López", "Martínez", "Pierre", "Joseph", "Jean-Baptiste",
    "Nguyen", "Tran", "Kim", "Li", "Wang", "Haddad", "Mansour", "Mensah", "Okafor",
    "Shevchenko", "Kowalski", "Dolma", "Quispe", "Mamani", "Ajú", "Xol", "Pérez", "Díaz",
    "Петров", "Иванова", "الحسن", "王", "김", "Phạm", "Lê",
]  # fmt: skip
COUNTRIES = ["MX", "GT", "HN", "SV", "HT", "VE", "CU", "NI", "EC", "CO", "IN", "CN", "UA", "GH"]
LANGUAGES = ["es", "en", "ht", "fr", "pt", "es", "es", "zh", "ar", "uk", "quc", "mam"]
ORG_ROLES = (
    [Role.admin, Role.coordinator] + [Role.attorney] * 4 + [Role.hotline] * 4
)  # per organisation


@dataclass
class Dataset:
    """What was created, for the benchmark to aim at."""

    url: str
    now: datetime
    org_ids: list[uuid.UUID]
    # One token per role of the first (largest) organisation, plus one of another org.
    tokens: dict[str, str]
    facility_ids: list[uuid.UUID]
    attorney_ids: list[uuid.UUID]
    case_ids: list[uuid.UUID] = field(default_factory=list)  # a sample of the main org's cases
    counts: dict[str, int] = field(default_factory=dict)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class _Writer:
    """Rows in the column types the database expects, written in bulk."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _convert(self, value: Any) -> Any:
        if self.dialect == "postgresql":
            if isinstance(value, (dict, list)):
                return json.dumps(value)
            return value
        # SQLite, as SQLAlchemy stores it: UUIDs as 32 hex chars, times as naive UTC text.
        if isinstance(value, uuid.UUID):
            return value.hex
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, bool):
            return int(value)
        return value

    def write(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        raw = self.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            if self.dialect == "postgresql":
                cols = ", ".join(f'"{c}"' for c in columns)
                with (
                    driver.cursor() as cur,
                    cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as cp,
                ):
                    for row in rows:
                        cp.write_row([self._convert(v) for v in row])
                        count += 1
            else:
                marks = ", ".join("?" for _ in columns)
                cols = ", ".join(f'"{c}"' for c in columns)
                sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'
                cur = driver.cursor()
                # The engine runs sqlite3 in autocommit mode: without BEGIN every row commits.
                cur.execute("BEGIN")
                batch: list[list[Any]] = []
                for row in rows:
                    batch.append([self._convert(v) for v in row])
                    if len(batch) >= 5000:
                        cur.executemany(sql, batch)
                        count += len(batch)
                        batch.clear()
                if batch:
                    cur.executemany(sql, batch)
                    count += len(batch)
                cur.close()
            driver.commit()
        finally:
            raw.close()
        return count


def populate(
    url: str,
    *,
    cases: int,
    now: datetime,
    orgs: int = 5,
    main_share: float = 0.6,
    seed: int = 7,
    sample: int = 2000,
) -> Dataset:
    """Fill the migrated database at ``url``; the first organisation holds ``main_share``."""
    rng = random.Random(seed)
    engine = make_engine(url)
    writer = _Writer(engine)
    with engine.connect() as conn:
        offices = list(conn.execute(select(FieldOffice.id, FieldOffice.time_zone)))
    counts: dict[str, int] = {}

    org_ids = [_uuid(rng) for _ in range(orgs)]
    suffix = secrets.token_hex(3)
    writer.write(
        Organization.__table__,  # type: ignore[arg-type]
        ["id", "name", "oncall_phone", "alert_ladder_hours", "unanswered_days",
         "default_unanswered_days", "escalation_delay_minutes", "retention_days", "time_zone",
         "created_at", "updated_at"],
        [
            [oid, f"Bench Hotline {i} {suffix} (FICTIONAL)", crypto.encrypt("+12025550100"),
             [72, 24, 6], {}, 14, 60, 365, "America/New_York", now, now]
            for i, oid in enumerate(org_ids)
        ],
    )  # fmt: skip

    # One argon2 hash for everyone: hashing is deliberately slow and says nothing here.
    password_hash = hash_password("bench password, fictional")
    users: list[list[Any]] = []
    tokens: dict[str, str] = {}
    token_rows: list[list[Any]] = []
    attorneys: dict[uuid.UUID, list[uuid.UUID]] = {o: [] for o in org_ids}
    for o_index, oid in enumerate(org_ids):
        for u_index, role in enumerate(ORG_ROLES):
            uid = _uuid(rng)
            users.append(
                [uid, oid, f"bench{o_index}-{u_index}-{suffix}@example.org",
                 crypto.encrypt(f"Bench User {o_index}-{u_index}"), password_hash, role.value,
                 None, None, "en", True, now, now]
            )  # fmt: skip
            if role is Role.attorney:
                attorneys[oid].append(uid)
            key = role.value if o_index == 0 else ("other_org" if o_index == 1 else "")
            if key and key not in tokens:
                token = "amp_" + secrets.token_urlsafe(32)
                tokens[key] = token
                token_rows.append([_uuid(rng), uid, token_digest(token), "bench", now])
    writer.write(
        User.__table__,  # type: ignore[arg-type]
        ["id", "organization_id", "email", "name", "password_hash", "role", "phone",
         "phone_hash", "language", "active", "created_at", "updated_at"],
        users,
    )  # fmt: skip
    writer.write(
        ApiToken.__table__,  # type: ignore[arg-type]
        ["id", "user_id", "token_hash", "label", "created_at"],
        token_rows,
    )
    counts["users"] = len(users)

    facilities: list[tuple[uuid.UUID, uuid.UUID]] = []
    facility_rows = []
    for i in range(40):
        office_id, zone = offices[i % len(offices)]
        fid = _uuid(rng)
        facilities.append((fid, office_id))
        facility_rows.append([fid, f"Bench Detention Center {i} (fictional)", office_id, zone, now])
    writer.write(
        Facility.__table__,  # type: ignore[arg-type]
        ["id", "name", "field_office_id", "time_zone", "created_at"],
        facility_rows,
    )

    main = org_ids[0]
    main_count = int(cases * main_share)
    case_ids: list[tuple[uuid.UUID, uuid.UUID]] = []  # (case, org)
    case_rows: list[list[Any]] = []
    token_set: list[list[Any]] = []
    factor_codes = list(FACTORS)
    # Name tokens repeat a lot: cache their blind indexes (HMAC) by word.
    token_cache: dict[str, set[str]] = {}
    for i in range(cases):
        oid = main if i < main_count else org_ids[1 + i % (len(org_ids) - 1)]
        cid = _uuid(rng)
        case_ids.append((cid, oid))
        given = rng.choice(GIVEN)
        family = rng.choice(FAMILY) if rng.random() < 0.9 else None
        a_num = f"{rng.randrange(10**9):09d}" if rng.random() < 0.8 else None
        fid, office_id = rng.choice(facilities)
        roll = rng.random()
        if roll < 0.01:  # on the ladder: removal within 72 h
            removal: datetime | None = now + timedelta(minutes=rng.randrange(30, 72 * 60))
        elif roll < 0.30:
            removal = now + timedelta(hours=rng.randrange(73, 24 * 60))
        else:
            removal = None
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
        key = f"{given}\x00{family}"
        words = token_cache.get(key)
        if words is None:
            words = token_cache[key] = crypto.name_tokens(given, family)
        token_set.extend([cid, w] for w in words)
        case_rows.append(
            [cid, oid, crypto.encrypt(given), crypto.encrypt(family) if family else None,
             crypto.encrypt(a_num) if a_num else None,
             validators.a_number_hash(a_num) if a_num else None,
             rng.choice(COUNTRIES), rng.choice(LANGUAGES), None, None,
             CustodyStatus.detained.value if rng.random() < 0.85 else CustodyStatus.released.value,
             fid, office_id, removal,
             rng.choice(attorneys[oid]) if rng.random() < 0.8 else None,
             sorted(rng.sample(factor_codes, rng.randrange(0, 4))), None, None, created, created]
        )  # fmt: skip
    counts["cases"] = writer.write(
        Case.__table__,  # type: ignore[arg-type]
        ["id", "organization_id", "given_name", "family_name", "a_number", "a_number_hash",
         "country_of_birth", "preferred_language", "race", "ethnicity", "custody_status",
         "facility_id", "field_office_id", "removal_scheduled_at", "attorney_id", "factors",
         "closed_at", "created_by_id", "created_at", "updated_at"],
        case_rows,
    )  # fmt: skip
    del case_rows
    counts["case_name_tokens"] = writer.write(
        CaseNameToken.__table__,  # type: ignore[arg-type]
        ["case_id", "token"],
        token_set,
    )
    del token_set

    def requests() -> Iterable[list[Any]]:
        kinds = [
            RequestKind.stay_of_removal,
            RequestKind.release,
            RequestKind.prosecutorial_discretion,
        ]
        for cid, _ in case_ids:
            for _ in range(rng.randrange(1, 4)):
                filed = now - timedelta(hours=rng.randrange(1, 24 * 60))
                roll = rng.random()
                decided = stay = doc = None
                if roll < 0.15:
                    status = RequestStatus.draft
                    filed_at: datetime | None = None
                elif roll < 0.70:
                    status, filed_at = RequestStatus.filed, filed
                else:
                    status = RequestStatus.granted if roll < 0.82 else RequestStatus.denied
                    filed_at = filed
                    decided = filed + (now - filed) * rng.random()
                    if rng.random() < 0.6:
                        doc = decided + timedelta(hours=rng.randrange(1, 96))
                        doc = min(doc, now)
                kind = rng.choice(kinds)
                if status is RequestStatus.granted and kind is RequestKind.stay_of_removal:
                    stay = now + timedelta(days=rng.randrange(1, 180))
                yield [_uuid(rng), cid, kind.value, None, filed_at, None, status.value, decided,
                       stay, doc, "en" if doc else None, True if doc else None, None,
                       filed, filed]  # fmt: skip

    counts["requests"] = writer.write(
        Request.__table__,  # type: ignore[arg-type]
        ["id", "case_id", "kind", "appeal_of_id", "filed_at", "field_office_id", "status",
         "decided_at", "stay_expires_at", "documentation_received_at",
         "documentation_language", "advised_right_to_appeal", "notes", "created_at",
         "updated_at"],
        requests(),
    )  # fmt: skip

    phones = [f"+120255501{n:02d}" for n in range(100)]
    phone_crypt = {p: (crypto.encrypt(p), validators.phone_hash(p)) for p in phones}

    def contacts() -> Iterable[list[Any]]:
        for i, (cid, _) in enumerate(case_ids):
            enc, digest = phone_crypt[phones[i % 100]]
            yield [_uuid(rng), cid, "family", None, enc, digest, rng.choice(LANGUAGES[:5]),
                   True, ["sms"], None, 0, False, None, None, now, now]  # fmt: skip

    counts["contacts"] = writer.write(
        Contact.__table__,  # type: ignore[arg-type]
        ["id", "case_id", "role", "name", "phone", "phone_hash", "language", "sms_consent",
         "consented_channels", "opted_out_at", "consecutive_failures", "unreachable",
         "unreachable_since", "introduced_at", "created_at", "updated_at"],
        contacts(),
    )  # fmt: skip

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    main_cases = [cid for cid, oid in case_ids if oid == main]
    return Dataset(
        url=make_url(url).render_as_string(hide_password=False),
        now=now,
        org_ids=org_ids,
        tokens=tokens,
        facility_ids=[f for f, _ in facilities],
        attorney_ids=attorneys[main],
        case_ids=rng.sample(main_cases, min(sample, len(main_cases))),
        counts=counts,
    )
