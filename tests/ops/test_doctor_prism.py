"""The doctor against Stoplight Prism serving Twilio's own OpenAPI descriptions (the 2010 API
and the Messaging API): every request it makes is valid by Twilio's description (Prism logs
none as invalid), and it reads Twilio-shaped answers into the right verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests import prism
from tests.ops.twilio_fake import ACCOUNT_SID, AUTH_TOKEN
from tests.prism import twilio_spec
from tracker.doctor import Result, Status, twilio_checks
from tracker.settings import get_settings

NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
# The first examples in Twilio's description, which Prism answers with.
EXAMPLE_NUMBER = "+18089255327"
EXAMPLE_SERVICE = "MG" + "a" * 32


@pytest.fixture(scope="module")
def prisms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[Path]]]:
    binary = prism.prism_binary()
    api_spec, messaging_spec = (
        twilio_spec("twilio_api_v2010.json"),
        twilio_spec("twilio_messaging_v1.json"),
    )
    logs = tmp_path_factory.mktemp("prism")
    with ExitStack() as stack:
        api = stack.enter_context(prism.running(binary, api_spec, logs / "api.log", 90))
        messaging = stack.enter_context(
            prism.running(binary, messaging_spec, logs / "messaging.log", 90)
        )
        yield api, messaging, [logs / "api.log", logs / "messaging.log"]


def _run(prisms: tuple[str, str, list[Path]], **changes: object) -> dict[str, Result]:
    api, messaging, logs = prisms
    settings = dataclasses.replace(
        get_settings(),
        base_url="https://amparo.example.org",
        sms_transport="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=api,
        twilio_messaging_api_base_url=messaging,
        **changes,  # type: ignore[arg-type]
    )
    seen = [len(log.read_text()) for log in logs]
    results = {r.name: r for r in twilio_checks(settings, NOW)}
    for log, start in zip(logs, seen, strict=True):
        assert _request_violations(log, start) == []
    return results


def _request_violations(log: Path, start: int = 0) -> list[str]:
    """Prism's complaints about requests since ``start`` (its complaints about Twilio's own
    example answers, "response.body…", are not ours)."""
    return [
        line
        for line in log.read_text()[start:].splitlines()
        if "✖" in line and "response.body" not in line
    ]


@pytest.mark.slow
def test_doctor_with_a_number_against_prism(prisms: tuple[str, str, list[Path]]) -> None:
    results = _run(prisms, twilio_from_number=EXAMPLE_NUMBER, twilio_messaging_service_sid="")
    assert results["twilio credentials"].status is Status.ok
    # Twilio's example number has SMS switched off and no SMS webhook: both are caught.
    assert results["sender"].status is Status.fail
    assert "cannot send SMS" in results["sender"].detail
    assert results["inbound webhook"].status is Status.fail
    assert "30004" in results["recent errors"].detail


@pytest.mark.slow
def test_doctor_with_a_messaging_service_against_prism(
    prisms: tuple[str, str, list[Path]],
) -> None:
    results = _run(prisms, twilio_messaging_service_sid=EXAMPLE_SERVICE)
    assert results["twilio credentials"].status is Status.ok
    assert results["sender"].status is Status.ok
    # The example service hands incoming SMS to each number's own webhook.
    assert results["inbound webhook"].status is Status.warn


# Last in the module: its complaint in Prism's log must not be read as the doctor's.
@pytest.mark.slow
def test_prism_flags_a_request_twilio_would_refuse(prisms: tuple[str, str, list[Path]]) -> None:
    api, _, logs = prisms
    response = httpx.get(
        f"{api}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json",
        params={"PageSize": "0"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert response.status_code == 422
    assert _request_violations(logs[0])
