"""Message templates per kind and language, and SMS segment counting.

Interim English-only templates; the notifications issue replaces them with gettext catalogs.
Bodies never carry an A-number, a family name or a facility address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The GSM 03.38 basic character set plus its extension table (each extension char costs 2).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


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


_TEMPLATES: Mapping[str, str] = {
    "removal_imminent": "Amparo: removal of {first_name} scheduled {local_time} ({rung}h alert). "
    "Reply OK to acknowledge.",
    "documentation_overdue": "Amparo: ICE documentation of the decision for {first_name} is "
    "overdue since {local_time}. Reply OK to acknowledge.",
    "unanswered": "Amparo: the {request_kind} request for {first_name} has had no answer since "
    "{local_time}. Escalate to the field office liaison. Reply OK to acknowledge.",
    "stay_expiring": "Amparo: the stay for {first_name} expires {local_time}. "
    "Reply OK to acknowledge.",
    "escalation": "Amparo ESCALATION: an alert for {first_name} ({alert_kind}) was not "
    "acknowledged by counsel. Please follow up.",
}


def render(kind: str, language: str, params: Mapping[str, Any]) -> Rendered:
    template = _TEMPLATES.get(kind, "Amparo: update for {first_name}.")
    body = template.format_map(_Defaults(params))
    encoding, segments = segment_count(body)
    return Rendered(body, encoding, segments)


class _Defaults(dict[str, Any]):
    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)

    def __missing__(self, key: str) -> str:
        return ""
