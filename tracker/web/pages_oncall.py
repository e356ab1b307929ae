"""The on-call page (issue 15): admins plan shifts; the queue shows who is on call now.

Times are typed and shown in the organisation's zone; a weekly shift repeats at the same local
times (``tracker.oncall``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker import i18n
from tracker.i18n import N_
from tracker.models import User
from tracker.permissions import PERMISSIONS
from tracker.schemas import ShiftCreate
from tracker.services import NotFound, ServiceError
from tracker.services import oncall as oncall_service
from tracker.timefmt import local_label
from tracker.validators import mask_phone
from tracker.web.pages_forms import checkbox, parse_local, validation_errors
from tracker.web.pages_render import PageContext, flash, not_found, page, redirect

ADMINS = PERMISSIONS["oncall.write"]
FIELDS = ("user_id", "name", "phone", "starts_at", "ends_at", "weekly")


def who_is_on_call(ctx: PageContext) -> list[dict[str, str]]:
    """For the queue page: the people on shift now, phones masked."""
    zone = ctx.org.time_zone
    return [
        {
            "name": p.name,
            "phone": mask_phone(p.phone),
            "until": local_label(p.until, zone, i18n.current()),
        }
        for p in oncall_service.on_call_now(ctx.db, ctx.org, ctx.now)
    ]


def _page(
    ctx: PageContext,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    zone = ctx.org.time_zone
    shifts: list[dict[str, Any]] = []
    for shift in oncall_service.shifts_of(ctx.db, ctx.org.id):
        name, phone, _language = oncall_service.person(shift)
        shifts.append(
            {
                "id": shift.id,
                "name": name,
                "phone": mask_phone(phone) if phone else "no phone",
                "starts": local_label(shift.starts_at, zone, i18n.current()),
                "ends": local_label(shift.ends_at, zone, i18n.current()),
                "weekly": shift.weekly,
            }
        )
    users = ctx.db.scalars(
        select(User)
        .where(User.organization_id == ctx.org.id, User.active.is_(True), User.phone.is_not(None))
        .order_by(User.email)
    )
    return ctx.render(
        "admin/on_call.html",
        {
            "title": N_("On call"),
            "errors": errors or {},
            "values": values or {},
            "shifts": shifts,
            "on_call": who_is_on_call(ctx),
            "users": list(users),
            "zone": zone,
        },
        status,
    )


def on_call_page(ctx: PageContext) -> Response:
    return _page(ctx)


def add_shift(ctx: PageContext) -> Response:
    values = {name: ctx.field(name) for name in FIELDS}
    zone = ctx.org.time_zone
    errors: dict[str, str] = {}
    times: dict[str, Any] = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = parse_local(values[name], zone)
        except ValueError as exc:
            errors[name] = str(exc)
        if times.get(name) is None and name not in errors:
            errors[name] = N_("required")
    if errors:
        return _page(ctx, errors, values, 422)
    try:
        data = ShiftCreate(
            user_id=values["user_id"] or None,
            name=None if values["user_id"] else values["name"] or None,
            phone=None if values["user_id"] else values["phone"] or None,
            weekly=checkbox(values["weekly"]),
            **times,
        )
    except ValidationError as exc:
        return _page(ctx, validation_errors(exc), values, 422)
    try:
        oncall_service.create_shift(ctx.db, ctx.actor, data, ctx.now)
    except ServiceError as exc:
        ctx.db.rollback()
        return _page(ctx, exc.fields or {"form": exc.message}, values, 422)
    flash(ctx.request, N_("Shift added."))
    return redirect("/admin/on-call")


def delete_shift(ctx: PageContext) -> Response:
    shift_id = ctx.path_id("shift_id")
    if shift_id is None:
        return not_found(ctx.request)
    try:
        shift = oncall_service.get_shift(ctx.db, ctx.actor, shift_id)
    except NotFound:
        return not_found(ctx.request)
    oncall_service.delete_shift(ctx.db, ctx.actor, shift, ctx.now)
    flash(ctx.request, N_("Shift removed."))
    return redirect("/admin/on-call")


routes: list[BaseRoute] = [
    Route("/admin/on-call", page(on_call_page, ADMINS), methods=["GET"]),
    Route("/admin/on-call", page(add_shift, ADMINS), methods=["POST"]),
    Route("/admin/on-call/{shift_id}/delete", page(delete_shift, ADMINS), methods=["POST"]),
]
