"""Which channel a family message goes out on: SMS, WhatsApp or a voice call (issue 13).

Decided when the row is written (``outbox.build_row``), against the moment it falls due:
the contact's preferred channel first, then the other channels the family consented to, in
``FALLBACK_ORDER``. WhatsApp outside its 24-hour window needs an approved Content template
for the kind × language (``WHATSAPP_TEMPLATES``); a call carries only the urgent updates in
``VOICE_KINDS``. When the preferred channel cannot carry the message, the choice says why
(``Choice.note``), and the service that queued it records that on the case's timeline and in
the audit log (``tracker.services.channels``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from notifications import messages
from tracker.models import Contact
from tracker.presentation import (
    REASON_INSTEAD,
    REASON_NO_CHANNEL,
    REASON_NO_TEMPLATE,
    REASON_NOT_CONSENTED,
    REASON_VOICE_KINDS,
    humanise,
)
from tracker.vocab import Channel, ContactRole

log = logging.getLogger("amparo.sms.channels")

# Text channels first: a call is the most intrusive and the dearest.
FALLBACK_ORDER = (Channel.sms.value, Channel.whatsapp.value, Channel.voice.value)
# Urgent family updates worth a phone call: a decision, a release, a transfer.
VOICE_KINDS = frozenset({"decision_granted", "decision_denied", "released", "transferred_family"})
# WhatsApp lets a business write freely for 24 hours after the person last wrote.
WHATSAPP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Template:
    sid: str
    # Template variables in order ("1", "2", …); empty: the parameters by their own names.
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choice:
    channel: str
    content_sid: str | None = None
    content_variables: str | None = None
    # Why the preferred channel was not used (shown on the case page, audited).
    note: str | None = None
    # Why no consented channel can carry it at all: the row is written suppressed.
    suppressed: str | None = None


@dataclass(frozen=True)
class ChannelNote:
    """A message that went on another channel than the preferred one, or on none."""

    contact_id: uuid.UUID
    case_id: uuid.UUID | None
    kind: str
    preferred: str
    used: str | None
    reason: str


class TemplateConfigError(ValueError):
    pass


@lru_cache(maxsize=8)
def _parse_templates(raw: str) -> Mapping[tuple[str, str], Template]:
    text = raw.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        text = Path(text).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateConfigError(f"WHATSAPP_TEMPLATES is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateConfigError("WHATSAPP_TEMPLATES must map kind → language → template")
    out: dict[tuple[str, str], Template] = {}
    for kind, by_language in data.items():
        if not isinstance(by_language, dict):
            raise TemplateConfigError(f"WHATSAPP_TEMPLATES[{kind!r}] must map language → template")
        for language, value in by_language.items():
            if isinstance(value, str):
                template = Template(value)
            elif isinstance(value, dict) and isinstance(value.get("sid"), str):
                names = value.get("variables") or []
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise TemplateConfigError(
                        f"WHATSAPP_TEMPLATES[{kind!r}][{language!r}].variables must be a list"
                    )
                template = Template(value["sid"], tuple(names))
            else:
                raise TemplateConfigError(
                    f"WHATSAPP_TEMPLATES[{kind!r}][{language!r}]: give a SID or {{sid, variables}}"
                )
            if not template.sid.startswith("HX"):
                raise TemplateConfigError(
                    f"WHATSAPP_TEMPLATES[{kind!r}][{language!r}]: a Content SID starts with HX"
                )
            out[(str(kind), str(language))] = template
    return out


def templates(raw: str) -> Mapping[tuple[str, str], Template]:
    """The kind × language → template mapping from the ``WHATSAPP_TEMPLATES`` setting.

    A broken setting must not make every family notification fail (and roll back the change
    that caused it): it counts as "no templates", so WhatsApp falls back as documented, and
    the error is logged (``check_templates`` reports it at start-up)."""
    try:
        return _parse_templates(raw)
    except (TemplateConfigError, OSError, UnicodeDecodeError) as exc:
        log.error("WHATSAPP_TEMPLATES ignored: %s", exc)
        return {}


def check_templates(raw: str) -> str | None:
    """Why ``WHATSAPP_TEMPLATES`` cannot be used, or None when it can."""
    try:
        _parse_templates(raw)
    except (TemplateConfigError, OSError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def content_variables(template: Template, language: str, params: Mapping[str, Any]) -> str:
    """``ContentVariables`` JSON: the template's variables, translated like an SMS."""
    values = messages.template_values(language, params)
    if template.variables:
        chosen = {str(i): str(values.get(name, "")) for i, name in enumerate(template.variables, 1)}
    else:
        chosen = {k: str(v) for k, v in values.items() if k in params or k == "first_name"}
    return json.dumps(chosen, ensure_ascii=False, sort_keys=True)


def window_open(contact: Contact, at: datetime) -> bool:
    """Whether WhatsApp's 24-hour window for ``contact`` is still open at ``at``."""
    last = contact.last_inbound_at
    return last is not None and at < last + WHATSAPP_WINDOW


def on_channel(
    channel: str,
    contact: Contact | None,
    kind: str,
    language: str,
    params: Mapping[str, Any],
    due: datetime,
    template_config: str,
) -> Choice:
    """The message on this ``channel`` (a fallback's re-send), suppressed when it cannot go."""
    if contact is None:
        return Choice(channel)
    found = _try(channel, contact, kind, language, params, due, template_config)
    return found if isinstance(found, Choice) else Choice(channel, suppressed=found)


def next_channel(contact: Contact, channels_tried: int) -> str | None:
    """The consented channel after the contact's current one (in ``FALLBACK_ORDER``, going
    round), while fewer than all of them have been tried since the last delivery."""
    consented = [c for c in FALLBACK_ORDER if c in (contact.consented_channels or [])]
    if contact.channel not in consented or channels_tried >= len(consented):
        return None
    at = consented.index(contact.channel)
    following = consented[at + 1 :] + consented[:at]
    return following[0] if following else None


def failures_before_unreachable(contact: Contact, per_channel: int) -> int:
    """Each consented channel gets ``per_channel`` failures before the contact is
    unreachable: the fallback tries the next one in between."""
    consented = [c for c in FALLBACK_ORDER if c in (contact.consented_channels or [])]
    return per_channel * max(1, len(consented))


def _try(
    channel: str,
    contact: Contact,
    kind: str,
    language: str,
    params: Mapping[str, Any],
    due: datetime,
    template_config: str,
) -> Choice | str:
    """The choice on ``channel``, or why it cannot carry this message."""
    if channel == Channel.sms.value:
        return Choice(channel)
    if channel == Channel.whatsapp.value:
        if window_open(contact, due):
            return Choice(channel)
        template = templates(template_config).get((kind, language))
        if template is None:
            return REASON_NO_TEMPLATE.format(kind=humanise(kind), language=language)
        return Choice(channel, template.sid, content_variables(template, language, params))
    if kind not in VOICE_KINDS:
        return REASON_VOICE_KINDS
    return Choice(channel)


def choose(
    contact: Contact | None,
    kind: str,
    language: str,
    params: Mapping[str, Any],
    due: datetime,
    template_config: str,
) -> Choice:
    """The channel a ``kind`` message to ``contact`` goes out on (SMS for non-family)."""
    if contact is None or contact.role is not ContactRole.family:
        return Choice(Channel.sms.value)
    consented = [c for c in (contact.consented_channels or []) if c in FALLBACK_ORDER]
    preferred = contact.channel or Channel.sms.value
    order = [preferred, *[c for c in FALLBACK_ORDER if c in consented and c != preferred]]
    reasons: list[str] = []
    for channel in order:
        if channel not in consented and consented:
            reasons.append(REASON_NOT_CONSENTED.format(channel=channel))
            continue
        found = _try(channel, contact, kind, language, params, due, template_config)
        if isinstance(found, Choice):
            if channel == preferred:
                return found
            note = REASON_INSTEAD.format(reason="; ".join(reasons), channel=channel)
            return Choice(found.channel, found.content_sid, found.content_variables, note=note)
        reasons.append(found)
    return Choice(preferred, suppressed="; ".join(reasons) or REASON_NO_CHANNEL)


def body_for(
    channel: str, kind: str, language: str, params: Mapping[str, Any]
) -> messages.Rendered:
    """SMS bodies are fitted to GSM-7 segments; WhatsApp and speech keep every accent."""
    if channel == Channel.sms.value:
        return messages.render(kind, language, params)
    text = messages.translate(
        language, messages.TEMPLATES.get(kind, messages.FALLBACK_TEMPLATE), params
    )
    return messages.Rendered(text, "UCS-2", 1)
