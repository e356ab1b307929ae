"""Templates: every kind in every language, within two segments, first name only."""

from __future__ import annotations

import gettext
import re
import string
from pathlib import Path

import pytest

from notifications import catalogs, messages

# Long but realistic values: a long organisation name, a compound given name with accents,
# a full facility-local time label and a field-office liaison with a phone number.
LONG_PARAMS = {
    "first_name": "María Guadalupe",
    "organization": "Northwest Immigrant Rights Rapid Response",
    "local_time": "Tue 24 Nov, 14:00 CST",
    "rung": 72,
    "request_kind": "prosecutorial_discretion",
    "alert_kind": "documentation_overdue",
    "liaison": "ERO Houston PD liaison, +1 202 555 0100",
    "count": 12,
    "summary": "3 removals within 24 h, 5 decisions undocumented, 4 unanswered.",
    "hotline": "+1 202 555 0111",
    "status": "María: in detention. The stay of removal request is filed; ICE has not decided yet.",
    "from_facility": "Otay Mesa Detention Center",
    "to_facility": "Alexandria Staging Facility",
    "field_office": "New Orleans",
    "facility": "Alexandria Staging Facility",
}
QUEUED_KINDS = sorted(messages.COUNSEL_KINDS | messages.FAMILY_KINDS)
LANGUAGES = ["en", "es", "ht", "fr", "pt"]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", QUEUED_KINDS)
def test_english_and_spanish_templates_fit_two_segments(kind: str, language: str) -> None:
    rendered = messages.render(kind, language, LONG_PARAMS)
    assert rendered.segments <= 2, (rendered.encoding, len(rendered.body), rendered.body)
    assert rendered.segments == messages.segment_count(rendered.body)[1]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(messages.TEMPLATES))
def test_every_kind_renders_translated_with_no_placeholder_left(kind: str, language: str) -> None:
    rendered = messages.render(kind, language, LONG_PARAMS)
    assert "{" not in rendered.body and "}" not in rendered.body
    if language != "en" and kind != "status_reply":
        assert rendered.body != messages.render(kind, "en", LONG_PARAMS).body


def test_every_translation_keeps_the_placeholders_of_its_msgid() -> None:
    for language in LANGUAGES[1:]:
        catalog = catalogs.read_catalog(language)
        translated = {str(m.id): str(m.string) for m in catalog if m.id}
        for msgid in translated:
            assert translated[msgid], f"{language}: empty translation of {msgid!r}"
            assert _fields(translated[msgid]) == _fields(msgid), (language, msgid)


def test_catalogs_cover_every_template_and_label() -> None:
    msgids = set(messages.all_msgids())
    for language in LANGUAGES[1:]:
        catalog = catalogs.read_catalog(language)
        assert {str(m.id) for m in catalog if m.id and m.string} >= msgids, language


def test_strings_awaiting_review_are_marked_and_listed_in_the_readme() -> None:
    readme = (catalogs.LOCALES_DIR.parent.parent / "README.md").read_text()
    for language in LANGUAGES[1:]:
        pending = catalogs.awaiting_review(language)
        if pending:
            assert re.search(rf"`{language}`[^\n]*awaiting", readme), language


@pytest.mark.parametrize("tag", ["zz", "", "klingon", "de"])
def test_unknown_language_falls_back_to_english(tag: str) -> None:
    body = messages.render("released", tag, LONG_PARAMS).body
    assert body == messages.render("released", "en", LONG_PARAMS).body
    assert "has been released" in body


def test_regional_tags_use_the_base_language() -> None:
    assert messages.render("released", "pt-BR", LONG_PARAMS).body == (
        messages.render("released", "pt", LONG_PARAMS).body
    )
    ack = {"first_name": "Ana", "alert_kind": "removal_imminent"}
    assert "deportación inminente" in messages.render("ack_done", "es-MX", ack).body


def test_family_bodies_carry_the_first_name_only() -> None:
    params = {
        **LONG_PARAMS,
        "first_name": "Ana Sofía Pérez López",
        "family_name": "Pérez López",
        "a_number": "A-123-456-789",
    }
    for kind in sorted(messages.FAMILY_KINDS):
        for language in LANGUAGES:
            body = messages.render(kind, language, params).body
            assert "Ana" in body or kind == "status_reply"
            assert "Sof" not in body and "rez" not in body and "123" not in body


def test_accents_are_kept_when_they_cost_nothing() -> None:
    ack = {"first_name": "Ana", "alert_kind": "removal_imminent"}
    short = messages.render("ack_done", "es", ack)
    assert short.body == "Amparo: alerta de deportación inminente de Ana confirmada."
    assert (short.encoding, short.segments) == ("UCS-2", 1)


def test_accents_are_dropped_when_they_would_add_a_segment() -> None:
    long = messages.render("decision_denied", "es", LONG_PARAMS)
    assert long.encoding == "GSM-7"
    assert "nego" in long.body and "Maria" in long.body


def test_segment_counts_follow_gsm7_and_ucs2_rules() -> None:
    assert messages.segment_count("a" * 160) == ("GSM-7", 1)
    assert messages.segment_count("a" * 161) == ("GSM-7", 2)
    assert messages.segment_count("a" * 306) == ("GSM-7", 2)
    assert messages.segment_count("a" * 307) == ("GSM-7", 3)
    assert messages.segment_count("€" * 80) == ("GSM-7", 1)  # extension chars cost two
    assert messages.segment_count("€" * 81) == ("GSM-7", 2)
    assert messages.segment_count("á" * 70) == ("UCS-2", 1)
    assert messages.segment_count("á" * 71) == ("UCS-2", 2)
    assert messages.segment_count("😀" * 35) == ("UCS-2", 1)  # two UTF-16 units each


def test_typographic_quotes_do_not_force_ucs2() -> None:
    assert messages.fit("ICE\u2019s decision \u2014 ok").encoding == "GSM-7"


def test_compiled_mo_files_load_with_plain_gettext(tmp_path: Path) -> None:
    written = catalogs.compile_all(tmp_path)
    assert {p.parent.parent.name for p in written} == {"es", "ht", "fr", "pt"}
    es = gettext.translation(catalogs.DOMAIN, tmp_path, languages=["es"])
    assert es.gettext(messages.CUSTODY_LABELS["detained"]) == "en detención"
