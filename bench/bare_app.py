"""The stack's ceiling: a bare Starlette JSON endpoint, served exactly like the app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "items": [], "next_cursor": None})


app = Starlette(routes=[Route("/json", hello)])
