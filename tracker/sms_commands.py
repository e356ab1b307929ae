"""``amparo worker``, ``amparo dispatch --once`` and ``amparo messages …``: entry points that
hand the notifications library its settings and the services' reactions (arguments:
``tracker.cli``)."""

from __future__ import annotations

import argparse
import json

from tracker.settings import Settings


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    from notifications.dispatcher import run_worker
    from tracker.services.delivery import REACTIONS

    run_worker(settings, REACTIONS, once=False)


def cmd_dispatch(args: argparse.Namespace, settings: Settings) -> None:
    from notifications.dispatcher import run_worker
    from tracker.services.delivery import REACTIONS

    stats = run_worker(settings, REACTIONS, once=True)
    print(json.dumps(stats.as_dict()))


def cmd_messages_compile(args: argparse.Namespace, settings: Settings) -> None:
    from notifications import catalogs
    from tracker import i18n

    for path in [*catalogs.compile_all(), *i18n.compile_all()]:
        print(f"wrote {path}")


def cmd_messages_extract(args: argparse.Namespace, settings: Settings) -> None:
    """The web catalog from the templates and the Python sources (tracker/locales)."""
    from tracker import i18n

    for path in i18n.update_catalogs():
        print(f"wrote {path}")
    for lang in i18n.LANGUAGES[1:]:
        missing = [m.id for m in i18n.read_catalog(lang) if m.id and not i18n.translated(m)]
        print(f"web {lang}: {len(missing)} string(s) to translate")


def cmd_messages_template(args: argparse.Namespace, settings: Settings) -> None:
    from notifications import catalogs, messages

    print(f"wrote {catalogs.write_template(messages.all_msgids())}")


def cmd_messages_review(args: argparse.Namespace, settings: Settings) -> None:
    from notifications import catalogs
    from tracker import i18n

    for lang in catalogs.available_languages()[1:]:
        pending = catalogs.awaiting_review(lang)
        print(f"{lang}: {len(pending)} string(s) awaiting native review")
        for msgid in pending if args.verbose_list else []:
            print(f"  - {msgid}")
    # The web app's catalog: the pages' drafts, reviewed by whoever reads the pages.
    for lang in i18n.LANGUAGES[1:]:
        pending = i18n.awaiting_review(lang)
        print(f"web {lang}: {len(pending)} string(s) awaiting native review")
        for msgid in pending if args.verbose_list else []:
            print(f"  - {msgid}")
