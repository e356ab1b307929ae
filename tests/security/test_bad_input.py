"""The bad-input corpus: identifiers people mistype, hostile strings, broken bodies.

Every bad request answers a 4xx in the error shape naming the field, and writes nothing
(row counts of every table a write could touch are unchanged). Text that is valid however
strange — names in many scripts, emoji, SQL and HTML — is stored exactly and shown escaped
on every page that displays it.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.security.world import NOW, World, build_world, sign_in
from tracker import db
from tracker.models import (
    Alert,
    AuditEntry,
    Case,
    CaseNameToken,
    Contact,
    Facility,
    Notification,
    Request,
    TimelineEvent,
)
from tracker.schemas import UserCreate
from tracker.vocab import Role
from tracker.web.app import create_app

WRITABLE = (Alert, AuditEntry, Case, CaseNameToken, Contact, Facility, Notification, Request,
            TimelineEvent)  # fmt: skip

SQL = "Robert'); DROP TABLE cases;--"
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# Valid, if unusual: stored exactly, never executed.
STRANGE_NAMES = [
    "María José", "Jean-Baptiste", "Nguyễn Thị Ngọc", "محمد", "明", "김민준", "Алексей",
    "ქეთევან", "Ὀδυσσεύς", "K'iche'", "Zoë 🌵", "👩🏽‍⚖️", SQL, HTML, "O’Brien", "a\u0301",
]  # fmt: skip

# (field, value, why it is bad) for POST /api/cases; each alone next to a valid given_name.
BAD_CASE_FIELDS: list[tuple[str, Any]] = [
    ("a_number", "A-12-345"),
    ("a_number", "1234567"),
    ("a_number", "1234567890"),
    ("a_number", "A12345678X"),
    ("a_number", "١٢٣٤٥٦٧٨٩"),  # Arabic-Indic digits: not an A-number as ICE writes them
    ("a_number", "A-123-456-789; DROP TABLE cases"),
    ("a_number", 123456789),
    ("removal_scheduled_at", "2026-11-24T12:00:00"),  # no offset: ambiguous, refused
    ("removal_scheduled_at", "2026-13-01T00:00:00Z"),
    ("removal_scheduled_at", "2026-02-30T00:00:00Z"),
    ("removal_scheduled_at", "tomorrow"),
    ("removal_scheduled_at", "2026-11-24T12:00:00+25:00"),
    ("removal_scheduled_at", "9999-12-31T23:59:59+14:00"),
    ("removal_scheduled_at", "0001-01-01T00:00:00-12:00"),
    ("country_of_birth", "XX"),
    ("country_of_birth", "Mexico"),
    ("preferred_language", "not a language!"),
    ("preferred_language", "x" * 50),
    ("factors", ["flying"]),
    ("factors", "elderly"),
    ("facility_id", "not-a-uuid"),
    ("facility_id", str(uuid.UUID(int=7))),
    ("attorney_id", str(uuid.UUID(int=8))),
    ("custody_status", "escaped"),
    ("given_name", ""),
    ("given_name", "   "),
    ("given_name", "x" * 201),
    ("given_name", None),
    ("given_name", 12345),
    ("given_name", "nul\x00byte"),
    ("unknown_field", "anything"),
]

BAD_CONTACTS: list[tuple[str, Any]] = [
    ("phone", "12345"),
    ("phone", "+1 202 555 01"),
    ("phone", "call me"),
    ("phone", "+999 999 999 999 999"),
    ("phone", "1" * 60),
    ("phone", "+1 202 555 0142; DROP TABLE contacts"),
    ("role", "lawyer"),
    ("language", "!!"),
    ("sms_consent", "maybe"),
]

BAD_FACILITIES: list[tuple[str, Any]] = [
    ("time_zone", "Mars/Olympus_Mons"),
    ("time_zone", "America/New York"),
    ("time_zone", "UTC+3"),
    ("time_zone", ""),
    ("field_office_id", str(uuid.UUID(int=9))),
]


def _counts() -> dict[str, int]:
    with db.session_scope() as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in WRITABLE
        }


@pytest.fixture
def env(db_url: str) -> Iterator[tuple[World, TestClient, dict[str, str]]]:
    world = build_world()
    app = create_app()
    app.state.clock = lambda: NOW
    admin = world.principals[Role.admin.value]
    with TestClient(app, base_url="http://testserver") as client:
        yield world, client, admin.headers


def _assert_refused(response: Any, field: str | None, what: str) -> None:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    error = response.json()["error"]
    assert {"code", "message", "fields"} <= set(error), what
    if field is not None:
        named = " ".join(error["fields"])
        assert field in named, f"{what}: fields {error['fields']} do not name {field}"


@pytest.mark.slow
def test_bad_values_are_refused_and_nothing_is_written(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    world, client, headers = env
    res = world.resources()
    before = _counts()
    for name, value in BAD_CASE_FIELDS:
        body = {"given_name": "Valid"} | {name: value}
        answer = client.post("/api/cases", json=body, headers=headers)
        _assert_refused(answer, name, f"POST /api/cases {name}={value!r}")
        answer = client.patch(f"/api/cases/{res['case']}", json={name: value}, headers=headers)
        _assert_refused(answer, name, f"PATCH /api/cases {name}={value!r}")
    for name, value in BAD_CONTACTS:
        body = {"role": "family", "phone": "+12025550142"} | {name: value}
        answer = client.post(f"/api/cases/{res['case']}/contacts", json=body, headers=headers)
        _assert_refused(answer, name, f"POST contact {name}={value!r}")
    for name, value in BAD_FACILITIES:
        body = {"name": "Bad Input Facility", "time_zone": "America/Chicago"} | {name: value}
        answer = client.post("/api/facilities", json=body, headers=headers)
        _assert_refused(answer, name, f"POST facility {name}={value!r}")
    bad_dates = [
        {"outcome": "granted", "decided_at": "2026-11-23"},
        {"outcome": "maybe", "decided_at": NOW.isoformat()},
        {"outcome": "denied", "decided_at": "2099-01-01T00:00:00Z"},  # in the future
    ]
    for body in bad_dates:
        answer = client.post(
            f"/api/requests/{res['filed_request']}/determination", json=body, headers=headers
        )
        _assert_refused(answer, None, f"determination {body}")
    assert _counts() == before


@pytest.mark.slow
def test_broken_bodies_are_refused_and_nothing_is_written(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    _world, client, headers = env
    before = _counts()
    json_headers = headers | {"Content-Type": "application/json"}
    bodies: list[tuple[bytes, dict[str, str], str]] = [
        (b'{"given_name": "caf\xe9"}', json_headers, "invalid UTF-8"),
        (b'{"given_name": "x"', json_headers, "truncated JSON"),
        (b"[1, 2, 3]", json_headers, "an array, not an object"),
        (b"null", json_headers, "null"),
        (b'"given_name"', json_headers, "a bare string"),
        (b"[" * 100_000 + b"]" * 100_000, json_headers, "nested 100,000 deep"),
        (b'{"given_name": "' + b"x" * 1_100_000 + b'"}', json_headers, "a 1 MB body"),
        (b"given_name=Form", headers | {"Content-Type": "application/x-www-form-urlencoded"},
         "a form, not JSON"),
        (b'{"given_name": "NaN", "factors": NaN}', json_headers, "NaN"),
    ]  # fmt: skip
    for raw, hdrs, what in bodies:
        answer = client.post("/api/cases", content=raw, headers=hdrs)
        _assert_refused(answer, None, what)
    assert _counts() == before


@pytest.mark.slow
def test_hostile_queries_answer_4xx_or_nothing_foreign(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    world, client, headers = env
    mine = world.resources()
    theirs = world.resources(world.org_b)
    for params, ok in [
        ({"q": "' OR 1=1 --"}, True),
        ({"q": "%"}, True),
        ({"q": "*"}, True),
        ({"q": "x" * 5000}, False),
        ({"limit": "-1"}, False),
        ({"limit": "100000"}, False),
        ({"limit": "ten"}, False),
        ({"cursor": "'; DROP TABLE cases;--"}, False),
        ({"cursor": "x" * 5000}, False),
        ({"flag": "removal_imminent' OR '1'='1"}, False),
        ({"field_office_id": "1 OR 1=1"}, False),
    ]:
        answer = client.get("/api/cases", params=params, headers=headers)
        if ok:
            assert answer.status_code == 200, (params, answer.text)
            assert str(theirs["case"]) not in answer.text, params
            assert answer.json()["items"] == [], f"{params} matched cases"
        else:
            _assert_refused(answer, None, f"GET /api/cases {params}")
    assert str(mine["case"])  # org A's records exist: the empty answers above mean something


@pytest.mark.slow
def test_strange_text_is_stored_exactly_and_shown_escaped(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    world, client, headers = env
    ids: dict[str, str] = {}
    for name in STRANGE_NAMES:
        answer = client.post(
            "/api/cases",
            json={"given_name": name, "family_name": HTML, "facility_id": str(world.facility_id)},
            headers=headers,
        )
        assert answer.status_code == 201, (name, answer.text)
        ids[name] = answer.json()["id"]
        stored = client.get(f"/api/cases/{ids[name]}", headers=headers).json()
        assert stored["given_name"] == name.strip()
        assert stored["family_name"] == HTML
    case_id = ids[SQL]
    contact = client.post(
        f"/api/cases/{case_id}/contacts",
        json={"role": "family", "name": HTML, "phone": "+12025550143"},
        headers=headers,
    )
    assert contact.status_code == 201, contact.text
    note = client.post(
        f"/api/cases/{case_id}/requests", json={"kind": "release", "notes": HTML}, headers=headers
    )
    assert note.status_code == 201, note.text
    facility = client.post(
        "/api/facilities", json={"name": HTML, "time_zone": "America/Chicago"}, headers=headers
    )
    assert facility.status_code == 201, facility.text

    admin = world.principals[Role.admin.value]
    with TestClient(client.app, base_url="http://testserver") as browser:
        sign_in(browser, admin)
        pages = ["/", f"/cases/{case_id}", f"/cases/{ids[HTML]}", "/admin/facilities",
                 "/?q=" + "Robert"]  # fmt: skip
        for path in pages:
            page = browser.get(path)
            assert page.status_code == 200, path
            assert HTML not in page.text, f"{path} renders stored HTML unescaped"
            assert "<script>alert" not in page.text, path
        case_page = browser.get(f"/cases/{case_id}").text
        assert SQL in html.unescape(case_page), "the stored name is shown (escaped)"
        assert "&lt;script&gt;" in case_page


# --- out-of-range values and hidden characters ----------------------------------------------


def _cursor(values: list[Any]) -> str:
    import base64
    import json

    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.slow
def test_out_of_range_cursors_periods_and_dates_answer_422_not_500(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    world, client, headers = env
    browser = TestClient(client.app, base_url="http://testserver")
    token = sign_in(browser, world.principals[Role.admin.value])
    before = _counts()
    some_id = str(uuid.uuid4())
    for flag in ({}, {"flag": "removal_imminent"}, {"flag": "unanswered"}):
        for values in (
            ["f", 1e20, 0.0, 0.0, some_id],
            ["f", 0.0, 1e20, 0.0, some_id],
            ["r", 0.0, 0.0, -1e20, some_id],
            ["f", 1e308, 1e308, 1e308, some_id],
        ):
            answer = client.get(
                "/api/cases", params={"cursor": _cursor(values)} | flag, headers=headers
            )
            _assert_refused(answer, "cursor", f"cursor {values} {flag}")
        # The "no removal" sentinel is a legitimate general-path value; never a 500 anywhere.
        sentinel = _cursor(["f", 1e13, 1e13, 1e13, some_id])
        answer = client.get("/api/cases", params={"cursor": sentinel} | flag, headers=headers)
        assert answer.status_code in (200, 422), (flag, answer.status_code, answer.text)

    periods: list[tuple[dict[str, str], str]] = [
        ({"from": "0001-01-01"}, "from"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ({"to": "9999-12-31T23:59:59-12:00"}, "to"),
    ]
    for params, field in periods:
        answer = client.get("/api/reports/field-offices", params=params, headers=headers)
        _assert_refused(answer, field, f"report {params}")
    for params, field in [
        ({"period": "0001-01"}, "period"),
        ({"period": "9999-Q4"}, "period"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-10", "from": "0001-01-01"}, "from"),
    ]:
        answer = client.get("/api/reports/field-offices.csv", params=params, headers=headers)
        _assert_refused(answer, field, f"public CSV {params}")

    for when in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-12:00", "1899-12-31T00:00Z",
                 "2201-01-01T00:00Z"):  # fmt: skip
        answer = client.post(
            "/api/cases",
            json={"given_name": "Valid", "removal_scheduled_at": when},
            headers=headers,
        )
        _assert_refused(answer, "removal_scheduled_at", f"removal {when}")

    with browser:
        for params in ({"from": "0001-01-01"}, {"to": "9999-12-31"}):
            assert browser.get("/reports", params=params).status_code == 200, params
        assert (
            browser.get("/reports/field-offices.csv", params={"period": "9999-Q4"}).status_code
            == 422
        )
        rows = "\n".join(
            f"Row{n},{when}"
            for n, when in enumerate(
                [
                    "0001-01-01 00:00",
                    "9999-12-31 23:59",
                    "1899-12-31 10:00",
                    "2201-01-01T00:00+00:00",
                    "0001-01-01T00:00+05:00",
                ]
            )
        )
        answer = browser.post(
            "/import",
            data={"csrf_token": token, "csv": f"given_name,removal_scheduled_at\n{rows}\n"},
        )
        assert answer.status_code == 422, answer.text[:300]
        for row in range(2, 7):
            assert re.search(rf"\b{row}\b.*removal_scheduled_at", html.unescape(answer.text)), row
    assert _counts() == before


HIDDEN = ["Ana\u202eairaM", "\u202aAna", "Ana\u2066x\u2069", "Ana\u200bMaria", "Ana\u200dMaria",
          "Ana\u200cMaria", "Ana\u2060", "\ufeffAna"]  # fmt: skip


@pytest.mark.slow
def test_names_with_direction_overrides_or_zero_width_characters_are_refused(
    env: tuple[World, TestClient, dict[str, str]],
) -> None:
    world, client, headers = env
    res = world.resources()
    browser = TestClient(client.app, base_url="http://testserver")
    token = sign_in(browser, world.principals[Role.admin.value])
    before = _counts()
    for value in HIDDEN:
        for name in ("given_name", "family_name"):
            body = {"given_name": "Valid"} | {name: value}
            _assert_refused(
                client.post("/api/cases", json=body, headers=headers), name, repr(value)
            )
            answer = client.patch(f"/api/cases/{res['case']}", json={name: value}, headers=headers)
            _assert_refused(answer, name, f"PATCH {name}={value!r}")
        body = {"role": "family", "phone": "+12025550142", "name": value}
        answer = client.post(f"/api/cases/{res['case']}/contacts", json=body, headers=headers)
        _assert_refused(answer, "name", f"contact {value!r}")
        with pytest.raises(ValidationError) as refused:
            UserCreate(email="someone@example.org", role="hotline", name=value)
        assert refused.value.errors()[0]["loc"] == ("name",)
    with browser:
        csv = "given_name,family_name\n" + "".join(f"Valid,{v}\n" for v in HIDDEN)
        answer = browser.post("/import", data={"csrf_token": token, "csv": csv})
        assert answer.status_code == 422
        text = html.unescape(answer.text)
        for row in range(2, 2 + len(HIDDEN)):
            assert re.search(rf"\b{row}\b.*family_name", text), row
    assert _counts() == before
