"""``amparo worker``, ``amparo dispatch --once`` and ``amparo messages …``."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_worker(args: argparse.Namespace) -> None:
    from notifications.dispatcher import run_worker
    from tracker.services.delivery import REACTIONS
    from tracker.settings import get_settings

    run_worker(get_settings(), REACTIONS, once=False)


def cmd_dispatch(args: argparse.Namespace) -> None:
    from notifications.dispatcher import run_worker
    from tracker.services.delivery import REACTIONS
    from tracker.settings import get_settings

    stats = run_worker(get_settings(), REACTIONS, once=True)
    print(json.dumps(stats.as_dict()))


def cmd_messages_compile(args: argparse.Namespace) -> None:
    from notifications import catalogs

    for path in catalogs.compile_all():
        print(f"wrote {path}")


def cmd_messages_template(args: argparse.Namespace) -> None:
    from notifications import catalogs, messages

    print(f"wrote {catalogs.write_template(messages.all_msgids())}")


def cmd_messages_review(args: argparse.Namespace) -> None:
    from notifications import catalogs

    for lang in catalogs.available_languages()[1:]:
        pending = catalogs.awaiting_review(lang)
        print(f"{lang}: {len(pending)} string(s) awaiting native review")
        for msgid in pending if args.verbose_list else []:
            print(f"  - {msgid}")


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run the SMS outbox dispatcher until SIGTERM")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dispatch", help="send the SMS that are due, then exit")
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    p.set_defaults(func=cmd_dispatch)

    msgs = sub.add_parser("messages", help="SMS message catalogs").add_subparsers(
        dest="messages_command", required=True
    )
    p = msgs.add_parser("compile", help="write .mo files beside the .po catalogs")
    p.set_defaults(func=cmd_messages_compile)
    p = msgs.add_parser("template", help="rewrite locales/amparo.pot from the templates")
    p.set_defaults(func=cmd_messages_template)
    p = msgs.add_parser("review", help="list strings awaiting review by a native speaker")
    p.add_argument("--list", dest="verbose_list", action="store_true")
    p.set_defaults(func=cmd_messages_review)
