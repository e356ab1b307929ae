"""Reports: the ``/reports`` page (with server-rendered SVG charts), its CSV download, the API
operation ``GET /api/reports/field-offices`` (JSON, in ``api.OPERATIONS``) and the plain route
``GET /api/reports/field-offices.csv`` (the public, suppressed CSV). All scoped to the reader's
organisation; every handler is sync, so Starlette runs it off the event loop."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tracker import validators
from tracker.db import get_read_sessionmaker, session_scope
from tracker.facts import policy_for
from tracker.i18n import N_, gettext
from tracker.models import Organization
from tracker.permissions import PERMISSIONS
from tracker.report_export import public_csv
from tracker.report_periods import PublicPeriodError, public_period_fields
from tracker.reports import Bucket, Group
from tracker.types import utcnow
from tracker.web.api_routing import EARLIEST, LATEST, Context
from tracker.web.apiauth import authenticate
from tracker.web.errors import ApiError
from tracker.web.pages_render import PageContext
from tracker.web.report_process import field_office_report

READERS = PERMISSIONS["report.read"]
DEFAULT_PERIOD = timedelta(days=365)
OUT_OF_RANGE = "out of range"


class PeriodError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _parse_bound(raw: str, name: str, errors: dict[str, str]) -> datetime | None:
    """A day (``2026-10-01``) or an ISO 8601 instant with a zone."""
    try:
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        else:
            value = datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = N_("not a date (YYYY-MM-DD) or an ISO 8601 time with a zone")
        return None
    if value.tzinfo is None:
        errors[name] = N_("a time needs a zone, e.g. 2026-10-01T00:00Z")
        return None
    try:
        # Years 1 or 9999 would overflow below (a day added, a zone removed).
        return validators.plausible_time(value).astimezone(UTC)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def parse_period(
    raw_from: str | None, raw_to: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """``from`` inclusive; ``to`` a day is inclusive (the whole day), an instant exclusive."""
    errors: dict[str, str] = {}
    start = _parse_bound(raw_from, "from", errors) if raw_from else None
    end = _parse_bound(raw_to, "to", errors) if raw_to else None
    if errors:
        raise PeriodError(errors)
    try:
        if raw_to and end is not None and len(raw_to) == 10:
            end += timedelta(days=1)
        end = end or now
        start = start or end - DEFAULT_PERIOD
    except OverflowError as exc:
        raise PeriodError({"to" if raw_to else "from": OUT_OF_RANGE}) from exc
    # The API's range of times (api_routing): near enough that no arithmetic overflows.
    bounds = {
        name: "must be between 1900 and 2200"
        for name, value in (("from", start), ("to", end))
        if not EARLIEST <= value <= LATEST
    }
    if bounds:
        raise PeriodError(bounds)
    if end <= start:
        raise PeriodError({"to": "must be after from"})
    if end - start > timedelta(days=366 * 10):
        raise PeriodError({"from": "a period is at most ten years"})
    return start, end


# -- the JSON operation -------------------------------------------------------------------

Bound = Annotated[str, StringConstraints(max_length=40)]


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_: Bound | None = Field(
        None,
        alias="from",
        description="first day (YYYY-MM-DD) or instant (ISO 8601 with a zone); default a year "
        "before `to`",
    )
    to: Bound | None = Field(
        None, description="last day, inclusive (YYYY-MM-DD), or instant, exclusive; default now"
    )


class MetricsOut(BaseModel):
    filed: int
    granted: int
    denied: int
    withdrawn: int
    unanswered: int
    decided: int
    grant_rate: float | None
    median_days_to_decision: float | None
    p90_days_to_decision: float | None
    documentation_window_closed: int
    documented_within_48h: int
    documented_within_48h_share: float | None
    documented_denials: int
    advised_right_to_appeal: int
    advised_right_to_appeal_share: float | None


class GroupOut(MetricsOut):
    key: str
    label: str


class OfficeGroupOut(GroupOut):
    by_kind: dict[str, MetricsOut]


class BucketOut(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    from_: str = Field(alias="from", description="start of the week or month (ISO 8601)")
    granted: int
    denied: int


class FieldOfficeReportOut(BaseModel):
    """``tracker.reports.Report.as_dict``: the internal report (small cells not withheld)."""

    model_config = ConfigDict(serialize_by_alias=True)

    from_: str = Field(alias="from", description="start of the period (ISO 8601)")
    to: str = Field(description="end of the period, exclusive (ISO 8601)")
    as_of: str
    total: MetricsOut
    field_offices: list[OfficeGroupOut]
    request_kinds: list[GroupOut]
    countries_of_birth: list[GroupOut]
    races: list[GroupOut]
    ethnicities: list[GroupOut]
    stay_forums: list[GroupOut] = Field(description="stay requests only, by forum")
    decisions_over_time: list[BucketOut]


def _org(ctx: Context) -> Organization:
    org = ctx.session.get(Organization, ctx.actor.organization_id)
    if org is None:
        raise ApiError(404, "not_found", "organisation not found")
    return org


def field_office_report_json(ctx: Context) -> FieldOfficeReportOut:
    q: ReportQuery = ctx.query
    org = _org(ctx)
    try:
        start, end = parse_period(q.from_, q.to, ctx.now)
    except PeriodError as exc:
        raise ApiError(422, "invalid", "the period is not valid", exc.fields) from exc
    report = field_office_report(ctx.session, org, start, end, ctx.now)
    return FieldOfficeReportOut.model_validate(report.as_dict())


# -- the CSV download ---------------------------------------------------------------------


def _csv_response(body: str, start: datetime, end: datetime) -> Response:
    name = f"amparo-field-offices-{start.date()}-{(end - timedelta(seconds=1)).date()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def api_field_offices_csv(request: Request) -> Response:
    now = utcnow()
    # Only reads: no transaction holding SQLite's write lock while the report computes.
    with session_scope(get_read_sessionmaker()) as session:
        actor = authenticate(session, request, "report.read", now=now)
        org = session.get(Organization, actor.organization_id)
        if org is None:
            raise ApiError(404, "not_found", "organisation not found")
        try:
            start, end = public_period_fields(request.query_params, now)
        except PublicPeriodError as exc:
            raise ApiError(422, "invalid", "the period is not valid", exc.fields) from exc
        report = field_office_report(session, org, start, end, now, with_rows=True)
        return _csv_response(
            public_csv(report, policy_for(org)), report.period_from, report.period_to
        )


# -- the page -----------------------------------------------------------------------------

_COLOURS = {"granted": "#2e7d32", "denied": "#c62828", "bar": "#1565c0", "grid": "#d0d7de"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def bar_chart(title: str, rows: list[tuple[str, float | None, str]], chart_id: str) -> Markup:
    """Horizontal bars of shares (0..1): one row per label; ``None`` draws no bar."""
    label_w, bar_w, row_h, top = 70, 300, 26, 34
    height = top + row_h * max(len(rows), 1) + 10
    parts = [
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {label_w + bar_w + 90} '
        f'{height}" xmlns="http://www.w3.org/2000/svg" aria-labelledby="{chart_id}-t">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<text x="0" y="18" font-size="15" font-weight="600">{escape(title)}</text>',
    ]
    for tick in (0, 0.5, 1):
        x = label_w + bar_w * tick
        parts.append(
            f'<line x1="{x:.0f}" y1="{top - 6}" x2="{x:.0f}" y2="{height - 8}" '
            f'stroke="{_COLOURS["grid"]}"/>'
        )
    if not rows:
        parts.append(
            f'<text x="{label_w}" y="{top + 16}" font-size="13">{escape(gettext("No data"))}</text>'
        )
    for i, (label, share, note) in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" font-size="13" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        if share is not None:
            parts.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * share:.1f}" height="{row_h - 8}" '
                f'fill="{_COLOURS["bar"]}"><title>{escape(label)}: {_pct(share)} {escape(note)}'
                "</title></rect>"
            )
        x = label_w + bar_w * (share or 0) + 6
        parts.append(
            f'<text x="{x:.1f}" y="{y + 16}" font-size="12">{_pct(share)} {escape(note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def decisions_chart(buckets: list[Bucket], chart_id: str = "chart-decisions") -> Markup:
    """Stacked columns: grants and denials per week (or month) of the period."""
    width, height, left, bottom, top = 1000, 260, 36, 30, 30
    plot_h = height - top - bottom
    peak = max([b.granted + b.denied for b in buckets] + [1])
    n = max(len(buckets), 1)
    slot = (width - left - 10) / n
    parts = [
        f'<svg id="{chart_id}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{chart_id}-t">',
        f'<title id="{chart_id}-t">{escape(gettext("Decisions over time"))}</title>',
        '<text x="0" y="18" font-size="15" font-weight="600">'
        f"{escape(gettext('Decisions over time'))}</text>",
        f'<rect x="{width - 170}" y="6" width="10" height="10" fill="{_COLOURS["granted"]}"/>'
        f'<text x="{width - 155}" y="15" font-size="12">{escape(gettext("granted"))}</text>'
        f'<rect x="{width - 95}" y="6" width="10" height="10" fill="{_COLOURS["denied"]}"/>'
        f'<text x="{width - 80}" y="15" font-size="12">{escape(gettext("denied"))}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" '
        f'stroke="{_COLOURS["grid"]}"/>',
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    for i, b in enumerate(buckets):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        granted_h = plot_h * b.granted / peak
        denied_h = plot_h * b.denied / peak
        y_granted = top + plot_h - granted_h
        label = gettext("{day}: {granted} granted, {denied} denied").format(
            day=b.start.date(), granted=b.granted, denied=b.denied
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y_granted:.1f}" width="{w:.1f}" height="{granted_h:.1f}" '
            f'fill="{_COLOURS["granted"]}"><title>{escape(label)}</title></rect>'
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y_granted - denied_h:.1f}" width="{w:.1f}" '
            f'height="{denied_h:.1f}" fill="{_COLOURS["denied"]}"><title>{escape(label)}</title>'
            "</rect>"
        )
        if i % max(1, n // 6) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - 10}" font-size="11">'
                f"{b.start.strftime('%d %b')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def _office_rows(groups: list[Group], share: str) -> list[tuple[str, float | None, str]]:
    rows: list[tuple[str, float | None, str]] = []
    for g in groups:
        m = g.metrics
        if share == "grant":
            rows.append((g.key, m.grant_rate, gettext("of {n}").format(n=m.decided)))
        else:
            rows.append(
                (
                    g.key,
                    m.documented_on_time_share,
                    gettext("of {n}").format(n=m.documentation_window_closed),
                )
            )
    return rows


def reports_page(ctx: PageContext) -> Response:
    params = ctx.request.query_params
    try:
        start, end = parse_period(params.get("from"), params.get("to"), ctx.now)
    except PeriodError as exc:
        start, end = ctx.now - DEFAULT_PERIOD, ctx.now
        errors = exc.fields
    else:
        errors = {}
    report = field_office_report(ctx.db, ctx.org, start, end, ctx.now)
    last_day = (end - timedelta(seconds=1)).date()
    return ctx.render(
        "reports/index.html",
        {
            "title": N_("Reports"),
            "report": report,
            "errors": errors,
            "period_from": start.date().isoformat(),
            "period_to": last_day.isoformat(),
            "public_period": (ctx.now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
            "pct": _pct,
            "charts": {
                "grant": bar_chart(
                    gettext("Grant rate by field office"),
                    _office_rows(report.by_office, "grant"),
                    "chart-grant-rate",
                ),
                "documented": bar_chart(
                    gettext("Documented within 48 h by field office"),
                    _office_rows(report.by_office, "documented"),
                    "chart-documented",
                ),
                "over_time": decisions_chart(report.over_time),
            },
        },
    )


def reports_csv_page(ctx: PageContext) -> Response:
    try:
        start, end = public_period_fields(ctx.request.query_params, ctx.now)
    except PublicPeriodError as exc:
        return PlainTextResponse(str(exc), status_code=422)
    report = field_office_report(ctx.db, ctx.org, start, end, ctx.now, with_rows=True)
    return _csv_response(public_csv(report, policy_for(ctx.org)), start, end)
