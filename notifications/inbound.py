"""Replies to our number, read as words: STOP/START/HELP, STATUS, OK/ACK.

Only the parsing lives here; what a reply does (opt-out, acknowledgement, a case status
answer) is ``tracker.services.inbound``.
"""

from __future__ import annotations

import string
import unicodedata

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA", "ED", "AIDE", "AJUDA"})
STATUS_WORDS = frozenset({"STATUS", "ESTADO", "ESTATI", "STATUT"})
ACK_WORDS = frozenset({"OK", "OKAY", "ACK", "SI", "WI", "OUI", "SIM"})


def keyword(body: str) -> tuple[str, str]:
    """(whole message, first word), upper-cased, accents and punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", body)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    cleaned = plain.translate(str.maketrans(string.punctuation, " " * len(string.punctuation)))
    words = cleaned.split()
    return " ".join(words), (words[0] if words else "")


WHATSAPP_PREFIX = "whatsapp:"


def address(raw: str) -> tuple[str, str]:
    """(channel, number) of a Twilio ``From``/``To``: ``whatsapp:+E164`` is WhatsApp."""
    text = raw.strip()
    if text.lower().startswith(WHATSAPP_PREFIX):
        return "whatsapp", text[len(WHATSAPP_PREFIX) :]
    return "sms", text
