"""The ``amparo`` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from tracker import db, logging_setup
from tracker.services import Actor, ServiceError
from tracker.settings import get_settings
from tracker.types import utcnow

log = logging.getLogger("amparo")

# Modules that add their own sub-commands: each has ``register(subparsers)``.
COMMAND_MODULES: Sequence[str] = (
    "jobs.commands",
    "notifications.commands",
    "tracker.data_commands",
)

CLI_ACTOR = Actor.system("cli")


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status 1 (or ``status``)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def cmd_migrate(args: argparse.Namespace) -> None:
    from tracker.migrate import upgrade

    upgrade(get_settings().database_url)
    print("database is at the latest schema")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from tracker.web.app import create_app

    stops: list[Callable[[], None]] = []
    if args.embedded:
        from tracker import embedded

        stops = embedded.start()
    try:
        uvicorn.run(
            create_app(),
            host=args.host,
            port=args.port,
            log_level="info",
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )
    finally:
        for stop in stops:
            stop()


def cmd_org_create(args: argparse.Namespace) -> None:
    from tracker.services.orgs import create_org

    with db.session_scope() as session:
        org = create_org(session, CLI_ACTOR, args.name, utcnow())
        print(f"organization {org.id} {org.name}")


def cmd_user_create(args: argparse.Namespace) -> None:
    from tracker.schemas import UserCreate
    from tracker.services.orgs import create_user, find_org

    try:
        data = UserCreate(email=args.email, role=args.role, phone=args.phone, name=args.name)
    except ValidationError as exc:
        raise CommandError(_validation_message(exc)) from exc
    with db.session_scope() as session:
        org = find_org(session, args.org)
        if org is None:
            raise CommandError(f"no organization {args.org!r} (give its id or exact name)")
        user, password = create_user(session, CLI_ACTOR, org, data, utcnow())
        print(f"user {user.id} {user.email} ({user.role.value}) in {org.name}")
        print(f"password (shown once): {password}")


def cmd_token_create(args: argparse.Namespace) -> None:
    from tracker.models import User
    from tracker.services.orgs import create_token

    with db.session_scope() as session:
        user = session.scalar(select(User).where(User.email == args.email.strip().lower()))
        if user is None or not user.active:
            raise CommandError(f"no active user with e-mail {args.email!r}")
        print(create_token(session, CLI_ACTOR, user, utcnow(), label=args.label))


def cmd_bootstrap(args: argparse.Namespace) -> None:
    """First run: an organisation and an admin, printed once; nothing when users exist."""
    from tracker.models import User
    from tracker.schemas import UserCreate
    from tracker.services.orgs import create_org, create_user

    with db.session_scope() as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            print("users exist; nothing to bootstrap")
            return
        now = utcnow()
        org = create_org(session, CLI_ACTOR, args.org_name, now)
        user, password = create_user(
            session, CLI_ACTOR, org, UserCreate(email=args.email, role="admin"), now
        )
        print("=" * 64)
        print(f"First admin created: {user.email}")
        print(f"One-time password:   {password}")
        print("=" * 64)


def cmd_demo(args: argparse.Namespace) -> None:
    from tracker.demo import load_demo

    with db.session_scope() as session:
        summary = load_demo(session, utcnow())
    for line in summary:
        print(line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amparo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="upgrade the database to the latest schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="serve the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--embedded",
        action="store_true",
        help="also run the clock and the SMS worker in this process",
    )
    p.set_defaults(func=cmd_serve)

    org = sub.add_parser("org", help="organisations").add_subparsers(
        dest="org_command", required=True
    )
    p = org.add_parser("create", help="create an organisation")
    p.add_argument("name")
    p.set_defaults(func=cmd_org_create)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("create", help="create a user and print a one-time password")
    p.add_argument("--org", required=True, help="organisation id or exact name")
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=["admin", "attorney", "hotline", "coordinator"])
    p.add_argument("--phone")
    p.add_argument("--name")
    p.set_defaults(func=cmd_user_create)

    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    p = token.add_parser("create", help="print a new API bearer token for a user")
    p.add_argument("--email", required=True)
    p.add_argument("--label")
    p.set_defaults(func=cmd_token_create)

    p = sub.add_parser("bootstrap", help="create a first organisation and admin if none exist")
    p.add_argument("--email", default="admin@example.org")
    p.add_argument("--org-name", default="My Hotline")
    p.set_defaults(func=cmd_bootstrap)

    p = sub.add_parser("demo", help="load fictional demo data (clearly marked)")
    p.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else get_settings().log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging_setup.install()
    func: Callable[[argparse.Namespace], Any] = args.func
    try:
        result = func(args)
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
