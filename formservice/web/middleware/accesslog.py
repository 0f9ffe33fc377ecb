"""The access log, replacing uvicorn's: paths with a token are logged as their route template
(``/compte/activer/{token}``), so no activation or reset link ever lands in a log file."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("formservice.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            path = template if template and "{" in template else scope.get("path", "")
            log.info(
                "%s %s %d %.0fms", scope.get("method"), path, status, (time.perf_counter() - started) * 1000
            )
