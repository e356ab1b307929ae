"""Setting up: ``amparo migrate``, ``org create``, ``user create``, ``token create``,
``bootstrap`` and ``demo``."""

from __future__ import annotations

import argparse

from pydantic import ValidationError
from sqlalchemy import select

from tracker import db
from tracker.commanderror import CommandError
from tracker.services import Actor
from tracker.settings import Settings
from tracker.types import utcnow

CLI_ACTOR = Actor.system("cli")


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest schema")


def cmd_org_create(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.services.orgs import create_org

    with db.session_scope() as session:
        org = create_org(session, CLI_ACTOR, args.name, utcnow())
        print(f"organization {org.id} {org.name}")


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> None:
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


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.models import User
    from tracker.services.orgs import create_token

    with db.session_scope() as session:
        user = session.scalar(select(User).where(User.email == args.email.strip().lower()))
        if user is None or not user.active:
            raise CommandError(f"no active user with e-mail {args.email!r}")
        print(create_token(session, CLI_ACTOR, user, utcnow(), label=args.label))


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.models import User
    from tracker.services.users import revoke_tokens

    with db.session_scope() as session:
        user = session.scalar(select(User).where(User.email == args.email.strip().lower()))
        if user is None:
            raise CommandError(f"no user with e-mail {args.email!r}")
        count = revoke_tokens(session, CLI_ACTOR, user, utcnow())
        print(f"revoked {count} token(s) of {user.email}")


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> None:
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


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.demo import load_demo

    with db.session_scope() as session:
        summary = load_demo(session, utcnow())
    for line in summary:
        print(line)
