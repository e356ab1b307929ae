"""Turning form input into the shared input models, and their errors into inline messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from pydantic import ValidationError

from tracker.i18n import N_

# The languages hotlines meet most; any BCP 47 tag is accepted by the validators, these
# are the ones offered in the selects (endonym first, so a family member can point at it).
LANGUAGE_CODES = (
    "en",
    "es",
    "ht",
    "pt",
    "fr",
    "zh",
    "vi",
    "ar",
    "ru",
    "uk",
    "ko",
    "tl",
    "so",
    "am",
    "ti",
    "ps",
    "fa",
    "hi",
    "pa",
    "bn",
    "wo",
    "ln",
)


def _language_label(code: str) -> str:
    locale = Locale.parse(code)
    native = locale.get_display_name(code) or code
    english = locale.get_display_name("en") or code
    return native if native == english else f"{native} ({english})"


LANGUAGES: list[tuple[str, str]] = [(code, _language_label(code)) for code in LANGUAGE_CODES]


def parse_local(raw: str, zone: str) -> datetime | None:
    """A ``datetime-local`` value typed in ``zone`` → an aware instant (None when empty).

    A value with an explicit offset is taken as given. Raises ``ValueError`` with a reason.
    """
    text = raw.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(N_("enter a date and time, e.g. 2026-11-24 14:00")) from exc
    if value.year < 1990 or value.year > 2100:
        raise ValueError(N_("check the year"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


# Pydantic's own reasons that forms meet, marked for the web catalog: ``tr`` (tracker.i18n.
# translate_reason) matches the formatted English against these templates.
PYDANTIC_REASONS = (
    N_("Field required"),
    N_("String should have at least {min_length} character"),
    N_("String should have at least {min_length} characters"),
    N_("String should have at most {max_length} character"),
    N_("String should have at most {max_length} characters"),
    N_("Input should be a valid integer, unable to parse string as an integer"),
    N_("Input should be a valid integer"),
    N_("Input should be a valid number, unable to parse string as a number"),
    N_("Input should be greater than or equal to {ge}"),
    N_("Input should be less than or equal to {le}"),
    N_("Input should be greater than {gt}"),
    N_("Input should be less than {lt}"),
    N_("Input should be a valid boolean, unable to interpret input"),
    N_("Input should be a valid UUID, {error}"),
    N_("Input should be a valid datetime, {error}"),
    N_("Input should be a valid date, {error}"),
    N_("Input should be {expected}"),
    N_("Extra inputs are not permitted"),
    N_("invalid"),
)


# Form field names as the error banners show them (``{{ name | humanise }}``), marked so that
# a Spanish page names the field in Spanish.
FIELD_WORDS = (
    N_("form"),
    N_("current"),
    N_("new"),
    N_("confirm"),
    N_("password"),
    N_("role"),
    N_("language"),
    N_("email"),
    N_("phone"),
    N_("liaison name"),
    N_("liaison phone"),
    N_("liaison email"),
    N_("at"),
    N_("kind"),
    N_("facility id"),
    N_("filed at"),
    N_("decided at"),
    N_("stay expires at"),
    N_("received at"),
    N_("outcome"),
    N_("advised right to appeal"),
    N_("status"),
    N_("notes"),
    N_("forum"),
    N_("sms consent"),
    N_("source"),
    N_("from"),
    N_("to"),
    N_("period"),
)


def validation_errors(
    exc: ValidationError, rename: Mapping[str, str] | None = None, prefix: str = ""
) -> dict[str, str]:
    """``{form field: reason}`` from a pydantic error, first reason per field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc") or ("form",)
        name = str(loc[0])
        name = (rename or {}).get(name, prefix + name)
        message = str(error.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if error.get("type") == "missing":
            message = "required"
        errors.setdefault(name, message)
    return errors


def checkbox(value: str) -> bool:
    return value.lower() in ("on", "true", "1", "yes")
