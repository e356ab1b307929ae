"""The web app in Spanish (issue 13, item 6): the catalog is complete and current, every page
renders in Spanish with no English string of the catalog left, and the language follows the
user's setting, or the browser's Accept-Language before sign-in."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.routing import Route
from starlette.testclient import TestClient

from notifications import channels as channel_rules
from notifications.channels import ChannelNote
from tests import factories, world
from tests.web.conftest import NOW, Org
from tests.web.pages_support import csrf, signed_in, travel
from tracker import db, i18n
from tracker.cli import main
from tracker.models import AuditEntry, User
from tracker.schemas import (
    ContactCreate,
    CustodyEventIn,
    DeterminationIn,
    DocumentationIn,
    RequestCreate,
)
from tracker.services import channels as channel_service
from tracker.services import contacts as contact_service
from tracker.services import conversations
from tracker.services import custody as custody_service
from tracker.services import requests as request_service
from tracker.vocab import CustodyEventKind, RequestKind, Role, StayForum
from tracker.web.app import create_app

_FIELDS = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def _forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- the catalog ---------------------------------------------------------------------------


def test_the_committed_catalog_matches_the_sources_and_is_translated() -> None:
    """Extracted in-process from the templates and the Python: a string wrapped without
    ``make messages``, or left without its Spanish, fails here."""
    extracted = set(i18n.msgids(i18n.extract()))
    committed = i18n.read_catalog("es")
    in_po = set(i18n.msgids(committed))
    assert extracted - in_po == set(), "run `make messages`: new strings are not in web.po"
    assert in_po - extracted == set(), "run `make messages`: web.po has strings no source uses"
    for message in committed:
        if not message.id:
            continue
        ids, strings = _forms(message.id), _forms(message.string)
        assert all(strings) and len(strings) == len(ids), f"no Spanish for {message.id!r}"
        # A translation keeps every placeholder of its source (else formatting breaks).
        for msgid, msgstr in zip(ids, strings, strict=True):
            assert sorted(_FIELDS.findall(msgstr)) == sorted(_FIELDS.findall(msgid)), msgid


def test_every_drafted_translation_is_listed_for_review(capsys: pytest.CaptureFixture[str]) -> None:
    pending = i18n.awaiting_review("es")
    catalog = i18n.read_catalog("es")
    assert len(pending) == len([m for m in catalog if m.id]) > 300
    assert main(["messages", "review", "--list"]) == 0
    out = capsys.readouterr().out
    assert f"web es: {len(pending)} string(s) awaiting native review" in out
    assert "  - Urgent queue" in out


def test_accept_language_is_negotiated_with_q_values() -> None:
    assert i18n.negotiate("es-MX,es;q=0.9,en;q=0.8") == "es"
    assert i18n.negotiate("en-US,en;q=0.9,es;q=0.8") == "en"
    assert i18n.negotiate("fr-FR,fr;q=0.9,es;q=0.5") == "es"  # no French pages: next choice
    assert i18n.negotiate("es;q=0,en") == "en"
    assert i18n.negotiate("de, *;q=0.1") == "en"
    assert i18n.negotiate("") == "en" and i18n.negotiate(None) == "en"
    assert i18n.negotiate("es;q=abc") == "en"  # a malformed weight counts as 0


def test_reasons_formatted_in_english_are_translated_from_their_template() -> None:
    with i18n.activate("es"):
        assert i18n.translate_reason("required") == "obligatorio"
        assert (
            i18n.translate_reason("the year must be between 1990 and 2100")
            == "el año debe estar entre 1990 y 2100"
        )
        assert (
            i18n.translate_reason("String should have at most 200 characters")
            == "Debe tener como máximo 200 caracteres"
        )
        assert i18n.translate_reason("something nobody marked") == "something nobody marked"
    assert i18n.translate_reason("required") == "required"


# --- every page in Spanish -------------------------------------------------------------------

_TAGS = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|<[^>]+>", re.S | re.I)
_SHOWN_ATTRS = re.compile(r'\b(?:placeholder|aria-label|title)="([^"]*)"')


def _visible_text(page: str) -> str:
    """What a reader sees or hears: the text, and the placeholder/label/title attributes."""
    attrs = " ".join(_SHOWN_ATTRS.findall(page))
    return html_lib.unescape(_TAGS.sub(" ", page) + " " + attrs)


def _fragments(msgid: str) -> list[str]:
    """The literal English of a msgid: between its placeholders and markup."""
    parts = _FIELDS.split(_TAGS.sub(" ", msgid))
    return [p.strip(" .,:;()·") for p in parts if re.search(r"[A-Za-z]{2}", p)]


def english_left(page: str) -> set[str]:
    """The catalog's English fragments found in ``page``; a fragment that is also Spanish text
    of the catalog (``No``, ``SMS``, ``Hospital``…) is not evidence of English."""
    catalog = i18n.read_catalog("es")
    spanish = " ".join(s for m in catalog if m.id for s in _forms(m.string))
    text = " ".join(_visible_text(page).split())
    found = set()
    for msgid in i18n.msgids(catalog):
        for fragment in _fragments(msgid):
            pattern = re.compile(r"(?<![\w-])" + re.escape(fragment) + r"(?![\w-])")
            if pattern.search(text) and not pattern.search(spanish):
                found.add(fragment)
    return found


def _get_pages() -> list[str]:
    """Every HTML page the app serves by GET, from the app's own routes."""
    paths = []
    for route in create_app().routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or set()):
            continue
        if route.path.startswith(("/api", "/healthz", "/calendar", "/openapi")):
            continue
        if route.path.endswith(".csv"):
            continue
        paths.append(route.path)
    return paths


def _rich_case(org: Org) -> uuid.UUID:
    """A case showing most of what a case page can show: requests in every state, contacts,
    a custody transfer, flags."""
    actor = org.actor(Role.attorney)
    with db.session_scope() as s:
        office = world.field_office(s, "CHI")
        krome = world.facility(s, "Centro Norte", office=office)
        other = world.facility(s, "Centro Sur", office=office)
        case = factories.case(
            s,
            actor,
            NOW - timedelta(days=4),
            given_name="Lucía",
            family_name="Pérez",
            a_number="A123456789",
            facility_id=krome.id,
            removal_scheduled_at=NOW + timedelta(hours=30),
            factors=["elderly", "limited_english"],
        )
        # The family agreed to every channel and prefers calls (the channel fields and
        # fallback lines); counsel is texted.
        family = contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(
                role="family",
                phone="+12025550144",
                language="es",
                consented_channels=["sms", "whatsapp", "voice"],
                channel="voice",
            ),
            NOW - timedelta(days=4),
        )
        contact_service.add_contact(
            s,
            actor,
            case,
            ContactCreate(role="counsel", phone="+12025550145", language="es", sms_consent=True),
            NOW - timedelta(days=4),
        )
        # A conversation both ways (the inbox, its thread and the case's Conversation section),
        # and the timeline lines of a channel fallback and of a message no channel could carry.
        conversations.receive(s, family, "¿Hay noticias?", NOW - timedelta(hours=6))
        conversations.receive(
            s, family, "Gracias", NOW - timedelta(hours=5, minutes=50), channel="whatsapp"
        )
        conversations.reply(
            s, actor, case, family.id, "Mañana le llamamos.", NOW - timedelta(hours=5, minutes=45)
        )
        fallback = channel_rules.choose(family, "introduction", "es", {}, NOW, "")
        assert fallback.note, fallback  # calls never carry an introduction
        channel_service.record_note(
            s,
            ChannelNote(
                family.id, case.id, "introduction", "voice", fallback.channel, fallback.note
            ),
            NOW - timedelta(hours=5),
        )
        channel_service.record_note(
            s,
            ChannelNote(family.id, case.id, "digest", "voice", None, "no consented channel"),
            NOW - timedelta(hours=5),
        )
        channel_service.switch_channel(
            s, family, "whatsapp", "2 voice messages in a row were not delivered", NOW
        )
        stay = request_service.create_request(
            s,
            actor,
            case,
            RequestCreate(
                kind=RequestKind.stay_of_removal,
                forum=StayForum.immigration_judge,
                filed_at=NOW - timedelta(days=3),
            ),
            NOW - timedelta(days=3),
        )
        request_service.record_determination(
            s,
            actor,
            stay,
            DeterminationIn(
                outcome="granted",
                decided_at=NOW - timedelta(days=2),
                stay_expires_at=NOW + timedelta(days=2),
            ),
            NOW - timedelta(days=2),
        )
        release = request_service.create_request(
            s,
            actor,
            case,
            RequestCreate(kind=RequestKind.release, filed_at=NOW - timedelta(days=3)),
            NOW - timedelta(days=3),
        )
        request_service.record_determination(
            s,
            actor,
            release,
            DeterminationIn(outcome="denied", decided_at=NOW - timedelta(days=1)),
            NOW - timedelta(days=1),
        )
        request_service.record_documentation(
            s,
            actor,
            release,
            DocumentationIn(
                received_at=NOW - timedelta(hours=20), language="es", advised_right_to_appeal=False
            ),
            NOW - timedelta(hours=20),
        )
        request_service.create_request(
            s,
            actor,
            case,
            RequestCreate(kind=RequestKind.prosecutorial_discretion),
            NOW - timedelta(hours=5),
        )
        custody_service.record_event(
            s,
            actor,
            case,
            CustodyEventIn(
                kind=CustodyEventKind.transferred,
                at=NOW - timedelta(hours=3),
                facility_id=other.id,
                source="llamada",
            ),
            NOW - timedelta(hours=3),
        )
        return case.id


def _spanish_admin(orgs: tuple[Org, Org]) -> str:
    with db.session_scope() as s:
        admin = s.get(User, orgs[0].users[Role.admin].id)
        assert admin is not None
        admin.language = "es"
        return admin.email


# Text that is not the web catalog's, named here so that nothing else slips by: the checks of
# ``amparo doctor`` on /admin/health (its names, details and fixes are the CLI's English; see
# README "The web app in Spanish").
_NOT_CATALOG = re.compile(r'<tbody>\s*<tr class="health-.*?</tbody>', re.S)


def test_every_page_renders_in_spanish(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    case_id = _rich_case(orgs[0])
    signed_in(client, _spanish_admin(orgs))
    params = {"case_id": str(case_id)}
    pages = _get_pages()
    assert {"/", "/cases/{case_id}", "/admin/users", "/password", "/reports"} <= set(pages)
    checked = 0
    for path in pages:
        names = set(re.findall(r"\{(\w+)", path))
        # A new page with another path parameter: give it a sample record above.
        assert names <= set(params), f"{path}: no sample for {names - set(params)}"
        url = re.sub(r"\{(\w+)(?::\w+)?\}", r"{\1}", path).format(**params)
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert response.headers["content-language"] == "es", url
        assert '<html lang="es">' in response.text, url
        assert english_left(_NOT_CATALOG.sub("", response.text)) == set(), url
        checked += 1
    # The case page really shows the labels the test is about (not an empty page).
    case_page = client.get(f"/cases/{case_id}").text
    for spanish in ("Suspensión de deportación", "Juez de inmigración", "Trasladado", "Familia"):
        assert spanish in case_page, spanish
    # The inbox, the channels and their timeline lines were really on the pages checked.
    for spanish in (
        "Conversación",
        "Del contacto (familia)",
        "Respuesta de",
        "Canal:",
        "Mensaje a la familia (presentación) enviado por SMS en lugar de llamada",
        "llamada: solo se llaman las decisiones",
        "no hay una plantilla aprobada para solicitud presentada en es",
        "ahora se localiza por WhatsApp en lugar de llamada",
        "segmento de SMS",
    ):
        assert spanish in case_page, spanish
    inbox = client.get("/inbox").text
    assert "Lucía" in inbox and "Su último mensaje" not in inbox and "Última respuesta" in inbox
    assert "Deportación inminente" in client.get("/").text  # a flag badge
    assert checked >= 15
    # A page missing from the app's routes would not have been checked: the error page too.
    missing = client.get(f"/cases/{uuid.uuid4()}")
    assert missing.status_code == 404 and english_left(missing.text) == set()
    assert "No encontrado" in missing.text


def test_the_check_finds_english_in_an_english_page(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    """The detector is not vacuous: the same page in English is full of catalog strings."""
    travel(client)
    signed_in(client, orgs[0].users[Role.admin].email)
    left = english_left(client.get("/").text)
    assert {"Urgent queue", "Search and filters", "Sign out"} <= left


def test_form_errors_and_flashes_are_spanish(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    token = signed_in(client, _spanish_admin(orgs))
    bad = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "given_name": "",
            "a_number": "12",
            "family_phone": "not a phone",
            "family_language": "es",
            "removal_scheduled_at": "1900-01-01T10:00",
        },
    )
    assert bad.status_code == 422
    assert "Corrija los" in bad.text
    # Each reason beside its field: pydantic's, a validator's, the page's own.
    errors = dict(re.findall(r'id="([\w-]+)-error">([^<]*)<', bad.text))
    assert errors == {
        "given_name": "Debe tener al menos 1 carácter",
        "a_number": "un número A tiene 8 o 9 dígitos, p. ej., A-123-456-789",
        "removal_scheduled_at": "revise el año",
        "family_phone": "no es un número de teléfono",
    }
    assert english_left(bad.text) == set()

    ok = client.post(
        "/cases/new",
        data={
            "csrf_token": token,
            "given_name": "Ana",
            "family_phone": "+12025550150",
            "family_language": "es",
            "family_consent": "on",
        },
    )
    assert ok.status_code == 200
    assert "Caso abierto." in ok.text  # the flash, on the case page it redirected to


# --- the language setting -------------------------------------------------------------------


def test_accept_language_chooses_the_login_page_language(client: TestClient) -> None:
    spanish = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.8"})
    assert '<html lang="es">' in spanish.text and "Iniciar sesión" in spanish.text
    assert spanish.headers["content-language"] == "es"
    assert english_left(spanish.text) == set()
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    # A failed sign-in answers in the browser's language too.
    token = csrf(client)
    failed = client.post(
        "/login",
        data={"email": "", "password": "", "csrf_token": token, "next": "/"},
        headers={"Accept-Language": "es"},
    )
    assert failed.status_code == 422
    assert "Escriba su correo electrónico y su contraseña." in failed.text


def test_a_user_chooses_their_language_and_it_wins_over_the_browser(
    client: TestClient, orgs: tuple[Org, Org]
) -> None:
    travel(client)
    hotline = orgs[0].users[Role.hotline]
    token = signed_in(client, hotline.email)
    english = {"Accept-Language": "en"}
    assert "Urgent queue" in client.get("/", headers=english).text
    bad = client.post("/language", data={"csrf_token": token, "language": "xx"})
    assert bad.status_code == 422 and "one of en, es" in bad.text
    saved = client.post("/language", data={"csrf_token": token, "language": "es"})
    assert saved.status_code == 200 and "Idioma guardado." in saved.text
    assert "Cola urgente" in client.get("/", headers=english).text
    with db.session_scope() as s:
        user = s.get(User, hotline.id)
        assert user is not None and user.language == "es"
        entry = s.scalar(
            select(AuditEntry).where(
                AuditEntry.entity_id == str(hotline.id), AuditEntry.action == "update"
            )
        )
        assert entry is not None and entry.changes == {"language": ["en", "es"]}
    # Still signed in: a language change ends no session.
    assert client.get("/password").status_code == 200


def test_an_admin_sets_a_users_language(client: TestClient, orgs: tuple[Org, Org]) -> None:
    travel(client)
    attorney = orgs[0].users[Role.attorney]
    token = signed_in(client, orgs[0].users[Role.admin].email)
    form = {"csrf_token": token, "role": "attorney", "active": "on"}
    assert (
        client.post(f"/admin/users/{attorney.id}", data={**form, "language": "es"}).status_code
        == 200
    )
    with db.session_scope() as s:
        assert s.get(User, attorney.id).language == "es"  # type: ignore[union-attr]
    bad = client.post(f"/admin/users/{attorney.id}", data={**form, "language": "zz"})
    assert bad.status_code == 422 and "one of en, es" in bad.text
    # A row saved without touching the select keeps an SMS-only language such as pt-BR.
    with db.session_scope() as s:
        s.get(User, attorney.id).language = "pt-BR"  # type: ignore[union-attr]
    assert (
        client.post(f"/admin/users/{attorney.id}", data={**form, "language": "en"}).status_code
        == 200
    )
    with db.session_scope() as s:
        assert s.get(User, attorney.id).language == "pt-BR"  # type: ignore[union-attr]


def test_typed_text_inside_a_line_is_never_translated() -> None:
    with i18n.activate("es"):
        assert (
            i18n.translate_reason("SMS from family contact: in 5 h of course")
            == "SMS del contacto (familia): in 5 h of course"
        )
        assert (
            i18n.translate_reason("Transferred from Centro Norte to Removed (source: family)")
            == "Trasladado de Centro Norte a Removed (fuente: family)"
        )


def test_an_expired_form_is_explained_in_the_browsers_language(client: TestClient) -> None:
    client.get("/login")  # a session exists, so the CSRF check applies
    refused = client.post(
        "/login",
        data={"email": "a@example.org", "password": "x"},
        headers={"Accept-Language": "es"},
    )
    assert refused.status_code == 403
    assert "Este formulario ha caducado" in refused.text and english_left(refused.text) == set()
