"""CSRF, Origin checks and security headers, as ASGI middlewares that no route can forget.

CSRF
    Every form carries ``csrf_token`` (templates: ``{% include "_csrf.html" %}``), an HMAC of the
    session id: it changes at login, dies at logout, and needs no store write for anonymous
    visitors. ``CsrfMiddleware`` checks every POST/PUT/PATCH/DELETE before any view runs:

    - ``Sec-Fetch-Site`` must be same-origin (when the browser sends it) and ``Origin`` must be
      this site (when sent); otherwise 403;
    - ``application/x-www-form-urlencoded`` bodies (at most ``settings.max_form_bytes``) are read,
      their token checked, and the body replayed to the view, which calls ``request.form()``;
    - ``multipart/form-data`` is refused (415) unless the route's endpoint is marked with
      ``@streams_csrf``: such a view streams the body itself and **must** call
      ``verify_csrf(request, value)`` on the ``csrf_token`` field before touching any file part
      (put the hidden input first in the form; a part before the token is a refusal);
    - any other body type is refused (415): ``text/plain`` is the classic CSRF carrier.

Headers
    ``SecurityHeadersMiddleware`` sets a strict CSP without any inline script on the service's
    pages (the published site gets its own CSP, with the hashes of Material's inline scripts, from
    ``site.py``), ``nosniff``, ``frame-ancestors 'none'``, a Referrer-Policy (token pages set
    ``no-referrer`` themselves), HSTS under https and ``Cache-Control: no-store`` on every dynamic
    page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from formservice.errors import (
    AppError,
    CsrfFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response_for_scope,
)
from formservice.settings import Settings
from formservice.web.services import services_of_scope
from formservice.web.sessions import SCOPE_KEY, SessionState, ensure_sid

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
STREAMED_ATTR = "__formservice_streams_csrf__"
STATIC_PREFIX = "/_service/static"
FORM_KEY = "formservice.form_fields"  # the urlencoded fields the CSRF check parsed (see checked_form)

SERVICE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

F = TypeVar("F", bound=Callable[..., Any])


# -- tokens -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _derive_keys(secret_keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(k.encode(), b"formservice.csrf", hashlib.sha256).digest() for k in secret_keys)


def _keys(settings: Settings) -> tuple[bytes, ...]:
    return _derive_keys(settings.secret_keys)


def _mac(key: bytes, sid: str) -> str:
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token for forms of this page (gives the visitor an anonymous session id if needed)."""
    sid = ensure_sid(request)
    return _mac(_keys(request.app.state.services.settings)[0], sid)


def csrf_valid(scope: Scope, token: str | None) -> bool:
    state: SessionState | None = scope.get(SCOPE_KEY)
    sid = state.sid if state is not None else None
    if not sid or not token:
        return False
    settings = services_of_scope(scope).settings
    return any(hmac.compare_digest(_mac(key, sid), token) for key in _keys(settings))


def verify_csrf(request: Request, token: str | None) -> None:
    """For ``@streams_csrf`` views: raise CsrfFailed unless ``token`` matches this session."""
    if not csrf_valid(request.scope, token):
        _audit_rejection(request.scope, "token")
        raise CsrfFailed()
    request.scope["formservice.csrf_checked"] = True


def checked_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form this middleware already parsed to check its token (the last value of
    each field wins), or None (multipart, or a request that did not go through the middleware):
    spares a second parse of the same body."""
    fields: list[tuple[str, str]] | None = request.scope.get(FORM_KEY)
    return dict(fields) if fields is not None else None


def streams_csrf(endpoint: F) -> F:
    """Mark a view that reads a multipart body itself and calls ``verify_csrf`` on its first field."""
    setattr(endpoint, STREAMED_ATTR, True)
    return endpoint


def _route_streams_csrf(scope: Scope) -> bool:
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return bool(getattr(getattr(route, "endpoint", None), STREAMED_ATTR, False))
    return False


# -- origin ---------------------------------------------------------------------------------


def origin_problem(scope: Scope, settings: Settings, headers: Headers | None = None) -> str | None:
    """Why this unsafe request does not come from our own pages, or None."""
    headers = headers if headers is not None else Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"sec-fetch-site:{site}"
    origin = headers.get("origin")
    if origin is None:
        return None  # old browsers and non-browser clients: the token still decides
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    if origin.lower() not in (settings.origin, own):
        return "origin"
    return None


def _audit_rejection(scope: Scope, reason: str) -> None:
    client = scope.get("client")
    svc = services_of_scope(scope)
    svc.audit.event("csrf.rejected", ip=client[0] if client else None, reason=reason, path=_route_path(scope))


def _route_path(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path and "{" in path:
        return str(path)
    raw = str(scope.get("path", ""))
    return raw if "/activer/" not in raw and "/reinitialiser/" not in raw else raw.rsplit("/", 1)[0] + "/…"


# -- middlewares ----------------------------------------------------------------------------


class CsrfMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        settings = services_of_scope(scope).settings
        headers = Headers(scope=scope)
        problem = origin_problem(scope, settings, headers)
        if problem:
            _audit_rejection(scope, problem)
            await self._refuse(scope, receive, send, CsrfFailed())
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            if not _route_streams_csrf(scope):
                await self._refuse(scope, receive, send, UnsupportedMediaType())
                return
            await self.app(scope, receive, send)
            return
        if ctype not in ("application/x-www-form-urlencoded", ""):
            await self._refuse(scope, receive, send, UnsupportedMediaType())
            return
        try:
            body = await _read_body(headers, receive, settings.max_form_bytes)
            fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200)
        except PayloadTooLarge as exc:
            await self._refuse(scope, receive, send, exc)
            return
        except ValueError:
            await self._refuse(scope, receive, send, PayloadTooLarge())
            return
        token = next((v for k, v in fields if k == CSRF_FIELD), None)
        if not csrf_valid(scope, token):
            _audit_rejection(scope, "token")
            await self._refuse(scope, receive, send, CsrfFailed())
            return
        scope["formservice.csrf_checked"] = True
        scope[FORM_KEY] = fields
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
        response = await error_response_for_scope(scope, exc)
        await response(scope, receive, send)


async def _read_body(headers: Headers, receive: Receive, limit: int) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _static_headers(settings: Settings, static: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        ("content-security-policy", SERVICE_CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if settings.https:
        headers.append(("strict-transport-security", "max-age=31536000"))
    if not static:
        headers.append(("cache-control", "no-store"))
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class SecurityHeadersMiddleware:
    """Adds each header unless the response set it already (the published site's own CSP, a
    token page's Referrer-Policy); removes any ``server`` header."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._settings: Settings | None = None
        self._defaults: dict[bool, list[tuple[bytes, bytes]]] = {}

    def _headers_for(self, settings: Settings, static: bool) -> list[tuple[bytes, bytes]]:
        if settings is not self._settings:  # computed once per Settings object
            self._settings = settings
            self._defaults = {flag: _static_headers(settings, flag) for flag in (False, True)}
        return self._defaults[static]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = services_of_scope(scope).settings
        defaults = self._headers_for(settings, str(scope.get("path", "")).startswith(STATIC_PREFIX + "/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"server"]
                present = {k.lower() for k, _ in raw}
                raw.extend(item for item in defaults if item[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
