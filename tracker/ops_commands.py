"""``amparo doctor``, ``amparo backup``, ``amparo restore`` and ``amparo keys export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracker.commanderror import CommandError
from tracker.settings import Settings
from tracker.types import utcnow


def cmd_backup(args: argparse.Namespace, settings: Settings) -> None:
    from tracker.backup import BackupError, backup

    try:
        path = backup(settings.database_url, Path(args.out), utcnow())
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    print(f"backup written to {path} (the data keys are NOT in it: keep them apart)")


def cmd_restore(args: argparse.Namespace, settings: Settings) -> None:
    from tracker import db
    from tracker.backup import BackupError, restore

    try:
        manifest = restore(Path(args.directory), settings.database_url, settings.data_keys)
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    db.reset()
    total = sum(manifest.counts.values())
    print(f"restored {total} rows from {args.directory} (made {manifest.created_at})")
    print("next: `amparo migrate` (brings an older backup to the current schema), then start")


def cmd_keys_export(args: argparse.Namespace, settings: Settings) -> None:
    print(
        "WARNING: these keys open every name, A-number and phone in Amparo. Write them to "
        "offline escrow (a password manager vault the organisation controls, or paper in a "
        "safe). Never put them in a backup, a repository, a ticket, e-mail or chat.",
        file=sys.stderr,
    )
    print(f"DATA_KEYS={','.join(settings.data_keys)}")
    print(f"DATA_INDEX_KEY={settings.data_index_key}")


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from tracker.doctor import Status, run_checks

    results = run_checks(settings, utcnow())
    for result in results:
        print(result.line())
    failed = sum(r.status is Status.fail for r in results)
    warned = sum(r.status is Status.warn for r in results)
    print(f"{len(results)} checks: {failed} failed, {warned} warnings")
    return 1 if failed else 0
