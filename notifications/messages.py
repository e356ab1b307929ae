"""Message templates per kind and language, and SMS segment counting.

The English text below is the gettext ``msgid``; translations live in
``notifications/locales/<lang>/LC_MESSAGES/amparo.po`` (see ``notifications.catalogs``).
Bodies never carry an A-number, a family name or a facility address: the only personal
value a template may hold is a first name, cut to its first word by ``render``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifications import catalogs
from tracker import presentation

# The GSM 03.38 basic character set plus its extension table (each extension char costs 2).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

# Typographic characters that silently force UCS-2; replaced before counting.
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


def N_(msgid: str) -> str:
    """Mark a string for extraction into the catalogs without translating it here."""
    return msgid


@dataclass(frozen=True)
class Rendered:
    body: str
    encoding: str
    segments: int


def segment_count(body: str) -> tuple[str, int]:
    """(``GSM-7`` | ``UCS-2``, number of SMS segments) as carriers count them."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body)
        return "GSM-7", 1 if units <= 160 else -(-units // 153)
    # UCS-2 counts UTF-16 code units (an emoji is two).
    units = len(body.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def conversation_text(body: str) -> Rendered:
    """A reply typed by a person, as it is sent and counted (mirrored by ``amparo.js``).

    Typographic quotes and dashes are straightened (phones type them, and one alone would
    make the whole text UCS-2); nothing else changes: no accent is dropped from a person's
    words. Segments: GSM-7 160 a text or 153 a part, UCS-2 70 or 67 (``segment_count``).
    """
    text = body.translate(_LOOKALIKES)
    encoding, segments = segment_count(text)
    return Rendered(text, encoding, segments)


def gsm_fold(body: str) -> str:
    """Drop the accents GSM-7 cannot carry (``á`` → ``a``) and keep those it can (``é``, ``ñ``)."""
    out: list[str] = []
    for ch in body:
        if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in GSM7_BASIC for c in base) else ch)
    return "".join(out)


def fit(body: str) -> Rendered:
    """The body as it will be sent: accents kept when they cost no extra segment.

    Spanish, French and Portuguese accents force UCS-2 (67 characters a segment instead of
    153). When that adds segments, the accents GSM-7 lacks are dropped, as Spanish-language
    SMS services commonly do; when it does not, the text stays exactly as translated.
    """
    body = body.translate(_LOOKALIKES)
    encoding, segments = segment_count(body)
    if encoding == "UCS-2":
        folded = gsm_fold(body)
        folded_encoding, folded_segments = segment_count(folded)
        if folded_segments < segments:
            return Rendered(folded, folded_encoding, folded_segments)
    return Rendered(body, encoding, segments)


# Counsel and on-call messages: urgent, sent at any hour.
COUNSEL_TEMPLATES: Mapping[str, str] = {
    "removal_imminent": N_(
        "Amparo URGENT: removal of {first_name} is scheduled for {local_time} ({rung} h alert) "
        "and no stay is granted. Reply OK to acknowledge."
    ),
    "documentation_overdue": N_(
        "Amparo: ICE's written decision on the {request_kind} request for {first_name} was due "
        "by {local_time} (48 h rule) and is not recorded. Reply OK to acknowledge."
    ),
    "unanswered": N_(
        "Amparo: the {request_kind} request for {first_name} has had no answer from ICE since "
        "{local_time}. Escalate to the field office liaison: {liaison}. Reply OK to acknowledge."
    ),
    "stay_expiring": N_(
        "Amparo: the stay of removal for {first_name} expires {local_time}. "
        "Reply OK to acknowledge."
    ),
    "removal_likely": N_(
        "Amparo URGENT: {first_name} is held at a staging facility and no stay is granted: "
        "removal is likely soon. Reply OK to acknowledge."
    ),
    "transferred": N_(
        "Amparo: {first_name} was moved from {from_facility} to {to_facility}, now under field "
        "office {field_office}. Reply OK to acknowledge."
    ),
    "whereabouts_unknown": N_(
        "Amparo URGENT: where {first_name} is held was still not confirmed at {local_time}. "
        "Check the ICE locator and the last facility. Reply OK to acknowledge."
    ),
    "escalation": N_(
        "Amparo ESCALATION: the {alert_kind} alert for {first_name} was not acknowledged by "
        "counsel. Please follow up now. Reply OK to acknowledge."
    ),
    "digest": N_("Amparo daily summary: {count} open alerts. {summary}"),
    # On-call shifts (issue 15): no case, no name of a detained person.
    "shift_start": N_(
        "Amparo: your on-call shift has started. {count} alerts are open; "
        "escalations come to this phone. Reply OK to an escalation to take it."
    ),
    "ack_taken": N_(
        "Amparo: {taker} took the escalated {alert_kind} alert (replied OK). "
        "No action needed from you."
    ),
    # Two-way inbox (issue 15): that a family or counsel texted, never what or who.
    "conversation_new": N_(
        "Amparo: a new message arrived on one of your cases. Open the Amparo inbox to read "
        "and answer it."
    ),
}

# Family messages: written for a lock screen, in the family's language, first name only.
FAMILY_TEMPLATES: Mapping[str, str] = {
    "introduction": N_(
        "{organization}: we are helping {first_name} and will text you updates on the case. "
        "Reply STATUS for news, HELP for help, STOP to stop."
    ),
    "request_filed": N_(
        "{organization}: a {request_kind} request was filed with ICE for {first_name}. "
        "We will text you when ICE decides. Reply STATUS for news."
    ),
    "decision_granted": N_(
        "{organization}: good news. ICE granted the {request_kind} request for {first_name}. "
        "The lawyer will contact you about next steps."
    ),
    "decision_denied": N_(
        "{organization}: ICE denied the {request_kind} request for {first_name}. It can be "
        "appealed; the lawyer will contact you about next steps."
    ),
    "documentation_received": N_(
        "{organization}: ICE's written decision for {first_name} has been received. "
        "The lawyer will explain it to you."
    ),
    "released": N_(
        "{organization}: {first_name} has been released from detention. "
        "The team will contact you about next steps."
    ),
    "transferred_family": N_(
        "{organization}: {first_name} was moved to {facility}. The team will contact you."
    ),
    "status_reply": N_("{organization}: {status}"),
}

# Replies to inbound SMS (TwiML), never queued.
REPLY_TEMPLATES: Mapping[str, str] = {
    "help": N_(
        "{organization}: Amparo texts updates on an immigration case. For help call {hotline}. "
        "Reply STATUS for news, STOP to stop texts, START to restart."
    ),
    "help_unknown": N_(
        "Amparo sends case updates for immigration hotlines. Reply STOP to stop. "
        "Msg&data rates may apply."
    ),
    "stopped": N_("You will get no more texts from Amparo. Reply START to get them again."),
    "started": N_("You will get texts from Amparo again. Reply STOP to stop."),
    "follow_up": N_("Thank you. Your message was passed to the team; a person will follow up."),
    "ack_done": N_("Amparo: acknowledged the {alert_kind} alert for {first_name}."),
    "ack_none": N_("Amparo: you have no open alert to acknowledge."),
    "status_none": N_("Amparo: there is no open case to report on for this number."),
}

# The voice status line's own words (``notifications.voice``), spoken, never texted.
VOICE_PROMPTS: Mapping[str, str] = {
    "menu": N_("Press 1 to hear the status of your case. Press 2 to hear this again."),
    "no_input": N_("We did not receive an answer. Goodbye."),
    "unknown": N_(
        "This line gives case updates to families a hotline works with. We could not find "
        "your number. Please call the hotline that is helping you."
    ),
}

TEMPLATES: Mapping[str, str] = {**COUNSEL_TEMPLATES, **FAMILY_TEMPLATES, **REPLY_TEMPLATES}

# A reply typed in the inbox (issue 15): its text is the person's own, never a template
# (``conversation_text``), and like every text to a family it waits out quiet hours.
CONVERSATION_REPLY = "conversation_reply"
FAMILY_KINDS = frozenset(FAMILY_TEMPLATES) | {CONVERSATION_REPLY}
COUNSEL_KINDS = frozenset(COUNSEL_TEMPLATES)

FALLBACK_TEMPLATE = N_("Amparo: there is an update for {first_name}.")

# Values the templates show, translated like the templates.
# (the message ids live with the other labels, in tracker.presentation)
REQUEST_KIND_LABELS: Mapping[str, str] = presentation.REQUEST_KIND_SMS
ALERT_KIND_LABELS: Mapping[str, str] = presentation.FLAG_SMS
CUSTODY_LABELS: Mapping[str, str] = presentation.CUSTODY_SMS
REQUEST_STATUS_LINES: Mapping[str, str] = {
    "draft": N_("A {request_kind} request is being prepared."),
    "filed": N_("The {request_kind} request is filed; ICE has not decided yet."),
    "granted": N_("ICE granted the {request_kind} request."),
    "denied": N_("ICE denied the {request_kind} request; the lawyer can appeal."),
    "withdrawn": N_("The {request_kind} request was withdrawn."),
}
STATUS_CASE_LINE = N_("{first_name}: {custody}.")
NO_REQUEST_LINE = N_("No request filed yet.")
LIAISON_UNKNOWN = N_("see the case page")
HOTLINE_UNKNOWN = N_("the hotline")

SUPPORTED_LANGUAGES = ("en", "es", "ht", "fr", "pt")


def first_name_only(value: object) -> str:
    """The first word of a given name: a lock screen shows no more of who this is."""
    words = str(value or "").split()
    return words[0][:24] if words else ""


def _translated_params(language: str, params: Mapping[str, Any]) -> dict[str, Any]:
    t = catalogs.gettext_for(language)
    out: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    out["first_name"] = first_name_only(params.get("first_name"))
    if "request_kind" in out:
        key = str(out["request_kind"])
        out["request_kind"] = t(REQUEST_KIND_LABELS[key]) if key in REQUEST_KIND_LABELS else key
    if "alert_kind" in out:
        key = str(out["alert_kind"])
        out["alert_kind"] = t(ALERT_KIND_LABELS[key]) if key in ALERT_KIND_LABELS else key
    if not out.get("liaison"):
        out["liaison"] = t(LIAISON_UNKNOWN)
    if not out.get("hotline"):
        out["hotline"] = t(HOTLINE_UNKNOWN)
    out.setdefault("organization", "Amparo")
    return out


def template_values(language: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as a template shows them (first name only, labels translated)."""
    return _translated_params(language, params)


def translate(language: str, msgid: str, params: Mapping[str, Any] | None = None) -> str:
    """``msgid`` in ``language`` (English when unknown), with ``params`` filled in."""
    text = catalogs.gettext_for(language)(msgid)
    return text.format_map(_Defaults(_translated_params(language, params or {})))


def render(kind: str, language: str, params: Mapping[str, Any]) -> Rendered:
    """The body of a ``kind`` message in ``language``, its encoding and segment count."""
    return fit(translate(language, TEMPLATES.get(kind, FALLBACK_TEMPLATE), params))


class _Defaults(dict[str, Any]):
    """A missing parameter renders empty rather than failing a whole batch of alerts."""

    def __missing__(self, key: str) -> str:
        return ""


def all_msgids() -> list[str]:
    """Every string the catalogs translate, in a stable order (for ``amparo messages``)."""
    groups: list[Mapping[str, str]] = [
        TEMPLATES,
        REQUEST_KIND_LABELS,
        ALERT_KIND_LABELS,
        CUSTODY_LABELS,
        REQUEST_STATUS_LINES,
        VOICE_PROMPTS,
    ]
    ids = [msgid for group in groups for msgid in group.values()]
    ids += [FALLBACK_TEMPLATE, STATUS_CASE_LINE, NO_REQUEST_LINE, LIAISON_UNKNOWN, HOTLINE_UNKNOWN]
    return list(dict.fromkeys(ids))
