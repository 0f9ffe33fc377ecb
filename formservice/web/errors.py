"""The one handler of the error hierarchy: every failure a visitor meets is a French page.

``formservice.errors.AppError`` (and its subclasses from every feature) carries the title, the
message and the status; this module renders it with ``errors.html``. Starlette's own
``HTTPException`` (a 404 of the router, a 405) and any unexpected exception become the same page.
The visitor never sees a traceback; the server log gets it.

``Redirect`` is control flow, not an error: ``require_account`` raises ``LoginRequired`` so that
views need no "if not logged in" boilerplate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Scope

from formservice.errors import AppError, InternalError, for_status

log = logging.getLogger("formservice.errors")

# rendering.render: (request, template, context, *, status, headers) -> HTMLResponse
Render = Callable[..., Awaitable[Response]]


class Redirect(Exception):
    """Answer with a 303 to ``url`` (a path of this service)."""

    def __init__(self, url: str):
        self.url = url
        super().__init__(url)


class LoginRequired(Redirect):
    """Raised by ``require_account``: go to the login page, then come back to ``next_path``."""

    def __init__(self, login_path: str, next_path: str):
        self.next_path = next_path
        super().__init__(f"{login_path}?{urlencode({'suite': next_path})}")


def from_http_exception(exc: HTTPException) -> AppError:
    error = for_status(exc.status_code)
    error.headers.update(exc.headers or {})
    return error


FALLBACK_PAGE = (
    '<!doctype html><html lang="fr"><meta charset="utf-8"><title>{title}</title>'
    "<h1>{title}</h1><p>{message}</p></html>"
)


class ErrorPages:
    """Renders the error hierarchy with the app's templates (``render`` is ``rendering.render``,
    given by the app factory so that this module stays below the rendering in the layers)."""

    def __init__(self, render: Render):
        self.render = render

    async def response(self, request: Request, exc: AppError) -> Response:
        """The French error page; falls back to a bare page if rendering itself fails."""
        headers = dict(exc.headers)
        try:
            return await self.render(
                request, "errors.html", {"error": exc}, status=exc.status, headers=headers
            )
        except Exception:
            log.exception("error page rendering failed")
            page = FALLBACK_PAGE.format(title=exc.title, message=exc.message)
            headers["Cache-Control"] = "no-store"
            return HTMLResponse(page, status_code=exc.status, headers=headers)

    async def for_scope(self, scope: Scope, exc: AppError) -> Response:
        """For middlewares, which run outside the exception handlers."""
        return await self.response(Request(scope), exc)

    async def _app_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if exc.status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return await self.response(request, exc)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return await self.response(request, from_http_exception(exc))

    @staticmethod
    async def _redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        return RedirectResponse(exc.url, status_code=303)

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        # ServerErrorMiddleware re-raises after this answer, so the server logs the traceback.
        return await self.response(request, InternalError())

    def handlers(self) -> dict[Any, Any]:
        """The mapping given to ``Starlette(exception_handlers=...)``."""
        return {
            AppError: self._app_error,
            Redirect: self._redirect,
            HTTPException: self._http_error,
            Exception: self._unexpected,
        }
