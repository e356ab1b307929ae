"""Data commands: ``amparo report``, ``import cases``, ``import custody``, ``purge`` and
``rotate-keys`` (their arguments are in ``tracker.cli``)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import db
from tracker.admin_commands import CLI_ACTOR
from tracker.commanderror import CommandError
from tracker.models import Organization
from tracker.services import Actor
from tracker.settings import Settings
from tracker.types import utcnow

DEFAULT_PERIOD = timedelta(days=365)


def _org(session: Session, ref: str | None) -> Organization:
    from tracker.services.orgs import find_org

    if ref:
        org = find_org(session, ref)
        if org is None:
            raise CommandError(f"no organization {ref!r} (give its id or exact name)")
        return org
    orgs = list(session.scalars(select(Organization).limit(2)))
    if len(orgs) != 1:
        raise CommandError("several organisations exist: name one with --org")
    return orgs[0]


def _day(raw: str, flag: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"{flag}: not a date (YYYY-MM-DD): {raw!r}") from exc


def period(raw_from: str | None, raw_to: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``--from`` inclusive, ``--to`` inclusive (whole days, UTC); default: the last 365 days."""
    end = (
        datetime.combine(_day(raw_to, "--to") + timedelta(days=1), datetime.min.time(), UTC)
        if raw_to
        else now
    )
    start = (
        datetime.combine(_day(raw_from, "--from"), datetime.min.time(), UTC)
        if raw_from
        else end - DEFAULT_PERIOD
    )
    if end <= start:
        raise CommandError("--to must not be before --from")
    return start, end


def _public_period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    from tracker.report_periods import PublicPeriodError, public_period_fields

    given = {"from": args.date_from, "to": args.date_to, "period": args.period}
    try:
        return public_period_fields({k: v for k, v in given.items() if v}, now)
    except PublicPeriodError as exc:
        raise CommandError(
            "; ".join(f"--{name}: {reason}" for name, reason in exc.fields.items())
        ) from exc


def cmd_report(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.facts import policy_for
    from tracker.report_export import public_csv
    from tracker.reports import field_office_report

    now = utcnow()
    if args.csv:
        start, end = _public_period(args, now)
    else:
        if args.period:
            raise CommandError(
                "--period is for the public --csv; the internal report takes --from/--to"
            )
        start, end = period(args.date_from, args.date_to, now)
    with db.session_scope() as session:
        org = _org(session, args.org)
        report = field_office_report(session, org, start, end, now)
        if args.csv:
            out = public_csv(report, policy_for(org))
            if args.output:
                Path(args.output).write_text(out, encoding="utf-8")
            else:
                sys.stdout.write(out)
            return
        _print_report(org, report)


def _print_report(org: Organization, report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    def days(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    table = Table(
        title=f"{org.name}: {report.period_from.date()} to "
        f"{(report.period_to - timedelta(seconds=1)).date()} (internal; not for publication)"
    )
    for column in (
        "office",
        "filed",
        "granted",
        "denied",
        "withdrawn",
        "unanswered",
        "median d",
        "p90 d",
        "documented ≤48 h",
        "appeal advised",
    ):
        table.add_column(column, justify="left" if column == "office" else "right")
    for group in [*report.by_office, None]:
        m = group.metrics if group else report.total
        table.add_row(
            group.key if group else "All",
            str(m.filed),
            str(m.granted),
            str(m.denied),
            str(m.withdrawn),
            str(m.unanswered),
            days(m.median_days_to_decision),
            days(m.p90_days_to_decision),
            pct(m.documented_on_time_share),
            pct(m.advised_appeal_share),
        )
    Console().print(table)


def cmd_import_cases(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import Progress

    from tracker import importer

    path = Path(args.file)
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    now = utcnow()
    with db.session_scope() as session:
        org = _org(session, args.org)
        actor = Actor(label=CLI_ACTOR.label, organization_id=org.id)
        # A progress bar on long files, on a terminal only (logs and pipes stay clean).
        with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"importing {path.name}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                report = importer.import_cases(
                    session,
                    actor,
                    org,
                    source,
                    now,
                    dry_run=args.dry_run,
                    skip_invalid=args.skip_invalid,
                    progress=progress,
                )
            except importer.ImportFailed as exc:
                for error in exc.errors:
                    print(str(error), file=sys.stderr)
                raise CommandError(f"{path.name}: nothing imported") from exc
        if report.errors and not args.skip_invalid:
            # Nothing was added; roll back anyway so that not even a facility is left.
            session.rollback()
    for error in report.errors:
        print(str(error), file=sys.stderr)
    print(report.summary())
    return 1 if report.errors else 0


def cmd_import_custody(args: argparse.Namespace, settings: Settings) -> int:
    from tracker import importer

    path = Path(args.file)
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    with db.session_scope() as session:
        org = _org(session, args.org)
        actor = Actor(label=CLI_ACTOR.label, organization_id=org.id)
        try:
            report = importer.import_custody(
                session, actor, org, source, utcnow(), dry_run=args.dry_run
            )
        except importer.ImportFailed as exc:
            for error in exc.errors:
                print(str(error), file=sys.stderr)
            raise CommandError(f"{path.name}: nothing imported") from exc
        if report.errors:
            session.rollback()
    for error in report.errors:
        print(str(error), file=sys.stderr)
    print(report.summary())
    return 1 if report.errors else 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.retention import purge_expired

    with db.session_scope() as session:
        report = purge_expired(session, utcnow(), dry_run=args.dry_run)
    for line in report.lines():
        print(line)


def cmd_rotate_keys(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.keys import rotate_all

    report = rotate_all(db.get_sessionmaker())
    for line in report.lines():
        print(line)
