"""One settings object: the SMS delivery knobs are read and clamped beside every other setting."""

from __future__ import annotations

from pathlib import Path

from tracker.settings import load_settings


def _load(tmp_path: Path, **env: str) -> dict[str, object]:
    base = {"VAR_DIR": str(tmp_path), "SECRET_KEY": "s", "DATA_KEYS": "k" * 43 + "="}
    return vars(load_settings({**base, **env}))


def test_delivery_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path)
    assert (s["sms_max_attempts"], s["sms_retry_base_seconds"], s["sms_retry_max_seconds"]) == (
        8,
        15.0,
        3600.0,
    )
    assert (s["sms_lease_seconds"], s["sms_http_timeout_seconds"]) == (120.0, 10.0)
    assert s["sms_connect_timeout_seconds"] == 5.0
    assert (s["worker_concurrency"], s["worker_poll_seconds"], s["sender_rate_per_second"]) == (
        16,
        1.0,
        1.0,
    )


def test_delivery_knobs_are_read_and_clamped(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        SMS_MAX_ATTEMPTS="0",
        SMS_LEASE_SECONDS="1",
        SMS_RETRY_BASE_SECONDS="2.5",
        SMS_RETRY_MAX_SECONDS="30",
        SMS_HTTP_TIMEOUT_SECONDS="3",
        SMS_CONNECT_TIMEOUT_SECONDS="1.5",
        WORKER_CONCURRENCY="0",
        WORKER_POLL_SECONDS="0.001",
        SENDER_RATE_PER_SECOND="-4",
    )
    # A worker needs one attempt, one thread, a lease long enough to send within.
    assert (s["sms_max_attempts"], s["sms_lease_seconds"]) == (1, 5.0)
    assert (s["worker_concurrency"], s["worker_poll_seconds"], s["sender_rate_per_second"]) == (
        1,
        0.05,
        0.0,
    )
    assert (s["sms_retry_base_seconds"], s["sms_retry_max_seconds"]) == (2.5, 30.0)
    assert (s["sms_http_timeout_seconds"], s["sms_connect_timeout_seconds"]) == (3.0, 1.5)
