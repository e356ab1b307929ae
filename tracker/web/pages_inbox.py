"""The two-way inbox pages (issue 15): the organisation's conversations, one case's
conversation, and the reply form used there and on the case page.

The reply goes through ``services.conversations.reply`` (the API's write path); a refused
reply shows the form again (422) with the reasons and the typed text, nothing written.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tracker.i18n import N_
from tracker.models import Case
from tracker.permissions import PERMISSIONS
from tracker.services import NotFound, ServiceError, conversations
from tracker.services import cases as case_service
from tracker.vocab import ContactRole
from tracker.web.pages_render import PageContext, flash, not_found, page, redirect

PAGE_SIZE = 25


def _case(ctx: PageContext) -> Case | None:
    case_id = ctx.path_id("case_id")
    if case_id is None:
        return None
    try:
        return case_service.get_case(ctx.db, ctx.actor, case_id)
    except NotFound:
        return None


def reply_contacts(case: Case) -> list[dict[str, Any]]:
    """The case's contacts for the reply form, each with why it cannot be texted (if so)."""
    out = []
    for c in case.contacts:
        why = ""
        if c.opted_out_at is not None:
            why = N_("opted out")
        elif c.role is ContactRole.family and not c.sms_consent:
            why = N_("no SMS consent")
        out.append({"contact": c, "blocked": why})
    return out


def conversation_context(
    ctx: PageContext,
    case: Case,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What ``_conversation.html`` shows: the thread, the reply form and its count."""
    values = dict(values or {})
    counted = conversations.count(values.get("body", ""))
    thread = conversations.thread(ctx.db, case.id)
    if not values.get("contact_id"):
        # The reply answers whoever wrote last.
        latest = [i.message.contact_id for i in thread if i.message.direction.value == "in"]
        if latest and latest[-1] is not None:
            values["contact_id"] = str(latest[-1])
    return {
        "thread": thread,
        "reply_contacts": reply_contacts(case),
        "reply_errors": errors or {},
        "reply_values": values,
        "reply_count": counted,
        "reply_limits": {
            "chars": conversations.MAX_CHARS,
            "segments": conversations.MAX_SEGMENTS,
        },
    }


def inbox_page(ctx: PageContext) -> Response:
    raw = ctx.request.query_params.get("page", "1")
    number = int(raw) if raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1
    rows, more = conversations.inbox(ctx.db, ctx.org.id, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    return ctx.render(
        "inbox.html",
        {
            "title": N_("Inbox"),
            "rows": rows,
            "page_number": number,
            "more": more,
            "zone": ctx.org.time_zone,
        },
    )


def _thread_page(
    ctx: PageContext,
    case: Case,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    # Opening the conversation reads it: marked read, audited.
    conversations.mark_read(ctx.db, ctx.actor, case.id, None, ctx.now)
    context = {
        "title": N_("Conversation"),
        "case": case,
        "zone": ctx.zone(case),
        **conversation_context(ctx, case, errors, values),
    }
    return ctx.render("inbox_thread.html", context, status)


def thread_page(ctx: PageContext) -> Response:
    case = _case(ctx)
    if case is None:
        return not_found(ctx.request)
    return _thread_page(ctx, case)


def reply(ctx: PageContext) -> Response:
    """``POST /cases/{id}/messages``: from the inbox or the case page (``back``)."""
    case = _case(ctx)
    if case is None:
        return not_found(ctx.request)
    values = {"contact_id": ctx.field("contact_id"), "body": ctx.field("body")}
    back = "case" if ctx.field("back") == "case" else "inbox"
    contact_id: uuid.UUID | None = None
    try:
        contact_id = uuid.UUID(values["contact_id"]) if values["contact_id"] else None
    except ValueError:
        return _refused(ctx, case, back, {"contact_id": N_("no such contact on this case")}, values)
    try:
        conversations.reply(ctx.db, ctx.actor, case, contact_id, values["body"], ctx.now)
    except ServiceError as exc:
        return _refused(ctx, case, back, exc.fields or {"form": exc.message}, values)
    flash(
        ctx.request,
        N_("Reply queued: it goes out by SMS or WhatsApp, after quiet hours if they apply."),
    )
    if back == "case":
        return redirect(f"/cases/{case.id}#conversation")
    return redirect(f"/inbox/{case.id}")


def _refused(
    ctx: PageContext, case: Case, back: str, errors: dict[str, str], values: dict[str, str]
) -> Response:
    ctx.db.rollback()
    fresh = _case(ctx)
    if fresh is None:
        return not_found(ctx.request)
    if back == "case":
        from tracker.web import pages_case

        return pages_case.render_case(ctx, fresh, reply_errors=errors, reply_values=values)
    return _thread_page(ctx, fresh, errors, values, 422)


routes: list[BaseRoute] = [
    Route("/inbox", page(inbox_page, PERMISSIONS["conversation.read"]), methods=["GET"]),
    Route(
        "/inbox/{case_id}",
        page(thread_page, PERMISSIONS["conversation.read"]),
        methods=["GET"],
    ),
    Route(
        "/cases/{case_id}/messages",
        page(reply, PERMISSIONS["conversation.reply"]),
        methods=["POST"],
    ),
]
