"""A Spanish-speaking hotline volunteer does an intake in a real headless Chromium, start to
finish, without meeting a string of the web catalog in English (issue 13, item 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests import factories
from tests.browser.conftest import ARTIFACTS, Server
from tests.web.test_i18n import english_left
from tracker.models import Case, Facility, FieldOffice
from tracker.vocab import Role

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def _seed(server: Server) -> str:
    """A hotline volunteer whose page language is Spanish, and a facility; returns the e-mail."""
    now = datetime.now(UTC)
    with server.sessions() as s, s.begin():
        org = factories.org(s, now, "Línea de ayuda (ficticia)")
        volunteer = factories.user(s, org, now, role=Role.hotline, name="Voluntaria")
        volunteer.language = "es"
        office = s.scalar(select(FieldOffice).where(FieldOffice.code == "NOL"))
        s.add(
            Facility(
                name="Centro de Procesamiento",
                time_zone="America/Chicago",
                field_office_id=office.id if office else None,
            )
        )
        return volunteer.email


def _local(hours: int) -> str:
    when = datetime.now(UTC) + timedelta(hours=hours)
    return when.astimezone(ZoneInfo("America/Chicago")).strftime("%Y-%m-%dT%H:%M")


def _no_english(page: Any, where: str) -> None:
    left = english_left(page.content())
    assert left == set(), f"{where}: {sorted(left)}"


def test_a_spanish_speaking_volunteer_does_an_intake(server: Server, browser: Any) -> None:
    email = _seed(server)
    ARTIFACTS.mkdir(exist_ok=True)
    # The browser asks for Spanish: the sign-in page answers in Spanish before anyone signs in.
    context = browser.new_context(locale="es-MX", extra_http_headers={"Accept-Language": "es-MX"})
    page = context.new_page()
    try:
        page.goto(server.base_url + "/")
        assert page.url.startswith(server.base_url + "/login")
        assert page.get_attribute("html", "lang") == "es"
        assert "Iniciar sesión" in page.inner_text("h1")
        _no_english(page, "login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", "incorrecta")
        page.click("button[type=submit]")
        assert "Correo electrónico o contraseña incorrectos." in page.inner_text("#login-error")
        _no_english(page, "failed login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        # An empty queue: its list is attached but has nothing to show.
        page.wait_for_selector("#queue", state="attached")
        assert "Cola urgente" in page.inner_text("h1")
        assert "No hay casos abiertos." in page.inner_text("main")
        _no_english(page, "queue")

        # Intake: a mistake first, explained in Spanish beside the field, then the fix.
        page.click("text=Nuevo caso")
        page.wait_for_selector("form.intake")
        _no_english(page, "intake form")
        page.fill("input[name=given_name]", "Marta")
        page.fill("input[name=family_name]", "Prueba")
        page.fill("input[name=a_number]", "A-123")
        page.select_option("select[name=facility_id]", label="Centro de Procesamiento")
        page.fill("input[name=removal_scheduled_at]", _local(30))
        page.fill("input[name=family_phone]", "202 555 0142")
        page.select_option("select[name=family_language]", "es")
        page.check("input[name=family_consent]")
        page.fill("input[name=counsel_phone]", "202 555 0143")
        page.click("summary:has-text('Factores de presunción de liberación')")
        page.check("input[name=factors][value=limited_english]")
        page.click("button:has-text('Abrir caso')")
        page.wait_for_selector("#a_number-error")
        assert "un número A tiene 8 o 9 dígitos" in page.inner_text("#a_number-error")
        assert "Corrija el 1 campo marcado abajo." in page.inner_text("#form-errors")
        _no_english(page, "intake with an error")
        page.fill("input[name=a_number]", "A-123-456-789")
        page.click("button:has-text('Abrir caso')")

        # The case page: flash, flags, contacts, timeline, all in Spanish.
        page.wait_for_selector("#person-name")
        assert "Marta Prueba" in page.inner_text("#person-name")
        assert "Caso abierto." in page.inner_text("main")
        assert "Deportación inminente" in page.inner_text("#flags")
        assert "Dominio limitado del inglés" in page.inner_text("article.person")
        timeline = page.inner_text("#timeline")
        assert "Caso abierto" in timeline and "Contacto (Familia) añadido" in timeline
        _no_english(page, "case page")
        page.screenshot(path=str(ARTIFACTS / "case-es.png"), full_page=True)

        # The queue shows the new case with its badge, in Spanish.
        page.click("text=Cola")
        page.wait_for_selector("#queue")
        assert "Marta Prueba" in page.inner_text("#queue")
        _no_english(page, "queue after intake")
    finally:
        context.close()

    with server.sessions() as s:
        case = s.scalar(select(Case).where(Case.given_name.is_not(None)))
        assert case is not None and case.factors == ["limited_english"]
