"""The web app's own gettext catalog (Babel): English source strings, Spanish drafts.

Separate from the SMS catalog (notifications/catalogs.py): a page label and a text to a family
are written for different readers and reviewed by different people. Like the SMS catalog, the
committed ``.po`` is the source of truth and is compiled in memory on first use, so a fresh
clone needs no build step (``amparo messages compile`` also writes ``.mo`` files).

How strings are marked (``amparo messages extract`` finds them; see README "The web app in
Spanish"):

- templates: ``{{ _("Save") }}`` or ``{% trans name=x %}Hello {{ name }}{% endtrans %}``;
- Python that runs in a request (flashes, form errors): ``gettext("...")`` from here;
- tables read in several languages (tracker.presentation labels, validator reasons):
  ``N_("...")``, which only marks the string; whoever shows it translates it then.

The language of a request is a context variable set by the web layer (``activate``): the
signed-in user's ``language`` setting, or the browser's ``Accept-Language`` before sign-in.

Entries whose translator comment starts with ``REVIEW`` await review by a native speaker, as in
the SMS catalog; ``amparo messages review`` lists both catalogs.
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "web"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"
SOURCE_LANGUAGE = "en"
# The languages the pages are offered in; a new one needs ``locales/<lang>/LC_MESSAGES/web.po``.
LANGUAGES: tuple[str, ...] = ("en", "es")
REVIEW_MARK = "REVIEW"
REVIEW_COMMENT = "REVIEW: drafted by the developers, awaiting review by a native speaker"

_current: ContextVar[str] = ContextVar("amparo_web_language", default=SOURCE_LANGUAGE)


def N_(msgid: str) -> str:
    """Mark ``msgid`` for extraction without translating it (it is translated where shown)."""
    return msgid


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def pot_path() -> Path:
    return LOCALES_DIR / f"{DOMAIN}.pot"


def supported(tag: str | None) -> str | None:
    """``es-MX`` → ``es``; a language the pages are not offered in → None."""
    base = (tag or "").replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else None


def page_language(tag: str | None) -> str:
    """The language pages are shown in for a user whose setting is ``tag``."""
    return supported(tag) or SOURCE_LANGUAGE


_Q = re.compile(r"^\s*q\s*=\s*([0-9.]+)\s*$")


def negotiate(accept_language: str | None) -> str:
    """The page language for an ``Accept-Language`` header (RFC 9110 q-values), else English."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, *params = part.strip().split(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                # A malformed weight counts as "not acceptable" rather than as the default 1.
                match = _Q.match(f"q={value.strip()}")
                try:
                    q = float(match.group(1)) if match else 0.0
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, index, tag))
    preferred = [tag.replace("-", "_") for _, _, tag in sorted(ranked)]
    # Babel matches ``es_MX`` to ``es`` and knows the usual aliases.
    found = negotiate_locale(preferred, list(LANGUAGES), sep="_")
    if found is None:
        for tag in preferred:
            if supported(tag):
                found = supported(tag)
                break
    return page_language(found)


def language_name(code: str) -> str:
    """``es`` → ``Español``: each language offered by its own name."""
    try:
        return (Locale.parse(code).get_display_name(code) or code).capitalize()
    except (ValueError, UnknownLocaleError):
        return code


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    lang = page_language(language)
    if lang == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    po = po_path(lang)
    if po.exists():
        buf = io.BytesIO()
        # Review-pending entries are not fuzzy on purpose: drafts are used until reviewed.
        write_mo(buf, read_catalog(lang), use_fuzzy=False)
        return _gettext.GNUTranslations(io.BytesIO(buf.getvalue()))
    with po.with_suffix(".mo").open("rb") as fh:
        return _gettext.GNUTranslations(fh)


def current() -> str:
    return _current.get()


@contextlib.contextmanager
def activate(language: str) -> Iterator[str]:
    """Translate into ``language`` within the block (pages and flashes of one request)."""
    lang = page_language(language)
    token = _current.set(lang)
    try:
        yield lang
    finally:
        _current.reset(token)


def gettext(msgid: str) -> str:
    return translations(_current.get()).gettext(msgid)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


_FIELD = re.compile(r"\{(\w+)\}")


@functools.cache
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    """For each msgid with ``{name}`` fields, a pattern matching it once formatted."""
    out = []
    for message in read_catalog(language) if po_path(language).exists() else []:
        if not message.id or not isinstance(message.id, str) or not message.string:
            continue
        if not _FIELD.search(message.id):
            continue
        parts = _FIELD.split(message.id)
        regex = "".join(
            re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts)
        )
        try:
            out.append((re.compile(f"^{regex}$", re.DOTALL), str(message.string)))
        except re.error:
            continue
    return out


# Template fields that carry what people typed or named (an SMS body, a facility, an e-mail, a
# source): shown as they are, never run through the catalog ("of course" is not "of {n}").
VERBATIM_FIELDS = frozenset(
    {"text", "source", "facility", "origin", "destination", "office", "email", "name", "label"}
    | {"when", "day", "code", "language", "codes", "choices"}
)


def _exact(text: str) -> str | None:
    """``text``'s translation, also when only its first letter's case differs from the msgid
    (``Family`` from ``family``, ``stay of removal`` from ``Stay of removal``)."""
    found = gettext(text)
    if found != text:
        return found
    if text[:1].isalpha():
        swapped = text[0].swapcase() + text[1:]
        found = gettext(swapped)
        if found != swapped:
            return (found[0].swapcase() + found[1:]) if found else found
    return None


def translate_reason(text: str, _depth: int = 0) -> str:
    """Text formatted in English from marked msgids (a validator's reason, a flash, a timeline
    line) in the current language: the exact msgid, else the marked ``{field}`` template it was
    formatted from, its fields translated the same way (a label inside a sentence). Unknown
    text is shown as it is: names, notes and free text stay as typed, and English beats
    nothing."""
    lang = _current.get()
    if lang == SOURCE_LANGUAGE or not text.strip():
        return text
    exact = _exact(text)
    if exact is not None:
        return exact
    if _depth > 3:
        return text
    # Of the templates that fit, the reading that leaves the least English: "{summary} (source:
    # {source})" whose summary is itself a template, rather than "Transferred from {a} to {b}"
    # with the rest of the sentence swallowed into {b}.
    best: tuple[tuple[int, int], str] | None = None
    for pattern, translated in _patterns(lang):
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groupdict()
        fields = {
            k: v if k in VERBATIM_FIELDS else translate_reason(v, _depth + 1)
            for k, v in groups.items()
        }
        left = sum(len(v) for k, v in groups.items() if fields[k] == v)
        try:
            candidate = translated.format(**fields)
        except (KeyError, IndexError, ValueError):
            continue
        score = (left, sum(len(v) for v in groups.values()))
        if best is None or score < best[0]:
            best = (score, candidate)
    return text if best is None else best[1]


def awaiting_review(language: str) -> list[str]:
    """msgids of the web catalog whose ``language`` translation awaits a native speaker."""
    return [
        str(m.id)
        for m in read_catalog(language)
        if m.id and any(c.strip().startswith(REVIEW_MARK) for c in m.user_comments)
    ]


# -- extraction: the catalog from the sources (``amparo messages extract``, and the tests) ----

SOURCE_DIR = Path(__file__).resolve().parent
# What carries web strings: the templates, and the Python of the ``tracker`` package (the SMS
# strings live in ``notifications`` and its own catalog). The same map is in babel.cfg for
# ``pybabel extract``.
METHOD_MAP: list[tuple[str, str]] = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
OPTIONS_MAP: dict[str, dict[str, str]] = {
    "templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"},
    "**.py": {},
}
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
}


def extract() -> Catalog:
    """The template catalog (every marked msgid, with where it appears) from the sources."""
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(domain=DOMAIN, project="Amparo", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(SOURCE_DIR),
        method_map=METHOD_MAP,
        options_map=OPTIONS_MAP,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    ):
        catalog.add(
            message,
            None,
            [(f"tracker/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def msgids(catalog: Catalog) -> list[str]:
    """Every msgid of ``catalog`` (both forms of a plural)."""
    out: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        out.extend([message.id] if isinstance(message.id, str) else list(message.id))
    return out


def translated(message: Message) -> bool:
    """Whether ``message`` has its translation (every form of a plural)."""
    forms = [message.string] if isinstance(message.string, str) else list(message.string or ())
    return bool(forms) and all(forms)


def update_catalogs() -> list[Path]:
    """Rewrite ``web.pot`` from the sources and merge it into each language's ``web.po``:
    new strings arrive with an empty translation and the REVIEW mark, strings gone from the
    sources are dropped. Returns the files written."""
    from babel.messages.pofile import write_po

    template = extract()
    written = [pot_path()]
    LOCALES_DIR.mkdir(parents=True, exist_ok=True)
    with pot_path().open("wb") as fh:
        write_po(fh, template, width=100, sort_output=True, omit_header=True)
    for lang in LANGUAGES[1:]:
        path = po_path(lang)
        if path.exists():
            catalog = read_catalog(lang)
            before = set(msgids(catalog))
            if before == set(msgids(template)):
                # Only the places moved: keep the date, so the diff shows what changed.
                template.creation_date = catalog.creation_date
        else:
            catalog = Catalog(locale=lang, domain=DOMAIN, project="Amparo", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        for message in catalog:
            # A new string's translation is a draft until a native speaker removes the mark.
            untranslated = not translated(message)
            marked = any(c.startswith(REVIEW_MARK) for c in message.user_comments)
            if message.id and untranslated and not marked:
                message.user_comments.append(REVIEW_COMMENT)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            # No "#:" places in the .po (web.pot has them): a moved line is no merge conflict.
            write_po(
                fh, catalog, width=100, sort_output=True, include_previous=False, no_location=True
            )
        written.append(path)
    translations.cache_clear()
    _patterns.cache_clear()
    return written


def compile_all(target_dir: Path | None = None) -> list[Path]:
    """Write ``<lang>/LC_MESSAGES/web.mo`` (default: beside each ``.po``)."""
    written = []
    for lang in LANGUAGES[1:]:
        if not po_path(lang).exists():
            continue
        target = (target_dir or LOCALES_DIR) / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            write_mo(fh, read_catalog(lang), use_fuzzy=False)
        written.append(target)
    return written
