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

    for path in catalogs.compile_all():
        print(f"wrote {path}")


def cmd_messages_template(args: argparse.Namespace, settings: Settings) -> None:
    from notifications import catalogs, messages

    print(f"wrote {catalogs.write_template(messages.all_msgids())}")


def cmd_messages_review(args: argparse.Namespace, settings: Settings) -> None:
    from notifications import catalogs

    for lang in catalogs.available_languages()[1:]:
        pending = catalogs.awaiting_review(lang)
        print(f"{lang}: {len(pending)} string(s) awaiting native review")
        for msgid in pending if args.verbose_list else []:
            print(f"  - {msgid}")
