"""API fuzzing: schemathesis against ``/openapi.json`` with an authenticated admin.

Every operation of the document gets valid (positive) and invalid (negative) generated
requests, half of those with an ``{id}`` aimed at a real record of the caller's organisation
so that the handlers behind the 404 run too. Checks: no 5xx, status code documented,
content type and body matching the document. A fixed seed keeps CI reproducible;
``EXAMPLES_PER_OPERATION`` × the operations ≥ 1,000 requests per backend.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.world import NOW, build_world
from tracker.vocab import Role
from tracker.web.app import create_app

EXAMPLES_PER_OPERATION = 60
MIN_REQUESTS = 1000
CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Which real record an operation's {id} names.
ID_KIND: list[tuple[str, str]] = [
    ("/api/requests/{id}/determination", "filed_request"),
    ("/api/requests/{id}/documentation", "decided_request"),
    ("/api/requests/{id}/appeal", "denied_request"),
    ("/api/requests/", "request"),
    ("/api/contacts/", "contact"),
    ("/api/alerts/", "alert"),
    ("/api/cases/", "case"),
]


def _ok(result: Any) -> Any:
    # An operation the document describes badly is an error, not something to skip.
    return result.ok()


def _kind(path: str) -> str | None:
    for prefix, kind in ID_KIND:
        if path.startswith(prefix) or path == prefix:
            return kind
    return None


@pytest.mark.slow
def test_fuzz_every_operation(db_url: str) -> None:
    world = build_world()
    resources = world.resources()
    app = create_app()
    app.state.clock = lambda: NOW
    token = world.principals[Role.admin.value].token
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [_ok(result) for result in schema.get_all_operations()]
    assert len(operations) >= 15, "the OpenAPI document lost its operations"

    sent: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    for operation in operations:
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        kind = _kind(operation.path) if "{id}" in operation.path else None
        if kind is not None:
            real = {"id": str(resources[kind])}
            strategies += [operation.as_strategy(m, path_parameters=real) for m in GenerationMode]
        _fuzz(operation.label, st.one_of(strategies), headers, sent, statuses)

    total = sum(sent.values())
    print(
        f"\nfuzz: {total} requests over {len(sent)} operations; statuses {sorted(statuses.items())}"
    )
    # The requests got past authentication and into the handlers, both ways.
    assert sum(n for s, n in statuses.items() if 200 <= s < 300) >= 100, statuses
    assert statuses[422] >= 100, statuses
    assert len(sent) == len(operations)
    assert total >= MIN_REQUESTS, sent


def _fuzz(
    label: str,
    strategy: Any,
    headers: dict[str, str],
    sent: dict[str, int],
    statuses: Counter[int],
) -> None:
    sent[label] = 0

    @seed(20261123)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        sent[label] += 1
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    check: Callable[[], None] = run
    check()


def test_ids_are_opaque() -> None:
    # The fuzzer aims at real ids by kind: the kinds must be uuid-shaped records.
    assert _kind("/api/cases/{id}") == "case"
    assert _kind("/api/requests/{id}/appeal") == "denied_request"
    assert uuid.UUID(int=1)
