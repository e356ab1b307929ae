"""TwiML as Twilio reads it: parsed as XML and checked against what Twilio documents.

Twilio's TwiML reference: a ``<Response>`` root; ``<Say>`` with ``language`` (e.g. ``es-US``)
and ``voice``; ``<Play>`` of an absolute URL; ``<Gather>`` with ``numDigits``, ``action`` and
``method``, holding ``<Say>``/``<Play>``/``<Pause>`` only; ``<Pause length>``, ``<Hangup>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlparse

VERBS = {"Say", "Play", "Pause", "Gather", "Hangup"}
IN_GATHER = {"Say", "Play", "Pause"}
SAY_LANGUAGES = {"en-US", "es-US", "fr-FR", "pt-BR"}


__all__ = ["ET", "parse", "violations"]


def parse(text: str) -> ET.Element:
    # Our own TwiML, produced in the test: not untrusted input.
    root = ET.fromstring(text)  # noqa: S314
    problems = violations(root)
    assert problems == [], (problems, text)
    return root


def _absolute(url: str | None) -> bool:
    parsed = urlparse(url or "")
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def violations(root: ET.Element) -> list[str]:
    problems: list[str] = []
    if root.tag != "Response":
        problems.append(f"root is <{root.tag}>, not <Response>")
    for verb in root:
        if verb.tag not in VERBS:
            problems.append(f"unknown verb <{verb.tag}>")
        children = list(verb) if verb.tag == "Gather" else [verb]
        if verb.tag == "Gather":
            if not (verb.get("numDigits") or "").isdigit():
                problems.append("<Gather> without numDigits")
            if verb.get("method") not in (None, "GET", "POST"):
                problems.append("<Gather> method")
            problems += [f"<{c.tag}> inside <Gather>" for c in verb if c.tag not in IN_GATHER]
        for node in children:
            if node.tag == "Say":
                if node.get("language") not in SAY_LANGUAGES:
                    problems.append(f"<Say language={node.get('language')!r}>")
                if not (node.text or "").strip():
                    problems.append("<Say> with nothing to say")
            if node.tag == "Play" and not _absolute(node.text):
                problems.append(f"<Play> of a relative URL {node.text!r}")
    return problems
