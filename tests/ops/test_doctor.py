"""``amparo doctor``: a healthy deployment passes; each broken set-up is reported with its fix
and makes the command exit non-zero. Twilio is an in-process stand-in (and a loopback one for
the CLI); every request the doctor makes is checked against Twilio's OpenAPI description."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session

from jobs import heartbeat
from jobs.sweeps import SWEEPS
from notifications import outbox
from tests.notifications import helpers
from tests.ops import twilio_fake
from tests.ops.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, NUMBER, PUBLIC, SERVICE_SID, FakeTwilio
from tracker import canary, db
from tracker.cli import main
from tracker.doctor import Result, Status, run_checks
from tracker.settings import Settings, get_settings

NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


def _settings(**changes: object) -> Settings:
    base = dataclasses.replace(
        get_settings(),
        base_url=PUBLIC,
        sms_transport="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=NUMBER,
        twilio_messaging_service_sid="",
        twilio_api_base_url="https://api.twilio.com",
        twilio_messaging_api_base_url="https://messaging.twilio.com",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _beat(session: Session, at: datetime) -> None:
    for job in SWEEPS:
        heartbeat.beat(session, job, at, get_settings().sweep_interval_seconds)
    session.commit()


@pytest.fixture
def deployment(session: Session, db_url: str) -> Session:
    """A migrated database with its key canary and a clock that beat a moment ago."""
    with db.get_engine().begin() as conn:
        canary.ensure(conn, NOW)
    _beat(session, NOW - timedelta(seconds=5))
    return session


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {r.name: r for r in results}


def _only_failure(results: list[Result], name: str) -> Result:
    failures = [r for r in results if r.status is Status.fail]
    assert [r.name for r in failures] == [name], [r.line() for r in results]
    assert failures[0].fix
    return failures[0]


@pytest.mark.parametrize("service", [False, True], ids=["number", "messaging_service"])
def test_healthy_deployment_passes(deployment: Session, service: bool) -> None:
    fake = FakeTwilio.healthy(service=service)
    settings = _settings(twilio_messaging_service_sid=SERVICE_SID if service else "")
    results = run_checks(settings, NOW, fake.transport)
    assert all(r.status is Status.ok for r in results), [r.line() for r in results]
    names = list(_by_name(results))
    assert names == [
        "database",
        "data keys",
        "clock",
        "outbox",
        "base url",
        "healthz",
        "twilio credentials",
        "sender",
        "inbound webhook",
        "recent errors",
    ]
    assert "1× 21610" in _by_name(results)["recent errors"].detail


def test_every_request_matches_twilios_description(deployment: Session) -> None:
    specs = {
        "api.twilio.com": twilio_fake.load_spec("twilio_api_v2010.json"),
        "messaging.twilio.com": twilio_fake.load_spec("twilio_messaging_v1.json"),
    }
    seen = []
    for service in (False, True):
        fake = FakeTwilio.healthy(service=service)
        settings = _settings(twilio_messaging_service_sid=SERVICE_SID if service else "")
        run_checks(settings, NOW, fake.transport)
        seen += [r for r in fake.seen if r.url.host in specs]
    paths = {r.url.path for r in seen}
    assert f"/2010-04-01/Accounts/{ACCOUNT_SID}.json" in paths
    assert f"/v1/Services/{SERVICE_SID}" in paths
    assert any(p.endswith("/IncomingPhoneNumbers.json") for p in paths)
    for request in seen:
        assert twilio_fake.spec_violations(request, specs[request.url.host]) == [], request.url
    # The check has teeth: a made-up parameter or path is caught.
    api = specs["api.twilio.com"]
    bad = httpx.Request("GET", seen[0].url.copy_add_param("Colour", "red"))
    assert twilio_fake.spec_violations(bad, api) == [
        "/2010-04-01/Accounts/{Sid}.json: unknown query parameter Colour"
    ]
    short_sid = httpx.Request("GET", "https://api.twilio.com/2010-04-01/Accounts/AC1.json")
    assert twilio_fake.spec_violations(short_sid, api)


def test_wrong_data_keys_fail_with_the_fix(deployment: Session) -> None:
    fake = FakeTwilio.healthy()
    results = run_checks(
        _settings(data_keys=(Fernet.generate_key().decode(),)), NOW, fake.transport
    )
    failure = _only_failure(results, "data keys")
    assert "cannot decrypt the key canary" in failure.detail
    assert "escrow" in failure.fix


def test_missing_canary_is_a_warning_naming_migrate(session: Session, db_url: str) -> None:
    _beat(session, NOW)
    from sqlalchemy import text

    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM key_canary"))
    results = _by_name(run_checks(_settings(), NOW, FakeTwilio.healthy().transport))
    assert results["data keys"].status is Status.warn
    assert "amparo migrate" in results["data keys"].fix


def test_stale_clock_fails(deployment: Session) -> None:
    _beat(deployment, NOW - timedelta(hours=1))
    failure = _only_failure(run_checks(_settings(), NOW, FakeTwilio.healthy().transport), "clock")
    assert "stale" in failure.detail and "restart" in failure.fix


def test_clock_never_started_fails(session: Session, db_url: str) -> None:
    with db.get_engine().begin() as conn:
        canary.ensure(conn, NOW)
    results = run_checks(_settings(), NOW, FakeTwilio.healthy().transport)
    assert "amparo-clock" in _only_failure(results, "clock").fix


def test_stuck_outbox_fails(deployment: Session) -> None:
    w = helpers.world(deployment, NOW)
    outbox.enqueue(
        deployment,
        organization_id=w.org.id,
        to_phone=w.family.phone,
        kind="request_filed",
        dedupe_key="doctor-stuck",
        params={"request_kind": "release"},
        urgent=True,
        now=NOW - timedelta(minutes=40),
    )
    deployment.commit()
    failure = _only_failure(run_checks(_settings(), NOW, FakeTwilio.healthy().transport), "outbox")
    assert "oldest waiting 40 min" in failure.detail
    assert "amparo-worker" in failure.fix


def test_number_webhook_pointing_elsewhere_fails(deployment: Session) -> None:
    fake = FakeTwilio.healthy()
    fake.numbers[NUMBER]["sms_url"] = "https://old-host.example.net/sms"
    failure = _only_failure(run_checks(_settings(), NOW, fake.transport), "inbound webhook")
    assert "old-host.example.net" in failure.detail
    assert f"{PUBLIC}/webhooks/twilio/sms" in failure.fix


def test_messaging_service_webhook_pointing_elsewhere_fails(deployment: Session) -> None:
    fake = FakeTwilio.healthy(service=True)
    assert fake.service is not None
    fake.service["inbound_request_url"] = None
    settings = _settings(twilio_messaging_service_sid=SERVICE_SID)
    failure = _only_failure(run_checks(settings, NOW, fake.transport), "inbound webhook")
    assert "nowhere" in failure.detail and "Messaging > Services" in failure.fix


def test_messaging_service_without_senders_fails(deployment: Session) -> None:
    fake = FakeTwilio.healthy(service=True)
    fake.service_numbers = []
    settings = _settings(twilio_messaging_service_sid=SERVICE_SID)
    assert "Sender Pool" in _only_failure(run_checks(settings, NOW, fake.transport), "sender").fix


def test_number_not_on_the_account_fails(deployment: Session) -> None:
    fake = FakeTwilio.healthy()
    fake.numbers.clear()
    failure = _only_failure(run_checks(_settings(), NOW, fake.transport), "sender")
    assert "not a number on this Twilio account" in failure.detail


def test_invalid_credentials_fail(deployment: Session) -> None:
    fake = FakeTwilio.healthy()
    fake.token = "another-token"
    failure = _only_failure(run_checks(_settings(), NOW, fake.transport), "twilio credentials")
    assert "refused the credentials" in failure.detail
    assert "TWILIO_AUTH_TOKEN" in failure.fix


def test_unregistered_10dlc_traffic_fails_and_filtering_warns(deployment: Session) -> None:
    fake = FakeTwilio.healthy()
    fake.error_codes = [30034, 30034, 30007, 21610, None]
    failure = _only_failure(run_checks(_settings(), NOW, fake.transport), "recent errors")
    assert "2× 30034 message from an unregistered US 10DLC number" in failure.detail
    assert "1× 30007 carrier filtering" in failure.detail
    assert "Brand and Campaign" in failure.fix
    fake.error_codes = [30007]
    results = _by_name(run_checks(_settings(), NOW, fake.transport))
    assert results["recent errors"].status is Status.warn


def test_plain_http_base_url_fails_and_healthz_must_answer(deployment: Session) -> None:
    fake = FakeTwilio.healthy("http://amparo.example.org")
    results = run_checks(_settings(base_url="http://amparo.example.org"), NOW, fake.transport)
    assert "Caddyfile" in _only_failure(results, "base url").fix
    fake = FakeTwilio.healthy()
    fake.healthz = (503, {"status": "error", "clock": "stale"})
    failure = _only_failure(run_checks(_settings(), NOW, fake.transport), "healthz")
    assert "HTTP 503" in failure.detail


def test_unreachable_database_fails_without_a_traceback(tmp_path: Path) -> None:
    settings = _settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    results = run_checks(settings, NOW, FakeTwilio.healthy().transport)
    assert _only_failure(results, "database").detail.startswith("cannot use the database")


def test_cli_exit_status_against_a_loopback_stand_in(
    deployment: Session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _beat(deployment, datetime.now(UTC))
    with db.get_engine().begin():
        pass
    fake = FakeTwilio.healthy()
    with twilio_fake.serve(fake) as url:
        fake.numbers[NUMBER]["sms_url"] = f"{url}/webhooks/twilio/sms"
        for name, value in {
            "BASE_URL": url,
            "TWILIO_API_BASE_URL": url,
            "TWILIO_MESSAGING_API_BASE_URL": url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": NUMBER,
            "SMS_TRANSPORT": "twilio",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        assert main(["doctor"]) == 0
        out = capsys.readouterr().out
        assert "OK   twilio credentials" in out and "0 failed" in out
        # A local BASE_URL is only a warning (a trial on one machine).
        assert "WARN base url" in out

        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong")
        get_settings.cache_clear()
        assert main(["doctor"]) == 1
        out = capsys.readouterr().out
        assert "FAIL twilio credentials: Twilio refused the credentials" in out
        assert "— fix:" in out
    # Nothing personal is printed: no phone number.
    assert NUMBER not in out


def test_schema_behind_the_code_fails_naming_migrate(deployment: Session) -> None:
    from sqlalchemy import text

    with db.get_engine().begin() as conn:
        head = conn.scalar(text("SELECT version_num FROM alembic_version"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    try:
        results = run_checks(_settings(), NOW, FakeTwilio.healthy().transport)
    finally:
        with db.get_engine().begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    failure = _only_failure(results, "database")
    assert "schema at 0002" in failure.detail and "amparo migrate" in failure.fix


def test_wrong_keys_are_caught_even_before_a_canary_exists(
    deployment: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    helpers.world(deployment, NOW)  # names and phones encrypted with the real keys
    deployment.commit()
    with db.get_engine().begin() as conn:
        conn.execute(text("DELETE FROM key_canary"))
    other = Fernet.generate_key().decode()
    monkeypatch.setenv("DATA_KEYS", other)
    get_settings.cache_clear()
    # `amparo migrate` with the wrong keys must not bless them with a fresh canary.
    with db.get_engine().begin() as conn:
        assert canary.ensure(conn, NOW) is False
        assert canary.read_token(conn) is None
    results = run_checks(_settings(), NOW, FakeTwilio.healthy().transport)
    assert "cannot decrypt" in _only_failure(results, "data keys").detail
