"""The error shape and bearer authentication, on a probe app built the way create_app builds."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.web.conftest import NOW, Org
from tracker import db
from tracker.models import ApiToken, User
from tracker.services import NotFound, ServiceError
from tracker.vocab import Role
from tracker.web import errors
from tracker.web.apiauth import authenticate, require_actor


class Probe(BaseModel):
    count: int = Field(ge=0)


async def probe_body(request: Request) -> JSONResponse:
    data = await errors.read_json(request, Probe)
    return JSONResponse({"count": data.count})


def probe_auth(request: Request) -> JSONResponse:
    actor = require_actor(request, roles={Role.admin, Role.coordinator})
    return JSONResponse({"user_id": str(actor.user_id), "role": actor.role})


def probe_service(request: Request) -> JSONResponse:
    if request.query_params.get("missing"):
        raise NotFound("case")
    raise ServiceError("bad reference", {"facility_id": "no such facility"})


def probe_bug(request: Request) -> JSONResponse:
    raise RuntimeError("a bug")


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/probe", probe_body, methods=["POST"]),
            Route("/api/probe-auth", probe_auth, methods=["GET"]),
            Route("/api/probe-service", probe_service, methods=["GET"]),
            Route("/api/probe-bug", probe_bug, methods=["GET"]),
            Route("/page", probe_bug, methods=["GET"]),
        ],
        exception_handlers=errors.exception_handlers,
    )


def _shape(body: object) -> dict[str, object]:
    assert isinstance(body, dict) and set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_bad_bodies_answer_4xx_in_the_shape() -> None:
    with TestClient(_app()) as client:
        ok = client.post("/api/probe", json={"count": 3})
        assert ok.status_code == 200 and ok.json() == {"count": 3}

        invalid = client.post("/api/probe", json={"count": -1, "extra": 1})
        assert invalid.status_code == 422
        assert set(_shape(invalid.json())["fields"]) == {"count"}  # type: ignore[arg-type]

        malformed = client.post(
            "/api/probe", content=b'{"count": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert _shape(malformed.json())["code"] == "invalid_json"

        not_utf8 = client.post(
            "/api/probe", content=b"\xff\xfe", headers={"content-type": "application/json"}
        )
        assert not_utf8.status_code == 422

        form = client.post("/api/probe", data={"count": "3"})
        assert form.status_code == 415 and _shape(form.json())["code"] == "unsupported_media_type"

        huge = client.post(
            "/api/probe",
            content=b"[" + b"0," * errors.MAX_BODY_BYTES + b"0]",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413 and _shape(huge.json())["code"] == "body_too_large"

        not_object = client.post("/api/probe", json=[1, 2])
        assert not_object.status_code == 422


def test_routing_and_service_errors_in_the_shape() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        missing = client.get("/api/nowhere")
        assert missing.status_code == 404 and _shape(missing.json())["code"] == "not_found"
        wrong_method = client.delete("/api/probe")
        assert wrong_method.status_code == 405
        assert _shape(wrong_method.json())["code"] == "method_not_allowed"

        service = client.get("/api/probe-service")
        assert service.status_code == 422
        assert _shape(service.json())["fields"] == {"facility_id": "no such facility"}
        assert client.get("/api/probe-service?missing=1").status_code == 404

        bug = client.get("/api/probe-bug")
        assert bug.status_code == 500 and _shape(bug.json())["code"] == "internal_error"
        # Pages keep their own (non-JSON) errors.
        page = client.get("/page")
        assert page.status_code == 500 and page.text == "Internal Server Error"
        assert client.get("/nowhere").headers["content-type"].startswith("text/plain")


def test_bearer_tokens(orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    with TestClient(_app()) as client:
        assert client.get("/api/probe-auth").status_code == 401
        no_token = client.get("/api/probe-auth")
        assert no_token.headers["www-authenticate"].startswith("Bearer")
        assert _shape(no_token.json())["code"] == "unauthorized"
        bad = client.get("/api/probe-auth", headers={"Authorization": "Bearer amp_nope"})
        assert bad.status_code == 401
        basic = client.get("/api/probe-auth", headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401

        admin = client.get("/api/probe-auth", headers=north.headers(Role.admin))
        assert admin.status_code == 200
        assert admin.json()["user_id"] == str(north.users[Role.admin].id)

        hotline = client.get("/api/probe-auth", headers=north.headers(Role.hotline))
        assert hotline.status_code == 403 and _shape(hotline.json())["code"] == "forbidden"

        with db.session_scope() as session:
            token = session.scalar(
                select(ApiToken).where(ApiToken.user_id == north.users[Role.admin].id)
            )
            assert token is not None and token.last_used_at is not None
            token.revoked_at = NOW
            coordinator = session.get(User, north.users[Role.coordinator].id)
            assert coordinator is not None
            coordinator.active = False
        assert client.get("/api/probe-auth", headers=north.headers(Role.admin)).status_code == 401
        inactive = client.get("/api/probe-auth", headers=north.headers(Role.coordinator))
        assert inactive.status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(orgs: tuple[Org, Org]) -> None:
    north, _ = orgs
    user_id = north.users[Role.attorney].id

    class _Req:
        def __init__(self) -> None:
            self.headers = {"authorization": f"Bearer {north.tokens[Role.attorney]}"}

            class _State:
                pass

            self.state = _State()

    def used_at() -> object:
        with db.session_scope() as session:
            return session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user_id))

    for at in (NOW, NOW + timedelta(seconds=30)):
        with db.session_scope() as session:
            authenticate(session, _Req(), now=at)  # type: ignore[arg-type]
    assert used_at() == NOW
    with db.session_scope() as session:
        authenticate(session, _Req(), now=NOW + timedelta(minutes=2))  # type: ignore[arg-type]
    assert used_at() == NOW + timedelta(minutes=2)
