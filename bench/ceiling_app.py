"""The practical ceiling of the three measured requests (issue 12): the same work without the app.

The same SQL on the same indexes through psycopg directly (one connection per thread, no
ORM, no SQLAlchemy), the same Fernet decryption (``tracker.crypto``), the same input model
(``tracker.schemas.CaseCreate``), the same ``tracker.rules`` on the same facts, the same
audit and timeline rows, and JSON with the same fields — served by uvicorn exactly like the
app (same workers, a threadpool of ``API_THREADS``). What the app does beyond this is its own
overhead; ``bench_api_load`` reports each request's rate as a ratio to this one's.

Only what the three benchmarked requests need: bearer token, urgent list
(``flag=removal_imminent``), one case, intake.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import psycopg
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tracker import crypto, rules, validators
from tracker.db import normalise_url
from tracker.rules import CaseFacts, Policy, RequestFacts
from tracker.schemas import CaseCreate
from tracker.settings import get_settings
from tracker.vocab import CustodyStatus, FacilityKind, RequestKind, RequestStatus, StayForum
from tracker.web.api_routing import API_THREADS

_local = threading.local()


def _conn() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        url = normalise_url(get_settings().database_url).replace("postgresql+psycopg", "postgresql")
        conn = _local.conn = psycopg.connect(url, autocommit=True)
    return conn


_limiter: anyio.CapacityLimiter | None = None


async def _in_thread(fn: Any, *args: Any) -> Any:
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(API_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json, separators=(",", ":")).encode()


_AUTH = """
SELECT u.id, u.email, u.role, u.active, u.organization_id, t.revoked_at,
       o.alert_ladder_hours, o.unanswered_days, o.default_unanswered_days
FROM api_tokens t JOIN users u ON u.id = t.user_id
LEFT JOIN organizations o ON o.id = u.organization_id
WHERE t.token_hash = %s
"""


class _Actor:
    def __init__(self, row: tuple[Any, ...]) -> None:
        self.user_id, self.email, self.role, _, self.org_id = row[:5]
        self.policy = Policy(
            ladder_hours=tuple(int(h) for h in (row[6] or [72, 24, 6])),
            unanswered_days={str(k): int(v) for k, v in (row[7] or {}).items()},
            default_unanswered_days=row[8] or 14,
        )


def _auth(cur: psycopg.Cursor[Any], request: Request) -> _Actor | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    row = cur.execute(_AUTH, (hashlib.sha256(token.strip().encode()).hexdigest(),)).fetchone()
    if row is None or row[5] is not None or not row[3]:
        return None
    return _Actor(row)


_CASE_COLUMNS = (
    "c.id, c.given_name, c.family_name, c.a_number, c.country_of_birth, c.preferred_language, "
    "c.race, c.ethnicity, c.custody_status, c.facility_id, c.field_office_id, "
    "c.removal_scheduled_at, c.factors, c.attorney_id, c.closed_at, c.created_at, c.updated_at, "
    "c.facility_since, f.kind"
)
_STAY_ROOT = """(s.kind = 'stay_of_removal' OR (s.kind = 'appeal' AND EXISTS (
    SELECT 1 FROM requests p LEFT JOIN requests g ON g.id = p.appeal_of_id
    WHERE p.id = s.appeal_of_id AND ((p.appeal_of_id IS NULL AND p.kind = 'stay_of_removal')
                                     OR g.kind = 'stay_of_removal'))))"""
_URGENT = f"""
SELECT {_CASE_COLUMNS}
FROM cases c LEFT JOIN facilities f ON f.id = c.facility_id
WHERE c.organization_id = %(org)s AND c.closed_at IS NULL
  AND c.removal_scheduled_at IS NOT NULL AND c.removal_scheduled_at <= %(horizon)s
  AND c.custody_status <> 'removed'
  AND NOT EXISTS (SELECT 1 FROM requests s WHERE s.case_id = c.id AND s.status = 'granted'
                  AND (s.stay_expires_at IS NULL OR s.stay_expires_at > %(now)s) AND {_STAY_ROOT})
ORDER BY c.removal_scheduled_at, c.created_at, c.id
LIMIT %(limit)s
"""
_RULES_REQUESTS = """
SELECT case_id, id, kind, status, appeal_of_id, filed_at, decided_at, stay_expires_at,
       documentation_received_at, forum, temporary
FROM requests WHERE case_id = ANY(%s) ORDER BY case_id, created_at, id
"""
_UNREACHABLE = """
SELECT case_id, min(unreachable_since) FROM contacts
WHERE case_id = ANY(%s) AND unreachable AND unreachable_since IS NOT NULL GROUP BY case_id
"""
_ONE_CASE = f"""
SELECT {_CASE_COLUMNS}
FROM cases c LEFT JOIN facilities f ON f.id = c.facility_id
WHERE c.id = %s AND c.organization_id = %s
"""
_CASE_REQUESTS = """
SELECT id, case_id, kind, forum, temporary, appeal_of_id, filed_at, field_office_id, status,
       decided_at, stay_expires_at, documentation_received_at, documentation_language,
       advised_right_to_appeal, notes, created_at, updated_at
FROM requests WHERE case_id = %s ORDER BY created_at
"""
_CASE_CONTACTS = """
SELECT id, case_id, role, name, phone, language, sms_consent, opted_out_at, unreachable,
       created_at, updated_at, unreachable_since
FROM contacts WHERE case_id = %s ORDER BY created_at
"""
_AUDIT = """
INSERT INTO audit_entries (organization_id, actor_id, actor_label, action, entity, entity_id,
                           changes, at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


def _dec(value: str | None) -> str | None:
    return crypto.decrypt(value) if value is not None else None


def _request_facts(rows: list[tuple[Any, ...]]) -> tuple[RequestFacts, ...]:
    """(id, kind, status, appeal_of_id, filed, decided, expires, documented, forum, temporary)."""
    by_id = {r[0]: r for r in rows}

    def root(r: tuple[Any, ...]) -> RequestKind | None:
        seen: set[uuid.UUID] = set()
        cur = r
        while cur[3] is not None and cur[3] not in seen:
            seen.add(cur[3])
            parent = by_id.get(cur[3])
            if parent is None:
                return None
            cur = parent
        return RequestKind(cur[1]) if cur is not r else None

    return tuple(
        RequestFacts(
            id=r[0],
            kind=RequestKind(r[1]),
            status=RequestStatus(r[2]),
            filed_at=r[4],
            decided_at=r[5],
            stay_expires_at=r[6],
            documentation_received_at=r[7],
            forum=StayForum(r[8]),
            temporary=bool(r[9]),
            appeal_root_kind=root(r) if r[3] else None,
        )
        for r in rows
    )


def _case_json(
    row: tuple[Any, ...],
    requests: tuple[RequestFacts, ...],
    unreachable: datetime | None,
    now: datetime,
    policy: Policy,
) -> tuple[dict[str, Any], list[rules.Flag]]:
    facts = CaseFacts(
        id=row[0],
        custody_status=CustodyStatus(row[8]),
        removal_scheduled_at=row[11],
        closed_at=row[14],
        requests=requests,
        unreachable_since=unreachable,
        facility_kind=FacilityKind(row[18]) if row[18] else None,
        facility_since=(row[17] or row[15]) if row[18] else None,
    )
    flags = rules.evaluate(facts, now, policy)
    stay = rules.protecting_stay(requests, now)
    out = {
        "id": row[0],
        "given_name": _dec(row[1]),
        "family_name": _dec(row[2]),
        "a_number": _dec(row[3]),
        "country_of_birth": row[4],
        "preferred_language": row[5],
        "race": row[6],
        "ethnicity": row[7],
        "custody_status": row[8],
        "facility_id": row[9],
        "field_office_id": row[10],
        "removal_scheduled_at": row[11],
        "factors": row[12],
        "attorney_id": row[13],
        "closed_at": row[14],
        "flags": [_flag(f) for f in flags],
        "protected_by": None
        if stay is None
        else {
            "request_id": stay.id,
            "forum": stay.forum.value,
            "temporary": stay.temporary,
            "expires_at": stay.stay_expires_at,
        },
        "created_at": row[15],
        "updated_at": row[16],
    }
    return out, flags


def _flag(f: rules.Flag) -> dict[str, Any]:
    return {"kind": f.kind.value, "due_at": f.due_at, "rung": f.rung, "request_id": f.request_id}


def _urgent(request: Request) -> Response:
    now = datetime.now(UTC)
    limit = int(request.query_params.get("limit", "50"))
    with _conn().cursor() as cur:
        actor = _auth(cur, request)
        if actor is None:
            return JSONResponse({"error": "unauthorized"}, 401)
        params = {
            "org": actor.org_id,
            "horizon": now + actor.policy.horizon,
            "now": now,
            "limit": limit + 1,
        }
        rows = cur.execute(_URGENT, params).fetchall()
        page = rows[:limit]
        ids = [r[0] for r in page]
        by_case: dict[uuid.UUID, list[tuple[Any, ...]]] = {i: [] for i in ids}
        for r in cur.execute(_RULES_REQUESTS, (ids,)):
            by_case[r[0]].append(r[1:])
        unreachable = dict(cur.execute(_UNREACHABLE, (ids,)).fetchall())
    items = [
        _case_json(r, _request_facts(by_case[r[0]]), unreachable.get(r[0]), now, actor.policy)[0]
        for r in page
    ]
    cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        cursor = f"{last[11].timestamp()}:{last[15].timestamp()}:{last[0]}"
    return Response(_dumps({"items": items, "next_cursor": cursor}), media_type="application/json")


def _detail(
    cur: psycopg.Cursor[Any], row: tuple[Any, ...], now: datetime, policy: Policy
) -> dict[str, Any]:
    req_rows = cur.execute(_CASE_REQUESTS, (row[0],)).fetchall()
    contact_rows = cur.execute(_CASE_CONTACTS, (row[0],)).fetchall()
    requests = _request_facts(
        [(r[0], r[2], r[8], r[5], r[6], r[9], r[10], r[11], r[3], r[4]) for r in req_rows]
    )
    unreachable = [c[11] for c in contact_rows if c[8] and c[11]]
    out, flags = _case_json(row, requests, min(unreachable, default=None), now, policy)
    out["contacts"] = [
        {
            "id": c[0],
            "case_id": c[1],
            "role": c[2],
            "name": _dec(c[3]),
            "phone": _dec(c[4]),
            "language": c[5],
            "sms_consent": c[6],
            "opted_out": c[7] is not None,
            "unreachable": c[8],
            "created_at": c[9],
            "updated_at": c[10],
        }
        for c in contact_rows
    ]
    out["requests"] = [
        {
            "id": r[0],
            "case_id": r[1],
            "kind": r[2],
            "forum": r[3],
            "temporary": r[4],
            "appeal_of": r[5],
            "filed_at": r[6],
            "field_office_id": r[7],
            "status": r[8],
            "decided_at": r[9],
            "stay_expires_at": r[10],
            "documentation_received_at": r[11],
            "documentation_language": r[12],
            "advised_right_to_appeal": r[13],
            "notes": _dec(r[14]),
            "flags": [_flag(f) for f in flags if f.request_id == r[0]],
            "created_at": r[15],
            "updated_at": r[16],
        }
        for r in req_rows
    ]
    return out


def _one(request: Request) -> Response:
    now = datetime.now(UTC)
    try:
        case_id = uuid.UUID(request.path_params["id"])
    except ValueError:
        return JSONResponse({"error": "not_found"}, 404)
    with _conn().cursor() as cur:
        actor = _auth(cur, request)
        if actor is None:
            return JSONResponse({"error": "unauthorized"}, 401)
        row = cur.execute(_ONE_CASE, (case_id, actor.org_id)).fetchone()
        if row is None:
            return JSONResponse({"error": "not_found"}, 404)
        out = _detail(cur, row, now, actor.policy)
        # The audited read, in autocommit: one statement, its own implicit transaction.
        cur.execute(
            _AUDIT,
            (actor.org_id, actor.user_id, actor.email[:64], "read", "case", str(case_id),
             Jsonb({}), now),
        )  # fmt: skip
    return Response(_dumps(out), media_type="application/json")


_FACILITY = "SELECT field_office_id, kind FROM facilities WHERE id = %s"
_INSERT_CASE = """
INSERT INTO cases (id, organization_id, given_name, family_name, a_number, a_number_hash,
  country_of_birth, preferred_language, race, ethnicity, custody_status, facility_id,
  facility_since, field_office_id, removal_scheduled_at, attorney_id, factors, closed_at,
  created_by_id, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s)
"""
_INSERT_NAME_WORD = "INSERT INTO case_name_tokens (case_id, token) VALUES (%s, %s)"
_INSERT_EVENT = """
INSERT INTO timeline_events (id, case_id, at, kind, actor_id, summary, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_AUDITED = (
    "given_name", "family_name", "a_number", "country_of_birth", "preferred_language", "race",
    "ethnicity", "custody_status", "facility_id", "field_office_id", "removal_scheduled_at",
    "attorney_id", "factors", "closed_at",
)  # fmt: skip


def _intake(request: Request, raw: bytes) -> Response:
    now = datetime.now(UTC)
    try:
        data = CaseCreate.model_validate_json(raw)
    except ValueError:
        return JSONResponse({"error": "invalid"}, 422)
    conn = _conn()
    with conn.cursor() as cur:
        actor = _auth(cur, request)
        if actor is None:
            return JSONResponse({"error": "unauthorized"}, 401)
        v = data.model_dump()
        facility_kind = None
        if v["facility_id"] is not None:
            fac = cur.execute(_FACILITY, (v["facility_id"],)).fetchone()
            if fac is None:
                return JSONResponse({"error": "invalid", "fields": {"facility_id": "no such"}}, 422)
            if v["field_office_id"] is None:
                v["field_office_id"] = fac[0]
            facility_kind = fac[1]
        case_id = uuid.uuid4()
        a_hash = validators.a_number_hash(v["a_number"]) if v["a_number"] else None
        custody = v["custody_status"] or CustodyStatus.detained
        enc = {k: crypto.encrypt(v[k]) if v[k] else None for k in ("given_name", "family_name",
                                                                  "a_number")}  # fmt: skip
        # As ``audit.diff({}, snapshot)``: every field set, the sensitive ones redacted.
        changes = {
            k: [None, "[redacted]" if k in enc else _plain(v[k])]
            for k in _AUDITED
            if v.get(k) is not None
        }
        with conn.transaction():
            cur.execute(
                _INSERT_CASE,
                (case_id, actor.org_id, enc["given_name"], enc["family_name"], enc["a_number"],
                 a_hash, v["country_of_birth"], v["preferred_language"], v["race"],
                 v["ethnicity"], custody.value, v["facility_id"],
                 now if v["facility_id"] else None, v["field_office_id"],
                 v["removal_scheduled_at"], v["attorney_id"], Jsonb(v["factors"] or []),
                 actor.user_id, now, now),
            )  # fmt: skip
            tokens = crypto.name_tokens(v["given_name"], v["family_name"])
            cur.executemany(_INSERT_NAME_WORD, [(case_id, t) for t in tokens])
            cur.execute(
                _AUDIT,
                (actor.org_id, actor.user_id, actor.email[:64], "create", "case", str(case_id),
                 Jsonb(changes), now),
            )  # fmt: skip
            cur.execute(
                _INSERT_EVENT,
                (uuid.uuid4(), case_id, now, "case_opened", actor.user_id,
                 crypto.encrypt("Case opened"), Jsonb({})),
            )  # fmt: skip
            # A new case has no requests, contacts or open alerts: the rules see only the
            # case itself (an intake with a removal inside the horizon would raise here).
            row = (
                case_id, enc["given_name"], enc["family_name"], enc["a_number"],
                v["country_of_birth"], v["preferred_language"], v["race"], v["ethnicity"],
                custody.value, v["facility_id"], v["field_office_id"], v["removal_scheduled_at"],
                v["factors"] or [], v["attorney_id"], None, now, now,
                now if v["facility_id"] else None, facility_kind,
            )  # fmt: skip
            out, _ = _case_json(row, (), None, now, actor.policy)
    out["contacts"] = []
    out["requests"] = []
    return Response(
        _dumps(out),
        status_code=201,
        media_type="application/json",
        headers={"Location": f"/api/cases/{case_id}"},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, uuid.UUID)):
        return _json(value)
    return getattr(value, "value", value)


async def cases(request: Request) -> Response:
    if request.method == "POST":
        raw = await request.body()
        result: Response = await _in_thread(_intake, request, raw)
        return result
    urgent: Response = await _in_thread(_urgent, request)
    return urgent


async def one_case(request: Request) -> Response:
    result: Response = await _in_thread(_one, request)
    return result


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/api/cases", cases, methods=["GET", "POST"]),
        Route("/api/cases/{id}", one_case),
    ]
)
