"""Security headers on every response: pages, API, CSVs, static files, 404s and 500s alike.

A pure ASGI middleware (it rewrites ``http.response.start``; the body streams through
untouched), installed outside Starlette's own error middleware so that a 500 carries them too.
Pages set their own, richer Content-Security-Policy (``pages_render.PAGE_HEADERS``); a response
without one gets a policy that loads nothing and cannot be framed.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.settings import Settings

# Static assets hold no personal data and may be cached; everything else may (API included).
CACHEABLE_PREFIXES = ("/static/",)
HSTS = "max-age=63072000; includeSubDomains"
NOT_FRAMED = "frame-ancestors 'none'"
BARE_POLICY = f"default-src 'none'; {NOT_FRAMED}"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                # No URL of ours (case ids, calendar tokens) is ever sent to another site.
                headers["Referrer-Policy"] = "no-referrer"
                policy = headers.get("content-security-policy")
                if policy is None:
                    headers["Content-Security-Policy"] = BARE_POLICY
                elif "frame-ancestors" not in policy:
                    headers["Content-Security-Policy"] = f"{policy}; {NOT_FRAMED}"
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
                if self.https:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: Starlette, settings: Settings) -> None:
    """Wrap the whole stack, Starlette's ``ServerErrorMiddleware`` included."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(build(), https=settings.https)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
