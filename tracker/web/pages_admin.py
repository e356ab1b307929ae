"""Administration pages (role admin): users, facilities, field-office liaisons, settings.

Every change is audited in its transaction. An administrator cannot demote or deactivate
themselves, so that an organisation is never left without one by a slip of the finger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker import i18n, rules, validators
from tracker.i18n import N_
from tracker.models import ApiToken, Facility, FieldOffice, Organization, User
from tracker.presentation import FACILITY_KIND_LABELS, REQUEST_KIND_LABELS
from tracker.schemas import FacilityCreate, UserCreate
from tracker.services import ServiceError, audit, liaisons
from tracker.services import facilities as facility_service
from tracker.services import users as user_service
from tracker.services.orgs import create_user
from tracker.vocab import FacilityKind, RequestKind, Role
from tracker.web.pages_forms import checkbox, validation_errors
from tracker.web.pages_render import PageContext, flash, not_found, page, redirect

ADMIN = frozenset({Role.admin})
_QUIET = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")


def index(ctx: PageContext) -> Response:
    return ctx.render("admin/index.html", {"title": N_("Administration")})


# --- users --------------------------------------------------------------------------------


def _form_page(
    ctx: PageContext,
    template: str,
    title: str,
    errors: Mapping[str, object] | None,
    values: Mapping[str, object] | None,
    status: int,
    **context: object,
) -> Response:
    """An admin page with forms: the errors of the last submission and the values typed."""
    page_context = {"title": title, "errors": errors or {}, "values": values or {}, **context}
    return ctx.render(template, page_context, status)


def _offices(ctx: PageContext) -> list[FieldOffice]:
    return list(ctx.db.scalars(select(FieldOffice).order_by(FieldOffice.name)))


def _users_page(
    ctx: PageContext,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    invited: tuple[User, str] | None = None,
    status: int = 200,
    reset: tuple[User, str] | None = None,
) -> Response:
    users = list(
        ctx.db.scalars(select(User).where(User.organization_id == ctx.org.id).order_by(User.email))
    )
    return _form_page(
        ctx,
        "admin/users.html",
        N_("Users"),
        errors,
        values or {"role": Role.hotline.value},
        status,
        users=users,
        tokens=user_service.tokens_of_org(ctx.db, ctx.org.id),
        roles=list(Role),
        invited=invited,
        reset=reset,
    )


def users(ctx: PageContext) -> Response:
    return _users_page(ctx)


def invite(ctx: PageContext) -> Response:
    values = {name: ctx.field(name) for name in ("email", "role", "name", "phone")}
    try:
        data = UserCreate(
            email=values["email"],
            role=values["role"],
            name=values["name"] or None,
            phone=values["phone"] or None,
        )
        user, password = create_user(ctx.db, ctx.actor, ctx.org, data, ctx.now)
    except ValidationError as exc:
        return _users_page(ctx, validation_errors(exc), values, status=422)
    except ServiceError as exc:
        ctx.db.rollback()
        return _users_page(ctx, exc.fields or {"form": exc.message}, values, status=422)
    # Shown once, in this response only (no redirect, never stored in clear).
    return _users_page(ctx, invited=(user, password))


def update_user(ctx: PageContext) -> Response:
    user_id = ctx.path_id("user_id")
    user = ctx.db.get(User, user_id) if user_id else None
    if user is None or user.organization_id != ctx.org.id:
        return not_found(ctx.request)
    errors: dict[str, str] = {}
    role_raw = ctx.field("role")
    if role_raw not in Role.__members__:
        errors["role"] = N_("one of {choices}").format(choices=", ".join(Role))
    active = checkbox(ctx.field("active"))
    if user.id == ctx.user.id and (role_raw != Role.admin.value or not active):
        errors["role"] = N_("you cannot remove your own administrator access")
    # Only a language the pages are offered in; a row saved without touching the select keeps
    # the user's setting (say ``pt-BR`` for their SMS, shown as English pages).
    language = user.language
    language_raw = ctx.field("language")
    if language_raw and language_raw != i18n.page_language(user.language):
        if i18n.supported(language_raw) != language_raw:
            choices = ", ".join(i18n.LANGUAGES)
            errors["language"] = N_("one of {choices}").format(choices=choices)
        language = language_raw
    if errors:
        return _users_page(ctx, errors, status=422)
    before = {"role": user.role, "active": user.active, "language": user.language}
    user.role = Role(role_raw)
    user.active = active
    user.language = language
    changes = audit.diff(
        before, {"role": user.role, "active": user.active, "language": user.language}
    )
    if changes:
        if set(changes) - {"language"}:
            # A new role or a deactivation holds from the next request, in every open session.
            user_service.end_sessions(user)
        user.updated_at = ctx.now
        audit.record(ctx.db, ctx.actor, "update", "user", user.id, changes, now=ctx.now)
        flash(ctx.request, N_("{email} updated.").format(email=user.email))
    return redirect("/admin/users")


def _org_user(ctx: PageContext) -> User | None:
    user_id = ctx.path_id("user_id")
    user = ctx.db.get(User, user_id) if user_id else None
    return user if user is not None and user.organization_id == ctx.org.id else None


def reset_password(ctx: PageContext) -> Response:
    user = _org_user(ctx)
    if user is None:
        return not_found(ctx.request)
    if user.id == ctx.user.id:
        return _users_page(
            ctx, {"password": N_("change your own password on the Password page")}, status=422
        )
    password = user_service.reset_password(ctx.db, ctx.actor, user, ctx.now)
    # Shown once, in this response only (no redirect, never stored in clear).
    return _users_page(ctx, reset=(user, password))


def revoke_token(ctx: PageContext) -> Response:
    token_id = ctx.path_id("token_id")
    token = ctx.db.get(ApiToken, token_id) if token_id else None
    if token is None or token.user.organization_id != ctx.org.id:
        return not_found(ctx.request)
    if user_service.revoke_token(ctx.db, ctx.actor, token, ctx.now):
        flash(
            ctx.request,
            N_("Token {label} of {email} revoked.").format(
                label=token.label or "", email=token.user.email
            ),
        )
    return redirect("/admin/users#tokens")


# --- facilities ---------------------------------------------------------------------------


def _facilities_page(
    ctx: PageContext,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return _form_page(
        ctx,
        "admin/facilities.html",
        "Facilities",
        errors,
        values,
        status,
        facilities=list(ctx.db.scalars(select(Facility).order_by(Facility.name))),
        offices=_offices(ctx),
        facility_kinds=FACILITY_KIND_LABELS,
    )


def facilities(ctx: PageContext) -> Response:
    return _facilities_page(ctx)


def create_facility(ctx: PageContext) -> Response:
    values = {name: ctx.field(name) for name in ("name", "field_office_id", "time_zone", "kind")}
    try:
        data = FacilityCreate(
            name=values["name"],
            field_office_id=values["field_office_id"] or None,
            time_zone=values["time_zone"],
            kind=values["kind"] or FacilityKind.detention,
        )
    except ValidationError as exc:
        return _facilities_page(ctx, validation_errors(exc), values, 422)
    try:
        facility = facility_service.create_facility(ctx.db, ctx.actor, data, ctx.now)
    except ServiceError as exc:
        ctx.db.rollback()
        return _facilities_page(ctx, exc.fields or {"form": exc.message}, values, 422)
    flash(ctx.request, N_("Facility {name} added.").format(name=facility.name))
    return redirect("/admin/facilities")


def _phone_or_none(value: str | None) -> str | None:
    return validators.phone(value) if value else None


# An optional phone on a form, where an empty field means none.
BlankOrPhone = Annotated[str | None, AfterValidator(_phone_or_none)]


# --- field offices ------------------------------------------------------------------------


class LiaisonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    liaison_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    liaison_phone: BlankOrPhone = None
    liaison_email: Annotated[str, StringConstraints(max_length=320)] | None = None

    @field_validator("liaison_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if not value:
            return None
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError(N_("not an e-mail address"))
        return value.lower()


def _offices_page(
    ctx: PageContext,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    offices = _offices(ctx)
    return _form_page(
        ctx,
        "admin/field_offices.html",
        "Field offices",
        errors,
        values,
        status,
        offices=offices,
        # This organisation's own liaisons: another organisation's are never shown.
        liaisons=liaisons.of_org(ctx.db, ctx.org.id),
    )


def field_offices(ctx: PageContext) -> Response:
    return _offices_page(ctx)


def update_field_office(ctx: PageContext) -> Response:
    office_id = ctx.path_id("office_id")
    office = ctx.db.get(FieldOffice, office_id) if office_id else None
    if office is None:
        return not_found(ctx.request)
    values = {n: ctx.field(n) for n in ("liaison_name", "liaison_phone", "liaison_email")}
    try:
        data = LiaisonIn(**{k: v or None for k, v in values.items()})
    except ValidationError as exc:
        key = str(office.id)
        return _offices_page(ctx, {key: validation_errors(exc)}, {key: values}, 422)
    fields = {name.removeprefix("liaison_"): value for name, value in data.model_dump().items()}
    if liaisons.set_liaison(ctx.db, ctx.actor, office, fields, ctx.now):
        flash(ctx.request, N_("{office} liaison updated.").format(office=office.name))
    return redirect(f"/admin/field-offices#office-{office.id}")


# --- organisation settings ----------------------------------------------------------------


class OrgSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    oncall_phone: BlankOrPhone = None
    alert_ladder_hours: list[int]
    default_unanswered_days: int = Field(ge=1, le=365)
    unanswered_days: dict[str, int] = Field(default_factory=dict)
    escalation_delay_minutes: int = Field(ge=1, le=24 * 60)
    whereabouts_hours: int = Field(ge=1, le=24 * 30)
    quiet_hours: str | None = None
    retention_days: int = Field(ge=30, le=3650)
    time_zone: str
    sms_from_number: BlankOrPhone = None
    messaging_service_sid: str | None = None

    @field_validator("messaging_service_sid")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _MESSAGING_SERVICE.match(value):
            raise ValueError(N_("a Twilio Messaging Service SID: MG and 32 hexadecimal digits"))
        return value

    @field_validator("alert_ladder_hours")
    @classmethod
    def _ladder(cls, value: list[int]) -> list[int]:
        hours = sorted(set(value), reverse=True)
        if not hours or any(h <= 0 or h > 24 * 30 for h in hours):
            raise ValueError(N_("whole hours between 1 and 720, e.g. 72, 24, 6"))
        return hours

    @field_validator("unanswered_days")
    @classmethod
    def _days(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, days in value.items():
            if kind not in RequestKind.__members__:
                raise ValueError(f"unknown request kind {kind}")
            if not 1 <= days <= 365:
                raise ValueError(N_("days between 1 and 365"))
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.lower() == "off" or _QUIET.match(value):
            return value.lower()
        raise ValueError(N_("HH:MM-HH:MM (e.g. 21:00-08:00), or off"))

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return validators.time_zone(value)


SETTINGS_FIELDS = (
    "oncall_phone",
    "alert_ladder_hours",
    "default_unanswered_days",
    "unanswered_days",
    "escalation_delay_minutes",
    "whereabouts_hours",
    "quiet_hours",
    "retention_days",
    "time_zone",
    "sms_from_number",
    "messaging_service_sid",
)


def _settings_values(ctx: PageContext) -> dict[str, str]:
    org = ctx.org
    values = {
        "oncall_phone": org.oncall_phone or "",
        "alert_ladder_hours": ", ".join(str(h) for h in org.alert_ladder_hours or []),
        "default_unanswered_days": str(org.default_unanswered_days),
        "escalation_delay_minutes": str(org.escalation_delay_minutes),
        "whereabouts_hours": str(org.whereabouts_hours),
        "quiet_hours": org.quiet_hours or "",
        "retention_days": str(org.retention_days),
        "time_zone": org.time_zone,
        "sms_from_number": org.sms_from_number or "",
        "messaging_service_sid": org.messaging_service_sid or "",
    }
    for kind in RequestKind:
        days = (org.unanswered_days or {}).get(kind.value)
        values[f"unanswered_days_{kind.value}"] = str(days) if days else ""
    return values


def _settings_page(
    ctx: PageContext,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    kinds = [(k.value, REQUEST_KIND_LABELS[k]) for k in RequestKind]
    return _form_page(
        ctx, "admin/settings.html", "Organisation settings", errors, values, status, kinds=kinds
    )


def settings_form(ctx: PageContext) -> Response:
    return _settings_page(ctx, _settings_values(ctx))


def _int_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


def settings_submit(ctx: PageContext) -> Response:
    values = {n: ctx.field(n) for n in SETTINGS_FIELDS if n != "unanswered_days"}
    per_kind: dict[str, str] = {}
    for kind in RequestKind:
        raw = ctx.field(f"unanswered_days_{kind.value}")
        values[f"unanswered_days_{kind.value}"] = raw
        if raw:
            per_kind[kind.value] = raw
    try:
        data = OrgSettingsIn.model_validate(
            {
                "oncall_phone": values["oncall_phone"] or None,
                "alert_ladder_hours": _int_list(values["alert_ladder_hours"]),
                "default_unanswered_days": values["default_unanswered_days"],
                "unanswered_days": per_kind,
                "escalation_delay_minutes": values["escalation_delay_minutes"],
                # Left blank (or posted by a form older than the field): the default.
                "whereabouts_hours": values["whereabouts_hours"]
                or str(rules.DEFAULT_WHEREABOUTS_HOURS),
                "quiet_hours": values["quiet_hours"] or None,
                "retention_days": values["retention_days"],
                "time_zone": values["time_zone"],
                "sms_from_number": values["sms_from_number"] or None,
                "messaging_service_sid": values["messaging_service_sid"] or None,
            }
        )
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            loc = error.get("loc") or ("form",)
            name = str(loc[0])
            if name == "unanswered_days" and len(loc) > 1:
                name = f"unanswered_days_{loc[1]}"
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            errors.setdefault(name, message)
        return _settings_page(ctx, values, errors, 422)
    org = ctx.org
    taken = _sender_taken(ctx, data)
    if taken:
        return _settings_page(ctx, values, taken, 422)
    before: dict[str, Any] = {n: getattr(org, n) for n in SETTINGS_FIELDS}
    after = data.model_dump()
    for name, value in after.items():
        setattr(org, name, value)
    changes = audit.diff(before, after)
    if changes:
        org.updated_at = ctx.now
        audit.record(
            ctx.db,
            ctx.actor,
            "update",
            "organization",
            org.id,
            changes,
            organization_id=org.id,
            now=ctx.now,
        )
        flash(ctx.request, N_("Settings saved."))
    return redirect("/admin/settings")


def _sender_taken(ctx: PageContext, data: OrgSettingsIn) -> dict[str, str]:
    """A sender routes inbound replies to one organisation: it cannot be two's."""
    errors: dict[str, str] = {}
    settings = ctx.request.app.state.settings
    # The deployment's own sender is every organisation's: claiming it would route every reply
    # on it (and every STOP) to this organisation alone.
    shared = {settings.twilio_from_number, settings.twilio_messaging_service_sid} - {""}
    for name in ("sms_from_number", "messaging_service_sid"):
        value = getattr(data, name)
        if value and value in shared:
            errors[name] = N_("this is the deployment's shared sender, not an organisation's own")
        elif value and ctx.db.scalar(
            select(Organization.id).where(
                getattr(Organization, name) == value, Organization.id != ctx.org.id
            )
        ):
            errors[name] = N_("another organisation already sends from this")
    return errors


routes: list[BaseRoute] = [
    Route("/admin", page(index, ADMIN), methods=["GET"], name="admin"),
    Route("/admin/users", page(users, ADMIN), methods=["GET"]),
    Route("/admin/users", page(invite, ADMIN), methods=["POST"]),
    Route("/admin/users/{user_id}", page(update_user, ADMIN), methods=["POST"]),
    Route("/admin/users/{user_id}/password", page(reset_password, ADMIN), methods=["POST"]),
    Route("/admin/tokens/{token_id}/revoke", page(revoke_token, ADMIN), methods=["POST"]),
    Route("/admin/facilities", page(facilities, ADMIN), methods=["GET"]),
    Route("/admin/facilities", page(create_facility, ADMIN), methods=["POST"]),
    Route("/admin/field-offices", page(field_offices, ADMIN), methods=["GET"]),
    Route("/admin/field-offices/{office_id}", page(update_field_office, ADMIN), methods=["POST"]),
    Route("/admin/settings", page(settings_form, ADMIN), methods=["GET"]),
    Route("/admin/settings", page(settings_submit, ADMIN), methods=["POST"]),
]
