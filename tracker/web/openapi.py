"""``GET /openapi.json``: the OpenAPI 3.1 document of the API, generated from the route table
and from the very pydantic models that validate the requests and build the responses.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tracker.permissions import PERMISSIONS
from tracker.schemas_out import ErrorOut
from tracker.web.api_routing import Operation
from tracker.web.health import HealthOut

REF = "#/components/schemas/{model}"
_ERROR = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorOut")}}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **copy.deepcopy(_ERROR)}


def _parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without its ``null`` branch: an absent parameter is null."""
    schema = dict(schema)
    options = schema.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            del schema["anyOf"]
            schema.update(rest[0])
    if schema.get("default") is None:
        schema.pop("default", None)
    schema.pop("title", None)
    return schema


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(model_schema.get("required", []))
    params = []
    for name, prop in model_schema.get("properties", {}).items():
        schema = _parameter_schema(prop)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": schema,
        }
        if "description" in schema:
            param["description"] = schema.pop("description")
        params.append(param)
    return params


def _operation(op: Operation, defs: dict[str, Any], refs: dict[Any, Any]) -> dict[str, Any]:
    roles = sorted(r.value for r in PERMISSIONS[op.permission])
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Permission `{op.permission}`: roles {', '.join(roles)}.",
        "tags": list(op.tags),
        "security": [{"bearerAuth": []}],
    }
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in op.path_params
    ]
    if op.query is not None:
        params.extend(_query_parameters(defs[op.query.__name__]))
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "Done; no content"}
    else:
        ok: dict[str, Any] = {
            "description": "OK" if op.status == 200 else "Created",
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
        if op.location is not None:
            ok["headers"] = {
                "Location": {
                    "description": "the URL of the created resource",
                    "schema": {"type": "string"},
                }
            }
        responses[str(op.status)] = ok
    responses["401"] = _error("No token, an unknown or revoked token, or an inactive user")
    responses["403"] = _error("The role may not do this")
    if op.path_params:
        responses["404"] = _error("No such id in your organisation")
    if op.body is not None:
        responses["413"] = _error("The body is too large")
        responses["415"] = _error("The body is not JSON")
    responses["422"] = _error("Invalid input: `fields` names each bad field and why")
    doc["responses"] = responses
    return doc


def _healthz(refs: dict[Any, Any]) -> dict[str, Any]:
    """``/healthz``: the one JSON route outside the operation table (it needs no token and
    must answer when the database does not)."""
    body = {"application/json": {"schema": refs[(HealthOut, "serialization")]}}
    return {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness: the database answers and the clock sweeps",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {"description": "Up (`degraded` when no clock runs)", "content": body},
                "503": {
                    "description": "The database is down or the clock has stopped",
                    "content": copy.deepcopy(body),
                },
            },
        }
    }


def document(operations: Sequence[Operation], version: str = "1") -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorOut, "serialization"),
        (HealthOut, "serialization"),
    ]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.query is not None:
            models.append((op.query, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema(unique, ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {"/healthz": _healthz(refs)}
    for op in operations:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, defs, refs)
    # Query models are expanded into parameters; they are not bodies.
    for op in operations:
        if op.query is not None:
            defs.pop(op.query.__name__, None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Amparo API",
            "version": version,
            "description": (
                "Deportation-stay, release and prosecutorial-discretion tracker. Authenticate "
                "with `Authorization: Bearer <token>` (`amparo token create --email E`). Another "
                "organisation's ids answer 404 like missing ones. Errors have one shape: "
                '`{"error": {"code", "message", "fields": {name: reason}}}`.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "amp_…"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


@functools.cache
def _cached(operations: tuple[Operation, ...]) -> dict[str, Any]:
    return document(operations)


def route(operations: Sequence[Operation]) -> Route:
    ops = tuple(operations)

    def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(_cached(ops))

    return Route("/openapi.json", openapi_json, methods=["GET"])
