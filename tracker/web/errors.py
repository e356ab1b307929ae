"""The one error shape of the JSON API, and the handlers that guarantee it.

Every API failure answers ``{"error": {"code": ..., "message": ..., "fields": {name: reason}}}``.
Use it from any route module:

- raise ``ApiError(status, code, message, fields)`` for a failure you detect yourself;
- let a ``pydantic.ValidationError`` or a ``tracker.services.ServiceError`` propagate: the app's
  exception handlers turn them into a 422 naming each field (``NotFound`` into a 404);
- ``await read_json(request, Model)`` reads and validates a body: wrong content type (415),
  too large (413), malformed JSON or invalid fields (422) all answer in the shape.

The handlers are installed by ``tracker.web.app.create_app`` from ``exception_handlers`` below.
Paths outside the API (``/api/...``, ``/openapi.json``) keep Starlette's plain responses so the
HTML pages can render their own errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from tracker.services import NotFound, ServiceError

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# No request of ours comes near this; a bigger body is refused before it is read whole.
MAX_BODY_BYTES = 256 * 1024

_STATUS_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}


class ApiError(Exception):
    """A failure with its HTTP status, answered in the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})


def error_body(code: str, message: str, fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, fields), status_code=status, headers=dict(headers or {})
    )


def _loc(loc: tuple[int | str, ...], prefix: str = "") -> str:
    name = ".".join(str(part) for part in loc)
    if prefix:
        return f"{prefix}.{name}" if name else prefix
    return name or "body"


def validation_fields(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """``{field: reason}``; the first reason of a field wins (the others are usually echoes)."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False):
        msg = str(err["msg"])
        # pydantic prefixes the reasons that our validators raise; the user needs the reason.
        msg = msg.removeprefix("Value error, ")
        fields.setdefault(_loc(tuple(err["loc"]), prefix), msg)
    return fields


def from_validation_error(exc: ValidationError, prefix: str = "") -> ApiError:
    return ApiError(422, "invalid", "the input is not valid", validation_fields(exc, prefix))


def from_service_error(exc: ServiceError) -> ApiError:
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", exc.message)
    return ApiError(422, exc.code or "invalid", exc.message, exc.fields)


def not_found(entity: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"{entity} not found")


async def read_json(request: Request, model: type[M]) -> M:
    """Read a JSON body and validate it with ``model``; every failure is an ``ApiError``."""
    return model.model_validate(await read_json_value(request))


async def read_json_value(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON (Content-Type: application/json)",
            {"content-type": f"expected application/json, got {media_type or 'nothing'}"},
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError(
            422, "invalid_json", "the body is not valid JSON", {"body": _json_reason(exc)}
        ) from exc


def _json_reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "not UTF-8"


def _too_large() -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the body exceeds {MAX_BODY_BYTES} bytes",
        {"body": f"at most {MAX_BODY_BYTES} bytes"},
    )


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path == "/openapi.json"


def _as_response(error: ApiError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _as_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return _as_response(from_validation_error(exc))


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return _as_response(from_service_error(exc))


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not is_api_path(request.url.path):
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    if exc.status_code == 404:
        message = "not found"
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Reached only by a bug: logged with its traceback (no request body, which may hold names).
    log.error(
        "unhandled %s on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    if not is_api_path(request.url.path):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return error_response(500, "internal_error", "something went wrong; it has been logged")


# Installed by ``create_app``: a ServiceError that escapes a page or an API route alike ends
# as a 422 in the shape rather than a 500.
exception_handlers: dict[Any, Any] = {
    ApiError: _api_error,
    ValidationError: _validation_error,
    ServiceError: _service_error,
    HTTPException: _http_exception,
    Exception: _server_error,
}
