"""The import page: paste a CSV (or spreadsheet cells) and import cases, with the same
row-by-row report as ``amparo import cases``.

The page takes pasted text rather than a file: the CSRF check reads the form before the
handler and refuses file parts, and pasting cells from a spreadsheet is what hotlines do
anyway. Big files go through the command line."""

from __future__ import annotations

from starlette.responses import Response

from tracker import importer
from tracker.i18n import N_
from tracker.vocab import Role
from tracker.web.pages_render import PageContext

IMPORTERS = frozenset({Role.admin, Role.hotline})


def import_form(ctx: PageContext) -> Response:
    return ctx.render(
        "import/index.html",
        {
            "title": N_("Import cases"),
            "columns": importer.columns_help(),
            "report": None,
            "text": "",
            "dry_run": False,
            "skip_invalid": False,
        },
    )


def import_submit(ctx: PageContext) -> Response:
    text = ctx.field("csv")
    dry_run = ctx.field("dry_run") == "1"
    skip_invalid = ctx.field("skip_invalid") == "1"
    context = {
        "title": N_("Import cases"),
        "columns": importer.columns_help(),
        "text": text,
        "dry_run": dry_run,
        "skip_invalid": skip_invalid,
    }
    try:
        report = importer.import_cases(
            ctx.db,
            ctx.actor,
            ctx.org,
            text,
            ctx.now,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
        )
    except importer.ImportFailed as exc:
        report = importer.ImportReport(errors=exc.errors, dry_run=dry_run)
    if report.imported and not report.errors:
        context["text"] = ""  # written: do not offer the same rows for a second import
    status = 422 if report.errors and not report.imported else 200
    return ctx.render("import/index.html", {**context, "report": report}, status)


def template_csv(ctx: PageContext) -> Response:
    return Response(
        importer.template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="amparo-import-template.csv"'},
    )
