"""Normalisers for the identifiers people type: A-numbers, phones, languages, countries, zones.

Each returns the canonical form or raises ``ValueError`` with a reason fit to show the user.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import datetime

import langcodes
import phonenumbers
from babel import Locale
from idna.core import valid_contextj

from tracker import crypto
from tracker.i18n import N_

_A_NUMBER_SEPARATORS = re.compile(r"[\s\-.]")
# Dates a case can carry: anything outside is a typo (and years 1 or 9999 overflow on conversion).
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200

# Characters that make a name display as one string and compare as another (Trojan Source):
# direction overrides and isolates, and invisible zero-width characters.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ZERO_WIDTH = frozenset("\u200b\u2060\ufeff")
_JOINERS = frozenset("\u200c\u200d")
_EMOJI_LEFT = frozenset({"So", "Sk"})
_VARIATION_SELECTOR_16 = "\ufe0f"


def a_number(raw: str) -> str:
    """``A-123-456-789``, ``A123456789``, ``123456789`` or 8 digits → 9 digits."""
    value = _A_NUMBER_SEPARATORS.sub("", raw.strip())
    if value[:1] in ("A", "a"):
        value = value[1:]
    if not value.isascii() or not value.isdigit() or len(value) not in (8, 9):
        raise ValueError(N_("an A-number has 8 or 9 digits, e.g. A-123-456-789"))
    return value.zfill(9)


def format_a_number(nine_digits: str) -> str:
    return f"A-{nine_digits[0:3]}-{nine_digits[3:6]}-{nine_digits[6:9]}"


def a_number_hash(nine_digits: str) -> str:
    return crypto.blind_index("a_number", nine_digits)


def phone(raw: str, region: str = "US") -> str:
    """Any common format → E.164; numbers without a country code are read as ``region``."""
    text = raw.strip()
    if not text or len(text) > 40:
        raise ValueError(N_("enter a phone number, e.g. +1 202 555 0142"))
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(N_("not a phone number")) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(N_("not a valid phone number"))
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def mobile_phone(raw: str, region: str = "US") -> str:
    """``phone``, refusing numbers that cannot receive SMS (landline, toll-free, pager…).

    US and Canadian numbers are "fixed line or mobile" to ``phonenumbers``: accepted.
    """
    e164 = phone(raw, region)
    if phonenumbers.number_type(phonenumbers.parse(e164)) not in _MOBILE_TYPES:
        raise ValueError(N_("not a mobile number: it cannot receive SMS"))
    return e164


def phone_hash(e164: str) -> str:
    return crypto.blind_index("phone", e164)


def mask_phone(e164: str) -> str:
    """``+12025550142`` → ``+1••••••0142``: enough to tell numbers apart, no more."""
    try:
        code = str(phonenumbers.parse(e164).country_code)
    except phonenumbers.NumberParseException:
        code = ""
    return f"+{code}" + "•" * max(len(e164) - len(code) - 5, 2) + e164[-4:]


def language(raw: str) -> str:
    """A BCP 47 tag, standardised (``ES`` → ``es``, ``pt_br`` → ``pt-BR``)."""
    text = raw.strip().replace("_", "-")
    if not text or len(text) > 35 or not langcodes.tag_is_valid(text):
        raise ValueError(N_("not a language tag (BCP 47), e.g. en, es, ht, pt-BR"))
    return str(langcodes.standardize_tag(text))


@functools.cache
def _territories() -> frozenset[str]:
    return frozenset(
        code for code in Locale("en").territories if isinstance(code, str) and code.isalpha()
    )


def country(raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 2 or code not in _territories():
        raise ValueError(N_("not an ISO 3166 alpha-2 country code, e.g. MX, HT, GT"))
    return code


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(raw: str) -> str:
    name = raw.strip()
    if name not in _zones():
        raise ValueError(N_("not an IANA time zone name, e.g. America/Chicago"))
    return name


def _joiner_belongs(text: str, i: int) -> bool:
    """A ZWNJ/ZWJ is spelling, not a trick, where scripts need it (RFC 5892 CONTEXTJ: Persian,
    Indic scripts) or inside an emoji sequence such as 👩🏽‍⚖️."""
    try:
        if valid_contextj(text, i):
            return True
    except ValueError:  # a neighbour with no Unicode name: not a context we can vouch for
        return False
    if text[i] != "\u200d" or i == 0 or i + 1 == len(text):
        return False
    before, after = text[i - 1], text[i + 1]
    left_ok = before == _VARIATION_SELECTOR_16 or unicodedata.category(before) in _EMOJI_LEFT
    return left_ok and unicodedata.category(after) == "So"


def visible_name(raw: str) -> str:
    """A person's or user's name with nothing hidden: no direction overrides, no invisible text."""
    for i, ch in enumerate(raw):
        if ch in _BIDI_CONTROLS:
            raise ValueError(
                N_("contains a text-direction control character ({code})").format(
                    code=f"U+{ord(ch):04X}"
                )
            )
        if ch in _ZERO_WIDTH or (ch in _JOINERS and not _joiner_belongs(raw, i)):
            raise ValueError(
                N_("contains an invisible zero-width character ({code})").format(
                    code=f"U+{ord(ch):04X}"
                )
            )
    return raw


def plausible_time(value: datetime) -> datetime:
    """A date of this world: between 1900 and 2200 (a wider range is always a typo)."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(
            N_("the year must be between {earliest} and {latest}").format(
                earliest=EARLIEST_YEAR, latest=LATEST_YEAR
            )
        )
    return value
