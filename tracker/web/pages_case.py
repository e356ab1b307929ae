"""Intake (``/cases/new``) and the case page with its actions.

Every action goes through the services in ``tracker.services`` (the same write paths as the
API), in one transaction; on invalid input the transaction is rolled back and the page is
shown again (422) with the reasons beside the fields and what was typed kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker.facts import case_facts, policy_for
from tracker.i18n import N_
from tracker.models import Alert, Case, Facility, Notification, TimelineEvent, User
from tracker.models import Request as CaseRequest
from tracker.permissions import PERMISSIONS
from tracker.presentation import (
    CUSTODY_EVENT_LABELS,
    REQUEST_KIND_LABELS,
    STAY_FORUM_LABELS,
    zone_of,
)
from tracker.rules import evaluate, protecting_stay
from tracker.schemas import (
    AppealIn,
    CaseCreate,
    CaseUpdate,
    ContactCreate,
    CustodyEventIn,
    DeterminationIn,
    DocumentationIn,
    RequestCreate,
    RequestUpdate,
)
from tracker.services import Actor, NotFound, ServiceError, audit, conversations, liaisons
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import custody as custody_service
from tracker.services import requests as request_service
from tracker.vocab import (
    FACTORS,
    ContactRole,
    CustodyStatus,
    RequestKind,
    RequestStatus,
    Role,
    StayForum,
)
from tracker.web import pages_inbox
from tracker.web.pages_forms import LANGUAGES, checkbox, parse_local, validation_errors
from tracker.web.pages_render import PageContext, badges, flash, not_found, page, redirect

NEW_REQUEST_KINDS = [k for k in RequestKind if k is not RequestKind.appeal]
NOTIFICATIONS_SHOWN = 50


# --- intake -------------------------------------------------------------------------------


def _facilities(ctx: PageContext) -> list[Facility]:
    return list(ctx.db.scalars(select(Facility).order_by(Facility.name)))


def _org_users(ctx: PageContext) -> list[User]:
    return list(
        ctx.db.scalars(
            select(User)
            .where(User.organization_id == ctx.org.id, User.active.is_(True))
            .order_by(User.email)
        )
    )


def _intake_page(
    ctx: PageContext, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    return ctx.render(
        "intake.html",
        {
            "title": N_("New case"),
            "values": values,
            "errors": errors,
            "facilities": _facilities(ctx),
            "users": _org_users(ctx),
            "languages": LANGUAGES,
            "factors": FACTORS,
        },
        status,
    )


def intake_form(ctx: PageContext) -> Response:
    return _intake_page(ctx, {"family_language": "es", "factors": []}, {})


T = TypeVar("T")

INTAKE_FIELDS = (
    "given_name",
    "family_name",
    "a_number",
    "facility_id",
    "removal_scheduled_at",
    "attorney_id",
    "family_phone",
    "family_name_contact",
    "family_language",
    "family_consent",
    "family_consent_whatsapp",
    "family_consent_voice",
    "family_channel",
    "counsel_name",
    "counsel_phone",
)


def _zone_of_facility(ctx: PageContext, raw_id: str) -> str:
    try:
        facility = ctx.db.get(Facility, uuid.UUID(raw_id)) if raw_id else None
    except ValueError:
        facility = None
    return zone_of(ctx.default_zone, facility=facility, organization=ctx.org)


def channel_fields(sms: bool, whatsapp: bool, voice: bool, channel: str) -> dict[str, Any]:
    """A form's consent checkboxes and preferred-channel select as contact fields."""
    consented = [
        name for name, ticked in (("sms", sms), ("whatsapp", whatsapp), ("voice", voice)) if ticked
    ]
    return {"sms_consent": sms, "consented_channels": consented, "channel": channel or None}


def _intake_contact(
    role: ContactRole,
    fields: dict[str, Any],
    errors: dict[str, str],
    prefix: str,
    rename: dict[str, str] | None = None,
) -> ContactCreate | None:
    """A contact of the intake form, or None with its errors under the form's field names."""
    try:
        return ContactCreate(role=role, **fields)
    except ValidationError as exc:
        errors.update(validation_errors(exc, rename, prefix=prefix))
        return None


def intake_submit(ctx: PageContext) -> Response:
    values: dict[str, Any] = {name: ctx.field(name) for name in INTAKE_FIELDS}
    values["factors"] = ctx.fields("factors")
    errors: dict[str, str] = {}
    zone = _zone_of_facility(ctx, values["facility_id"])
    removal: datetime | None = None
    try:
        removal = parse_local(values["removal_scheduled_at"], zone)
    except ValueError as exc:
        errors["removal_scheduled_at"] = str(exc)

    case_data: CaseCreate | None = None
    try:
        case_data = CaseCreate(
            given_name=values["given_name"],
            family_name=values["family_name"] or None,
            a_number=values["a_number"] or None,
            facility_id=values["facility_id"] or None,
            attorney_id=values["attorney_id"] or None,
            removal_scheduled_at=removal,
            factors=values["factors"],
        )
    except ValidationError as exc:
        errors.update(validation_errors(exc))

    contacts: list[ContactCreate | None] = []
    consent = checkbox(values["family_consent"])
    reach = channel_fields(
        consent,
        checkbox(values["family_consent_whatsapp"]),
        checkbox(values["family_consent_voice"]),
        values["family_channel"],
    )
    if values["family_phone"]:
        family = {"name": values["family_name_contact"] or None, "phone": values["family_phone"]}
        family.update(language=values["family_language"] or "en", **reach)
        rename = {"name": "family_name_contact"}
        created = _intake_contact(ContactRole.family, family, errors, "family_", rename)
        if created is not None:
            try:
                contact_service.resolve_channels(None, [], created)
            except ServiceError as exc:
                errors.update({f"family_{k}": v for k, v in exc.fields.items()})
        contacts.append(created)
    elif consent or reach["consented_channels"]:
        errors["family_phone"] = N_("enter the number the family agreed to receive texts on")
    if values["counsel_phone"]:
        counsel = {"name": values["counsel_name"] or None, "phone": values["counsel_phone"]}
        contacts.append(_intake_contact(ContactRole.counsel, counsel, errors, "counsel_"))

    if errors or case_data is None:
        return _intake_page(ctx, values, errors, 422)
    try:
        # The removal is set after the contacts exist: setting it raises the removal alert at
        # once (alerts.sync_case), and that alert must reach the counsel entered here.
        removal_at = case_data.removal_scheduled_at
        case_data = case_data.model_copy(update={"removal_scheduled_at": None})
        case = case_service.create_case(ctx.db, ctx.actor, case_data, ctx.now)
        for contact in filter(None, contacts):
            contact_service.add_contact(ctx.db, ctx.actor, case, contact, ctx.now)
        if removal_at is not None:
            case_service.update_case(
                ctx.db, ctx.actor, case, CaseUpdate(removal_scheduled_at=removal_at), ctx.now
            )
    except ServiceError as exc:
        ctx.db.rollback()
        return _intake_page(ctx, values, exc.fields or {"form": exc.message}, 422)
    flash(ctx.request, N_("Case opened."))
    return redirect(f"/cases/{case.id}")


# --- the case page ------------------------------------------------------------------------


def _owned(
    ctx: PageContext, get: Callable[[Session, Actor, uuid.UUID], T], record_id: uuid.UUID | None
) -> T | None:
    """The record ``record_id`` names if the user's organisation holds it; else None (a 404)."""
    if record_id is None:
        return None
    try:
        return get(ctx.db, ctx.actor, record_id)
    except NotFound:
        return None


def _load_case(ctx: PageContext, case_id: uuid.UUID | None) -> Case | None:
    return _owned(ctx, case_service.get_case, case_id)


def _request_view(
    request: CaseRequest, request_badges: list[Any], appealed: set[uuid.UUID]
) -> dict[str, Any]:
    status = request.status
    decided = status in (RequestStatus.granted, RequestStatus.denied)
    return {
        "r": request,
        "label": REQUEST_KIND_LABELS[request.kind],
        "badges": request_badges,
        "can_file": status is RequestStatus.draft,
        "can_decide": status in (RequestStatus.draft, RequestStatus.filed),
        "can_document": decided and request.documentation_received_at is None,
        "can_appeal": status is RequestStatus.denied and request.id not in appealed,
        "is_stay": request.kind is RequestKind.stay_of_removal,
        "forum": STAY_FORUM_LABELS[request.forum],
    }


def render_case(
    ctx: PageContext,
    case: Case,
    form_errors: dict[str, dict[str, str]] | None = None,
    form_values: dict[str, dict[str, Any]] | None = None,
    status: int = 200,
    *,
    reply_errors: dict[str, str] | None = None,
    reply_values: dict[str, str] | None = None,
) -> Response:
    org = ctx.org
    zone = ctx.zone(case)
    case_facts_now = case_facts(case)
    flags = evaluate(case_facts_now, ctx.now, policy_for(org))
    protecting = protecting_stay(case_facts_now.requests, ctx.now)
    case_flags = [f for f in flags if f.request_id is None]
    by_request: dict[uuid.UUID, list[Any]] = {}
    for f in flags:
        if f.request_id is not None:
            by_request.setdefault(f.request_id, []).append(f)
    appealed = {r.appeal_of_id for r in case.requests if r.appeal_of_id is not None}
    requests = [
        _request_view(r, badges(by_request.get(r.id, []), ctx.now, zone), appealed)
        for r in sorted(case.requests, key=lambda r: r.created_at, reverse=True)
    ]
    alerts = list(
        ctx.db.scalars(
            select(Alert)
            .where(Alert.case_id == case.id, Alert.organization_id == org.id)
            .order_by(Alert.resolved_at.is_not(None), Alert.raised_at.desc())
        )
    )
    notifications = list(
        ctx.db.scalars(
            select(Notification)
            .where(Notification.case_id == case.id, Notification.organization_id == org.id)
            .order_by(Notification.created_at.desc())
            .limit(NOTIFICATIONS_SHOWN)
        )
    )
    events = list(
        ctx.db.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.case_id == case.id)
            .order_by(TimelineEvent.at.desc())
        )
    )
    audit.record(ctx.db, ctx.actor, "read", "case", case.id, now=ctx.now)
    # The conversation is on the page: shown is read (issue 15).
    conversations.mark_read(ctx.db, ctx.actor, case.id, None, ctx.now, audit_empty=False)
    return ctx.render(
        "case.html",
        {
            **pages_inbox.conversation_context(ctx, case, reply_errors, reply_values),
            "title": N_("Case"),
            "case": case,
            "zone": zone,
            "liaison": (
                liaisons.get(ctx.db, case.organization_id, case.field_office_id)
                if case.field_office_id
                else None
            ),
            "case_badges": badges(case_flags, ctx.now, zone),
            "all_badges": badges(flags, ctx.now, zone),
            "requests": requests,
            "alerts": alerts,
            "notifications": notifications,
            "events": events,
            "errors": form_errors or {},
            "values": form_values or {},
            "request_kinds": NEW_REQUEST_KINDS,
            "kind_labels": REQUEST_KIND_LABELS,
            "forums": STAY_FORUM_LABELS,
            "custody_events": custody_service.list_events(ctx.db, case),
            "custody_event_kinds": CUSTODY_EVENT_LABELS,
            "protecting": protecting,
            "languages": LANGUAGES,
            "factors": FACTORS,
            "custody_statuses": list(CustodyStatus),
            "users": _org_users(ctx),
            "facilities": _facilities(ctx),
        },
        422 if reply_errors else status,
    )


def case_page(ctx: PageContext) -> Response:
    case = _load_case(ctx, ctx.path_id("case_id"))
    if case is None:
        return not_found(ctx.request)
    return render_case(ctx, case)


def _failed(ctx: PageContext, case_id: uuid.UUID, form_id: str, errors: dict[str, str]) -> Response:
    """Roll back whatever the action wrote and show the case again with the reasons."""
    values = {name: ctx.field(name) for name in (ctx.form.keys() if ctx.form else [])}
    ctx.db.rollback()
    case = _load_case(ctx, case_id)
    if case is None:
        return not_found(ctx.request)
    return render_case(ctx, case, {form_id: errors}, {form_id: values}, 422)


def _attempt(
    ctx: PageContext,
    case_id: uuid.UUID,
    form_id: str,
    save: Callable[[], None],
    message: str,
    anchor: str = "",
) -> Response:
    """Run a form's ``save``: bad input or a refused change shows the form again with reasons."""
    try:
        save()
    except ValidationError as exc:
        return _failed(ctx, case_id, form_id, validation_errors(exc))
    except ServiceError as exc:
        return _failed(ctx, case_id, form_id, exc.fields or {"form": exc.message})
    return _done(ctx, case_id, message, anchor)


def _done(ctx: PageContext, case_id: uuid.UUID, message: str, anchor: str = "") -> Response:
    flash(ctx.request, message)
    return redirect(f"/cases/{case_id}" + (f"#{anchor}" if anchor else ""))


def _time_field(
    ctx: PageContext, name: str, zone: str, errors: dict[str, str], required: bool = False
) -> datetime | None:
    try:
        value = parse_local(ctx.field(name), zone)
    except ValueError as exc:
        errors[name] = str(exc)
        return None
    if value is None and required:
        errors[name] = N_("required")
    return value


def update_case(ctx: PageContext) -> Response:
    case = _load_case(ctx, ctx.path_id("case_id"))
    if case is None:
        return not_found(ctx.request)
    form_id = "case"
    errors: dict[str, str] = {}
    zone = ctx.zone(case)
    removal = _time_field(ctx, "removal_scheduled_at", zone, errors)
    if errors:
        return _failed(ctx, case.id, form_id, errors)

    def save() -> None:
        # The form shows every field with its current value: what is sent is the new state.
        fields: dict[str, Any] = {
            "removal_scheduled_at": removal,
            "facility_id": ctx.field("facility_id") or None,
            "attorney_id": ctx.field("attorney_id") or None,
            "factors": ctx.fields("factors"),
            "closed": checkbox(ctx.field("closed")),
        }
        if ctx.field("custody_status"):
            fields["custody_status"] = ctx.field("custody_status")
        data = CaseUpdate(**fields)
        case_service.update_case(ctx.db, ctx.actor, case, data, ctx.now)

    return _attempt(ctx, case.id, form_id, save, N_("Case updated."))


def add_request(ctx: PageContext) -> Response:
    case = _load_case(ctx, ctx.path_id("case_id"))
    if case is None:
        return not_found(ctx.request)
    form_id = "new_request"
    errors: dict[str, str] = {}
    filed_at = _time_field(ctx, "filed_at", ctx.zone(case), errors)
    if errors:
        return _failed(ctx, case.id, form_id, errors)

    def save() -> None:
        data = RequestCreate(
            kind=ctx.field("kind"),
            forum=ctx.field("forum") or StayForum.ice,
            filed_at=filed_at,
            status=ctx.field("status") or None,
            notes=ctx.field("notes") or None,
        )
        request_service.create_request(ctx.db, ctx.actor, case, data, ctx.now)

    return _attempt(ctx, case.id, form_id, save, N_("Request added."), "requests")


def add_contact(ctx: PageContext) -> Response:
    case = _load_case(ctx, ctx.path_id("case_id"))
    if case is None:
        return not_found(ctx.request)
    form_id = "contact"

    def save() -> None:
        data = ContactCreate(
            role=ctx.field("role"),
            name=ctx.field("name") or None,
            phone=ctx.field("phone"),
            language=ctx.field("language") or "en",
            **channel_fields(
                checkbox(ctx.field("sms_consent")),
                checkbox(ctx.field("whatsapp_consent")),
                checkbox(ctx.field("voice_consent")),
                ctx.field("channel"),
            ),
        )
        contact_service.add_contact(ctx.db, ctx.actor, case, data, ctx.now)

    return _attempt(ctx, case.id, form_id, save, N_("Contact added."), "contacts")


def add_custody_event(ctx: PageContext) -> Response:
    case = _load_case(ctx, ctx.path_id("case_id"))
    if case is None:
        return not_found(ctx.request)
    form_id = "custody"
    errors: dict[str, str] = {}
    at = _time_field(ctx, "at", ctx.zone(case), errors, required=True)
    if errors:
        return _failed(ctx, case.id, form_id, errors)

    def save() -> None:
        data = CustodyEventIn(
            kind=ctx.field("kind"),
            at=at,
            facility_id=ctx.field("facility_id") or None,
            source=ctx.field("source") or None,
            notes=ctx.field("notes") or None,
        )
        custody_service.record_event(ctx.db, ctx.actor, case, data, ctx.now)

    return _attempt(ctx, case.id, form_id, save, N_("Custody event recorded."), "custody")


RequestAction = Callable[[PageContext, CaseRequest, str, dict[str, str]], str]


def _request_action(action: RequestAction, name: str) -> Callable[[PageContext], Response]:
    """Common frame of the actions on one request: find it (in the org), run, redirect."""

    def handler(ctx: PageContext) -> Response:
        request = _owned(ctx, request_service.get_request, ctx.path_id("request_id"))
        if request is None:
            return not_found(ctx.request)
        case_id = request.case_id
        form_id = f"{name}-{request.id}"
        errors: dict[str, str] = {}
        zone = ctx.zone(request.case)
        try:
            message = action(ctx, request, zone, errors)
        except ValidationError as exc:
            errors.update(validation_errors(exc))
        except ServiceError as exc:
            errors.update(exc.fields or {"form": exc.message})
        if errors:
            return _failed(ctx, case_id, form_id, errors)
        return _done(ctx, case_id, message, f"request-{request.id}")

    handler.__name__ = f"request_{name}"
    return handler


def _file(ctx: PageContext, request: CaseRequest, zone: str, errors: dict[str, str]) -> str:
    filed_at = _time_field(ctx, "filed_at", zone, errors)
    if errors:
        return ""
    data = RequestUpdate(status=RequestStatus.filed, filed_at=filed_at or ctx.now)
    request_service.update_request(ctx.db, ctx.actor, request, data, ctx.now)
    return N_("Request marked as filed.")


def _determination(
    ctx: PageContext, request: CaseRequest, zone: str, errors: dict[str, str]
) -> str:
    decided_at = _time_field(ctx, "decided_at", zone, errors, required=True)
    stay_expires_at = _time_field(ctx, "stay_expires_at", zone, errors)
    if errors or decided_at is None:
        return ""
    data = DeterminationIn(
        outcome=ctx.field("outcome"),
        decided_at=decided_at,
        stay_expires_at=stay_expires_at,
        temporary=checkbox(ctx.field("temporary")),
    )
    request_service.record_determination(ctx.db, ctx.actor, request, data, ctx.now)
    if data.outcome == "granted":
        return N_("Decision recorded: granted. ICE owes written documentation within 48 hours.")
    return N_("Decision recorded: denied. ICE owes written documentation within 48 hours.")


def _documentation(
    ctx: PageContext, request: CaseRequest, zone: str, errors: dict[str, str]
) -> str:
    received_at = _time_field(ctx, "received_at", zone, errors, required=True)
    advised = ctx.field("advised_right_to_appeal")
    if advised not in ("yes", "no"):
        errors["advised_right_to_appeal"] = N_("say whether the right to appeal was explained")
    if errors or received_at is None:
        return ""
    data = DocumentationIn(
        received_at=received_at,
        language=ctx.field("language"),
        advised_right_to_appeal=advised == "yes",
    )
    request_service.record_documentation(ctx.db, ctx.actor, request, data, ctx.now)
    return N_("Documentation recorded.")


def _appeal(ctx: PageContext, request: CaseRequest, zone: str, errors: dict[str, str]) -> str:
    filed_at = _time_field(ctx, "filed_at", zone, errors)
    if errors:
        return ""
    data = AppealIn(filed_at=filed_at, notes=ctx.field("notes") or None)
    request_service.appeal(ctx.db, ctx.actor, request, data, ctx.now)
    return N_("Appeal created.")


def acknowledge_alert(ctx: PageContext) -> Response:
    alert = _owned(ctx, alert_service.get_alert, ctx.path_id("alert_id"))
    if alert is None:
        return not_found(ctx.request)
    alert_service.acknowledge(ctx.db, ctx.actor, alert, ctx.now, via="web")
    return _done(ctx, alert.case_id, N_("Alert acknowledged: escalation stopped."), "alerts")


def _may(permission: str) -> frozenset[Role]:
    """The role policy (``tracker.permissions``): the pages allow exactly what the API does."""
    return PERMISSIONS[permission]


def _request_route(name: str, action: RequestAction, permission: str) -> Route:
    """``POST /requests/{id}/<name>``: one form of a request's card on the case page."""
    handler = page(_request_action(action, name), _may(permission))
    return Route(f"/requests/{{request_id}}/{name}", handler, methods=["POST"])


routes: list[BaseRoute] = [
    Route("/cases/new", page(intake_form, _may("case.create")), methods=["GET"], name="intake"),
    Route("/cases/new", page(intake_submit, _may("case.create")), methods=["POST"]),
    Route("/cases/{case_id}", page(case_page, _may("case.read")), methods=["GET"], name="case"),
    Route("/cases/{case_id}", page(update_case, _may("case.update")), methods=["POST"]),
    Route("/cases/{case_id}/requests", page(add_request, _may("request.create")), methods=["POST"]),
    Route("/cases/{case_id}/contacts", page(add_contact, _may("contact.write")), methods=["POST"]),
    Route(
        "/cases/{case_id}/custody-events",
        page(add_custody_event, _may("custody.write")),
        methods=["POST"],
    ),
    _request_route("file", _file, "request.update"),
    _request_route("determination", _determination, "request.decide"),
    _request_route("documentation", _documentation, "request.decide"),
    _request_route("appeal", _appeal, "request.decide"),
    Route("/alerts/{alert_id}/ack", page(acknowledge_alert, _may("alert.ack")), methods=["POST"]),
]
