"""One error hierarchy, one handler: every failure a visitor can meet is a French page.

Like itsdangerous' ``BadData`` family, ``AppError`` carries what a UI needs: a title, a French
sentence for the user and an HTTP status. Views raise it (or a subclass); ``exception_handlers``
turns it, Starlette's ``HTTPException`` and any unexpected exception into the same page
(``errors.html``). The visitor never sees a traceback; the server log gets it.

``Redirect`` is control flow, not an error: ``require_account`` raises ``LoginRequired`` so that
views need no "if not logged in" boilerplate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Scope

from formservice.frenchdates import duration_fr

log = logging.getLogger("formservice.errors")


class AppError(Exception):
    status_code = 400
    title = "Demande invalide"
    message = "La demande n'a pas pu être traitée. Revenez à la page précédente et réessayez."

    def __init__(
        self,
        message: str | None = None,
        *,
        title: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        if message is not None:
            self.message = message
        if title is not None:
            self.title = title
        if status_code is not None:
            self.status_code = status_code
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Forbidden(AppError):
    status_code = 403
    title = "Accès refusé"
    message = "Vous n'avez pas accès à cette page."


class CsrfFailed(Forbidden):
    title = "Formulaire expiré"
    message = (
        "Ce formulaire a expiré ou n'a pas été envoyé depuis ce site. Rechargez la page et recommencez ; "
        "si le problème persiste, vérifiez que votre navigateur accepte les cookies de ce site."
    )


class NotFound(AppError):
    status_code = 404
    title = "Page introuvable"
    message = "Cette page n'existe pas. Vérifiez l'adresse, ou revenez à l'accueil."


class MethodNotAllowed(AppError):
    status_code = 405
    title = "Action impossible"
    message = "Cette page ne s'utilise pas ainsi. Revenez à la page précédente."


class PayloadTooLarge(AppError):
    status_code = 413
    title = "Envoi trop volumineux"
    message = "Les données envoyées sont trop volumineuses."


class UnsupportedMediaType(AppError):
    status_code = 415
    title = "Envoi non reconnu"
    message = "Ce formulaire n'a pas été envoyé dans un format accepté. Rechargez la page et recommencez."


class TooManyRequests(AppError):
    status_code = 429
    title = "Trop de tentatives"

    def __init__(self, retry_after: float, message: str | None = None):
        self.retry_after = max(1, int(retry_after + 0.999))
        wait = (
            duration_fr(timedelta(seconds=self.retry_after))
            if self.retry_after >= 60
            else (f"{self.retry_after} seconde{'s' if self.retry_after > 1 else ''}")
        )
        super().__init__(
            message or f"Trop de tentatives en peu de temps. Réessayez dans {wait}.",
            headers={"Retry-After": str(self.retry_after)},
        )


class ServiceUnavailable(AppError):
    status_code = 503
    title = "Service momentanément indisponible"
    message = "Le service est momentanément indisponible. Réessayez dans quelques minutes."


class InternalError(AppError):
    status_code = 500
    title = "Erreur du service"
    message = (
        "Une erreur imprévue est survenue ; vos données n'ont pas été modifiées par cette action. "
        "Réessayez dans quelques minutes."
    )


_BY_STATUS: dict[int, type[AppError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    503: ServiceUnavailable,
}


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
    cls = _BY_STATUS.get(exc.status_code)
    error = AppError(status_code=exc.status_code) if cls is None else cls()
    error.headers.update(exc.headers or {})
    return error


FALLBACK_PAGE = (
    '<!doctype html><html lang="fr"><meta charset="utf-8"><title>{title}</title>'
    "<h1>{title}</h1><p>{message}</p></html>"
)


async def error_response(request: Request, exc: AppError) -> Response:
    """The French error page; falls back to a bare page if rendering itself fails."""
    from formservice.web.rendering import render

    headers = dict(exc.headers)
    try:
        return await render(request, "errors.html", {"error": exc}, status=exc.status_code, headers=headers)
    except Exception:
        log.exception("error page rendering failed")
        page = FALLBACK_PAGE.format(title=exc.title, message=exc.message)
        headers["Cache-Control"] = "no-store"
        return HTMLResponse(page, status_code=exc.status_code, headers=headers)


async def error_response_for_scope(scope: Scope, exc: AppError) -> Response:
    """For middlewares, which run outside the exception handlers."""
    return await error_response(Request(scope), exc)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return await error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return await error_response(request, from_http_exception(exc))


async def _redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return RedirectResponse(exc.url, status_code=303)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # ServerErrorMiddleware re-raises after this answer, so the server logs the traceback.
    return await error_response(request, InternalError())


def exception_handlers() -> dict[Any, Any]:
    """The mapping given to ``Starlette(exception_handlers=...)``."""
    return {
        AppError: _app_error,
        Redirect: _redirect,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
