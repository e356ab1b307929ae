"""Delivery settings of the SMS worker, read from the environment beside ``tracker.settings``.

``WORKER_CONCURRENCY``, ``WORKER_POLL_SECONDS``, ``SENDER_RATE_PER_SECOND`` and
``QUIET_HOURS`` live in ``tracker.settings``; the knobs below only tune retries and leases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from starlette.config import Config

from tracker.settings import Settings, get_settings


@dataclass(frozen=True)
class DeliveryConfig:
    concurrency: int = 16
    poll_seconds: float = 1.0
    # Messages (segments) per second per sender; 0 turns throttling off.
    rate_per_second: float = 1.0
    max_attempts: int = 8
    retry_base_seconds: float = 15.0
    retry_max_seconds: float = 3600.0
    # A claimed row belongs to its worker this long; a crashed worker's rows are retaken after.
    lease_seconds: float = 120.0
    http_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    quiet_hours: str = "21:00-08:00"
    transport: str = "log"


def load(settings: Settings | None = None, environ: dict[str, str] | None = None) -> DeliveryConfig:
    settings = settings or get_settings()
    config = Config(environ=environ if environ is not None else dict(os.environ))
    return DeliveryConfig(
        concurrency=max(1, settings.worker_concurrency),
        poll_seconds=max(0.05, settings.worker_poll_seconds),
        rate_per_second=max(0.0, settings.sender_rate_per_second),
        max_attempts=max(1, config("SMS_MAX_ATTEMPTS", cast=int, default=8)),
        retry_base_seconds=config("SMS_RETRY_BASE_SECONDS", cast=float, default=15.0),
        retry_max_seconds=config("SMS_RETRY_MAX_SECONDS", cast=float, default=3600.0),
        lease_seconds=max(5.0, config("SMS_LEASE_SECONDS", cast=float, default=120.0)),
        http_timeout_seconds=config("SMS_HTTP_TIMEOUT_SECONDS", cast=float, default=10.0),
        connect_timeout_seconds=config("SMS_CONNECT_TIMEOUT_SECONDS", cast=float, default=5.0),
        quiet_hours=settings.quiet_hours,
        transport=settings.sms_transport,
    )
