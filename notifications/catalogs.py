"""Gettext catalogs of the SMS templates (Babel).

The ``.po`` files under ``locales/`` are the source of truth and are committed. They are
compiled in memory on first use, so a fresh clone needs no build step; ``amparo messages
compile`` also writes ``.mo`` files for deployments that prefer them, and a packaged install
with only ``.mo`` files works too.

Entries whose translator comment starts with ``REVIEW`` await review by a native speaker
(they are used meanwhile: a drafted translation serves a family better than English).
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

DOMAIN = "amparo"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
REVIEW_MARK = "REVIEW"


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def available_languages() -> tuple[str, ...]:
    """Languages with a catalog, plus English (the source language)."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.[pm]o"))
    return ("en", *dict.fromkeys(found))


def base_language(tag: str | None) -> str:
    """``pt-BR`` → ``pt``, ``ES`` → ``es``; anything we have no catalog for → ``en``."""
    base = (tag or "en").replace("_", "-").split("-")[0].strip().lower()
    return base if base in available_languages() else "en"


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


def _compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    # Review-pending entries are deliberately *not* fuzzy, so they compile and are used.
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    lang = base_language(language)
    if lang == "en":
        return gettext.NullTranslations()
    po = po_path(lang)
    if po.exists():
        return gettext.GNUTranslations(io.BytesIO(_compiled(read_catalog(lang))))
    with po.with_suffix(".mo").open("rb") as fh:
        return gettext.GNUTranslations(fh)


def gettext_for(language: str) -> Callable[[str], str]:
    return translations(language).gettext


def compile_all(target_dir: Path | None = None) -> list[Path]:
    """Write ``<lang>/LC_MESSAGES/amparo.mo`` under ``target_dir`` (default: beside each
    ``.po``); returns the paths written."""
    written = []
    for lang in available_languages()[1:]:
        if not po_path(lang).exists():
            continue
        target = (target_dir or LOCALES_DIR) / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_compiled(read_catalog(lang)))
        written.append(target)
    return written


def template_catalog(msgids: Iterator[str] | list[str]) -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="Amparo", charset="utf-8")
    for msgid in msgids:
        catalog.add(msgid)
    return catalog


def write_template(msgids: list[str], path: Path | None = None) -> Path:
    """Write ``locales/amparo.pot`` from the templates (what translators start from)."""
    path = path or LOCALES_DIR / f"{DOMAIN}.pot"
    with path.open("wb") as fh:
        write_po(fh, template_catalog(msgids), omit_header=False, width=100)
    return path


def awaiting_review(language: str) -> list[str]:
    """msgids whose translation in ``language`` still awaits a native speaker."""
    catalog = read_catalog(language)
    return [
        str(m.id)
        for m in catalog
        if m.id and any(c.strip().startswith(REVIEW_MARK) for c in m.user_comments)
    ]
