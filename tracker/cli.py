"""The ``amparo`` command: every sub-command, its arguments and its handler, listed here.

Handlers take ``(args, settings)``: the settings are read once, in ``main``, and passed down.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from jobs import commands as jobs_commands
from tracker import admin_commands, data_commands, logging_setup, ops_commands, sms_commands
from tracker.commanderror import CommandError
from tracker.services import ServiceError
from tracker.settings import Settings, get_settings

log = logging.getLogger("amparo")

Command = Callable[[argparse.Namespace, Settings], Any]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from tracker import embedded
    from tracker.web.app import create_app

    # Started before the app is built, and a failure to start is fatal: see tracker.embedded.
    loops = embedded.start(settings) if args.embedded else None
    try:
        uvicorn.run(
            create_app(settings, clock_started_at=loops.clock_started_at if loops else None),
            host=args.host,
            port=args.port,
            log_level="info",
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    finally:
        if loops is not None:
            loops.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amparo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, func: Command, summary: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=summary, **kwargs)
        p.set_defaults(func=func)
        return p

    def group(name: str, summary: str) -> Any:
        return sub.add_parser(name, help=summary).add_subparsers(
            dest=f"{name}_command", required=True
        )

    # -- setting up ---------------------------------------------------------------------------
    command(sub, "migrate", admin_commands.cmd_migrate, "upgrade the database to the latest schema")

    p = command(sub, "serve", cmd_serve, "serve the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--embedded",
        action="store_true",
        help="also run the clock and the SMS worker in this process",
    )

    org = group("org", "organisations")
    p = command(org, "create", admin_commands.cmd_org_create, "create an organisation")
    p.add_argument("name")

    user = group("user", "users")
    p = command(
        user,
        "create",
        admin_commands.cmd_user_create,
        "create a user and print a one-time password",
    )
    p.add_argument("--org", required=True, help="organisation id or exact name")
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=["admin", "attorney", "hotline", "coordinator"])
    p.add_argument("--phone")
    p.add_argument("--name")

    token = group("token", "API tokens")
    p = command(
        token, "create", admin_commands.cmd_token_create, "print a new API bearer token for a user"
    )
    p.add_argument("--email", required=True)
    p.add_argument("--label")
    p = command(
        token,
        "revoke",
        admin_commands.cmd_token_revoke,
        "revoke every API token of a user (401 at once)",
    )
    p.add_argument("--email", required=True)

    p = command(
        sub,
        "bootstrap",
        admin_commands.cmd_bootstrap,
        "create a first organisation and admin if none exist",
    )
    p.add_argument("--email", default="admin@example.org")
    p.add_argument("--org-name", default="My Hotline")

    command(sub, "demo", admin_commands.cmd_demo, "load fictional demo data (clearly marked)")

    # -- the clock ----------------------------------------------------------------------------
    command(
        sub,
        "clock",
        jobs_commands.cmd_clock,
        "run the scheduler: deadline sweeps and digests (one process)",
    )
    p = command(
        sub,
        "sweep",
        jobs_commands.cmd_sweep,
        "run every deadline sweep once and print what it raised",
    )
    p.add_argument("--once", action="store_true", required=True, help="run once and exit")
    p.add_argument(
        "--now",
        help="sweep as if it were this moment (ISO-8601 with a zone, e.g. 2026-11-23T18:00Z)",
    )
    command(sub, "jobs", jobs_commands.cmd_jobs, "list the clock's jobs, their last and next runs")

    # -- SMS ----------------------------------------------------------------------------------
    command(sub, "worker", sms_commands.cmd_worker, "run the SMS outbox dispatcher until SIGTERM")
    p = command(sub, "dispatch", sms_commands.cmd_dispatch, "send the SMS that are due, then exit")
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")

    msgs = group("messages", "message catalogs: the SMS (notifications) and the pages (tracker)")
    command(
        msgs,
        "compile",
        sms_commands.cmd_messages_compile,
        "write .mo files beside the .po catalogs",
    )
    command(
        msgs,
        "extract",
        sms_commands.cmd_messages_extract,
        "update the web catalog (tracker/locales) from the templates and Python sources",
    )
    command(
        msgs,
        "template",
        sms_commands.cmd_messages_template,
        "rewrite locales/amparo.pot from the templates",
    )
    p = command(
        msgs,
        "review",
        sms_commands.cmd_messages_review,
        "list strings awaiting review by a native speaker",
    )
    p.add_argument("--list", dest="verbose_list", action="store_true")

    # -- data ---------------------------------------------------------------------------------
    p = command(
        sub,
        "report",
        data_commands.cmd_report,
        "field-office report; --csv for the public, suppressed CSV",
    )
    p.add_argument("--csv", action="store_true", help="the public CSV (small cells withheld)")
    p.add_argument("--org", help="organisation id or exact name (needed when there are several)")
    p.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (default: a year ago)")
    p.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (default: today)")
    p.add_argument(
        "--period",
        help="with --csv: a finished month or quarter, 2026-10 or 2026-Q4 (default: last month)",
    )
    p.add_argument("--output", "-o", help="write the CSV to this file instead of stdout")

    imports = group("import", "bulk imports")
    p = command(
        imports,
        "cases",
        data_commands.cmd_import_cases,
        "import cases from a CSV file (columns: see README)",
    )
    p.add_argument("file", help="CSV file, UTF-8, header row first")
    p.add_argument("--org", required=True, help="organisation id or exact name")
    p.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="write the valid rows, report the others"
    )
    p = command(
        imports,
        "custody",
        data_commands.cmd_import_custody,
        "record custody events from a CSV file, all or nothing (columns: see README)",
    )
    p.add_argument("file", help="CSV file, UTF-8, header row first")
    p.add_argument("--org", required=True, help="organisation id or exact name")
    p.add_argument("--dry-run", action="store_true", help="validate only; write nothing")

    p = command(
        sub,
        "purge",
        data_commands.cmd_purge,
        "purge closed cases past their organisation's retention",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be purged")

    command(
        sub,
        "rotate-keys",
        data_commands.cmd_rotate_keys,
        "re-encrypt under the newest DATA_KEYS key; rebuild blind indexes",
    )

    # -- operating it -------------------------------------------------------------------------
    command(
        sub,
        "doctor",
        ops_commands.cmd_doctor,
        "check this deployment; exit status 1 on any failure",
    )
    p = command(
        sub, "backup", ops_commands.cmd_backup, "write a consistent backup (without the data keys)"
    )
    p.add_argument("--out", required=True, help="directory that receives amparo-<time>/")
    p = command(sub, "restore", ops_commands.cmd_restore, "restore a backup into an empty database")
    p.add_argument("directory", help="a backup directory written by `amparo backup`")
    keys = group("keys", "data keys")
    command(keys, "export", ops_commands.cmd_keys_export, "print the data keys for offline escrow")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging_setup.install()
    func: Command = args.func
    try:
        result = func(args, settings)
    except CommandError as exc:
        print(f"amparo: {exc}", file=sys.stderr)
        return exc.status
    except ServiceError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
        print(f"amparo: {exc.message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
