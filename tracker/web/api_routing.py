"""The API's route table machinery: one ``Operation`` per method and path.

An operation names its permission (``tracker.permissions``), its body, query and response
models; from the one table come the Starlette routes, the OpenAPI document and the
authorization matrix. Each request runs as: read the body (async) → in the threadpool, one
transaction: authenticate, validate, call the handler, commit → serialise.
"""

from __future__ import annotations

import asyncio
import math
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.db import get_read_sessionmaker, session_scope
from tracker.services import Actor
from tracker.types import utcnow
from tracker.validators import EARLIEST_YEAR, LATEST_YEAR
from tracker.web.apiauth import authenticate
from tracker.web.errors import ApiError, from_validation_error, read_json_value

# Times the API accepts: far enough for any real case, near enough that arithmetic on them
# (a 48-hour window, a conversion to UTC) can never overflow.
EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(LATEST_YEAR, 1, 1, tzinfo=UTC)


@dataclass
class Context:
    """What a handler gets: its transaction, who acts, when, and the validated input."""

    request: Request
    session: Session
    actor: Actor
    now: datetime
    path: Mapping[str, Any]
    body: Any = None
    query: Any = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Callable[[Context], Any]
    permission: str
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    # For a 201: where the created resource lives, e.g. "/api/cases/{id}".
    location: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    # Fixed response headers, e.g. (("Cache-Control", "no-store"),) for an answer with a secret.
    headers: tuple[tuple[str, str], ...] = ()
    # Only reads (and appends its audit row): each statement commits on its own, with no
    # BEGIN/COMMIT round trips nor, on SQLite, the write lock (``db.get_read_sessionmaker``).
    read_only: bool = False
    # The handler uses the token's user and organisation only as the actor and the
    # organisation's thresholds (``facts.organization_policy``): authenticate from plain
    # columns, without loading them as objects (as every read-only operation does).
    plain_auth: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1].split(":")[0] for part in self.path.split("/") if part.startswith("{")]

    @property
    def openapi_path(self) -> str:
        return "/".join(
            "{" + part[1:-1].split(":")[0] + "}" if part.startswith("{") else part
            for part in self.path.split("/")
        )


def clock(request: Request) -> datetime:
    """The app's clock: ``app.state.clock`` when tests set one, else the real time."""
    fn = getattr(request.app.state, "clock", None)
    return fn() if fn is not None else utcnow()


def _nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first string holding a NUL (PostgreSQL refuses them in text)."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, path) or _nul_path(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_path(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def _time_errors(model: BaseModel) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        if isinstance(value, datetime):
            try:
                ok = EARLIEST <= value <= LATEST
            except OverflowError:
                ok = False
            if not ok:
                errors[name] = "must be between 1900 and 2200"
        elif isinstance(value, float) and not math.isfinite(value):
            errors[name] = "must be a finite number"
    return errors


def validate(model: type[BaseModel], raw: Any, where: str = "") -> BaseModel:
    bad = _nul_path(raw)
    if bad is not None:
        raise ApiError(422, "invalid", "the input is not valid", {bad: "contains a NUL character"})
    try:
        value = model.model_validate(raw)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    errors = _time_errors(value)
    if errors:
        raise ApiError(422, "invalid", "the input is not valid", errors)
    return value


def _query_values(request: Request) -> dict[str, str]:
    # The last of repeated parameters wins, as with most frameworks.
    return dict(request.query_params.items())


def _run(op: Operation, request: Request, raw_body: Any) -> Response:
    now = clock(request)
    with session_scope(get_read_sessionmaker() if op.read_only else None) as session:
        actor = authenticate(
            session, request, op.permission, now=now, objects=not (op.read_only or op.plain_auth)
        )
        query = validate(op.query, _query_values(request)) if op.query else None
        body = None
        if op.body is not None:
            body = validate(op.body, {} if raw_body is _EMPTY else raw_body)
        ctx = Context(request, session, actor, now, dict(request.path_params), body, query)
        result = op.handler(ctx)
        # Serialise inside the transaction: lazy attributes load from this session.
        payload = result.model_dump_json() if isinstance(result, BaseModel) else None
    headers = dict(op.headers)
    if payload is None:
        return Response(status_code=op.status, headers=headers)
    if op.location is not None:
        headers["Location"] = op.location.format(id=getattr(result, "id", ""))
    return Response(payload, status_code=op.status, media_type="application/json", headers=headers)


_EMPTY = object()

# How many API requests of one process run their transaction at once. The work is mostly
# Python holding the GIL: dozens of threads time-slicing it make every request as slow as the
# slowest and stretch the tail; a few at a time serve the rest in arrival order, sooner.
API_THREADS = 6
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    # One per event loop: a limiter is bound to the loop that first waits on it (tests start
    # a loop per client).
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(API_THREADS)
    return limiter


def to_route(op: Operation) -> Route:
    async def endpoint(request: Request) -> Response:
        raw: Any = None
        if op.body is not None:
            if not op.body_required and not await _has_body(request):
                raw = _EMPTY
            else:
                raw = await read_json_value(request)
        return await anyio.to_thread.run_sync(_run, op, request, raw, limiter=_limiter())

    endpoint.__name__ = op.operation_id
    return Route(op.path, endpoint, methods=[op.method])


async def _has_body(request: Request) -> bool:
    if request.headers.get("content-length", "0") not in ("", "0"):
        return True
    if request.headers.get("transfer-encoding"):
        body = await request.body()
        return bool(body)
    return False


def parse_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ApiError(404, "not_found", "not found") from exc
