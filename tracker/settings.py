"""Every setting, read from the environment (starlette.config).

Secrets that are not given are generated once into ``VAR_DIR`` so that the embedded default
works on a fresh machine without ever shipping a hard-coded key.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from starlette.config import Config

SMS_TRANSPORTS = ("log", "twilio")


def private_dir(path: Path) -> None:
    """``path`` created 0700 (keys and the SQLite file live there); an existing one of ours is
    tightened to it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)


def _generated_secret(var_dir: Path, name: str, make: Callable[[], str]) -> str:
    """Read a secret kept in ``var_dir``, creating it (mode 0600) on first use."""
    path = var_dir / name
    private_dir(var_dir)
    if path.exists():
        return path.read_text().strip()
    value: str = make()
    # O_EXCL so two processes starting at once cannot both write different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def _parse_hours_list(raw: str) -> tuple[int, ...]:
    hours = sorted({int(part) for part in raw.split(",") if part.strip()}, reverse=True)
    if not hours or any(h <= 0 for h in hours):
        raise ValueError(f"ALERT_LADDER_HOURS must be positive whole hours, got {raw!r}")
    return tuple(hours)


def _positive(value: int, name: str) -> int:
    if value <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    data_keys: tuple[str, ...]
    data_index_key: str
    base_url: str
    var_dir: Path
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_from_number: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    # WhatsApp sender ("whatsapp:+14155238886"); empty: the Messaging Service (issue 13).
    twilio_whatsapp_from: str = ""
    # The number outbound calls come from (E.164); empty: TWILIO_FROM_NUMBER.
    twilio_voice_from: str = ""
    # WhatsApp Content templates: JSON text, or the path of a JSON file, mapping
    # kind → language → "HX…" or {"sid": "HX…", "variables": [...]} (README, WhatsApp).
    whatsapp_templates: str = ""
    twilio_messaging_api_base_url: str = "https://messaging.twilio.com"
    sms_transport: str = "log"
    quiet_hours: str = "21:00-08:00"
    default_time_zone: str = "America/New_York"
    alert_ladder_hours: tuple[int, ...] = (72, 24, 6)
    unanswered_days: int = 14
    escalation_delay_minutes: int = 60
    retention_days: int = 365
    sweep_interval_seconds: float = 15.0
    worker_concurrency: int = 16
    worker_poll_seconds: float = 1.0
    # Child processes of each web process that compute reports, so that a report's Python
    # work does not share the interpreter with the requests being served; 0: in the request.
    report_processes: int = 1
    # Messages (segments) per second per sender; 0 turns throttling off.
    sender_rate_per_second: float = 1.0
    sms_max_attempts: int = 8
    sms_retry_base_seconds: float = 15.0
    sms_retry_max_seconds: float = 3600.0
    # A claimed row belongs to its worker this long; a crashed worker's rows are retaken after.
    sms_lease_seconds: float = 120.0
    sms_http_timeout_seconds: float = 10.0
    sms_connect_timeout_seconds: float = 5.0
    log_level: str = "INFO"
    # Night shifts: a volunteer may leave the tab for an hour between calls, but a lost or
    # shared device must not stay signed in past one long shift.
    session_idle_minutes: int = 120
    session_max_hours: int = 14
    # Peers whose X-Forwarded-For is believed (uvicorn's syntax: comma-separated IPs/CIDRs or *).
    forwarded_allow_ips: str = "127.0.0.1"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (defaults to ``os.environ``)."""
    config = Config(environ=environ if environ is not None else os.environ)
    var_dir = Path(config("VAR_DIR", default="var")).resolve()
    database_url = config("DATABASE_URL", default=f"sqlite:///{var_dir / 'amparo.sqlite3'}")
    secret_key = config("SECRET_KEY", default="") or _generated_secret(
        var_dir, "secret_key", lambda: secrets.token_urlsafe(48)
    )
    raw_keys = config("DATA_KEYS", default="") or _generated_secret(
        var_dir, "data_keys", lambda: Fernet.generate_key().decode()
    )
    data_keys = tuple(k.strip() for k in raw_keys.split(",") if k.strip())
    # The blind-index key must outlive key rotation (new keys are prepended), so it
    # defaults to one derived from the oldest data key; set DATA_INDEX_KEY explicitly
    # before retiring that key.
    data_index_key = config("DATA_INDEX_KEY", default="") or data_keys[-1]
    account_sid = config("TWILIO_ACCOUNT_SID", default="")
    auth_token = config("TWILIO_AUTH_TOKEN", default="")
    transport = config("SMS_TRANSPORT", default="twilio" if account_sid and auth_token else "log")
    if transport not in SMS_TRANSPORTS:
        raise ValueError(f"SMS_TRANSPORT must be one of {SMS_TRANSPORTS}, got {transport!r}")
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        data_keys=data_keys,
        data_index_key=data_index_key,
        base_url=config("BASE_URL", default="http://127.0.0.1:8000").rstrip("/"),
        var_dir=var_dir,
        twilio_account_sid=account_sid,
        twilio_auth_token=auth_token,
        twilio_messaging_service_sid=config("TWILIO_MESSAGING_SERVICE_SID", default=""),
        twilio_from_number=config("TWILIO_FROM_NUMBER", default=""),
        twilio_api_base_url=config("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip(
            "/"
        ),
        twilio_messaging_api_base_url=config(
            "TWILIO_MESSAGING_API_BASE_URL", default="https://messaging.twilio.com"
        ).rstrip("/"),
        twilio_whatsapp_from=config("TWILIO_WHATSAPP_FROM", default=""),
        twilio_voice_from=config("TWILIO_VOICE_FROM", default=""),
        whatsapp_templates=config("WHATSAPP_TEMPLATES", default=""),
        sms_transport=transport,
        quiet_hours=config("QUIET_HOURS", default="21:00-08:00"),
        default_time_zone=config("DEFAULT_TIME_ZONE", default="America/New_York"),
        alert_ladder_hours=_parse_hours_list(config("ALERT_LADDER_HOURS", default="72,24,6")),
        unanswered_days=config("UNANSWERED_DAYS", cast=int, default=14),
        escalation_delay_minutes=config("ESCALATION_DELAY_MINUTES", cast=int, default=60),
        retention_days=config("RETENTION_DAYS", cast=int, default=365),
        sweep_interval_seconds=config("SWEEP_INTERVAL_SECONDS", cast=float, default=15.0),
        worker_concurrency=max(1, config("WORKER_CONCURRENCY", cast=int, default=16)),
        worker_poll_seconds=max(0.05, config("WORKER_POLL_SECONDS", cast=float, default=1.0)),
        report_processes=max(0, config("REPORT_PROCESSES", cast=int, default=1)),
        sender_rate_per_second=max(0.0, config("SENDER_RATE_PER_SECOND", cast=float, default=1.0)),
        sms_max_attempts=max(1, config("SMS_MAX_ATTEMPTS", cast=int, default=8)),
        sms_retry_base_seconds=config("SMS_RETRY_BASE_SECONDS", cast=float, default=15.0),
        sms_retry_max_seconds=config("SMS_RETRY_MAX_SECONDS", cast=float, default=3600.0),
        sms_lease_seconds=max(5.0, config("SMS_LEASE_SECONDS", cast=float, default=120.0)),
        sms_http_timeout_seconds=config("SMS_HTTP_TIMEOUT_SECONDS", cast=float, default=10.0),
        sms_connect_timeout_seconds=config("SMS_CONNECT_TIMEOUT_SECONDS", cast=float, default=5.0),
        log_level=config("LOG_LEVEL", default="INFO"),
        session_idle_minutes=_positive(
            config("SESSION_IDLE_MINUTES", cast=int, default=120), "SESSION_IDLE_MINUTES"
        ),
        session_max_hours=_positive(
            config("SESSION_MAX_HOURS", cast=int, default=14), "SESSION_MAX_HOURS"
        ),
        forwarded_allow_ips=config("FORWARDED_ALLOW_IPS", default="127.0.0.1").strip()
        or "127.0.0.1",
    )


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return load_settings()
