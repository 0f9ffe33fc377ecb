"""CSRF and Origin checks, as an ASGI middleware that no route can forget.

Every form carries ``csrf_token`` (templates: ``{% include "_csrf.html" %}``), an HMAC of the
session id: it changes at login, dies at logout, and needs no store write for anonymous visitors.
``CsrfMiddleware`` checks every POST/PUT/PATCH/DELETE before any view runs:

- ``Sec-Fetch-Site`` must be same-origin (when the browser sends it) and ``Origin`` must be this
  site (when sent); otherwise 403;
- ``application/x-www-form-urlencoded`` bodies (at most ``max_form_bytes``) are read, their token
  checked, and the body replayed to the view; the parsed fields are kept for the view
  (``checked_form``), so the body is parsed once;
- ``multipart/form-data`` is refused (415) unless the route's endpoint is marked with
  ``@streams_csrf``: such a view streams the body itself and **must** check the ``csrf_token``
  field (``verify_csrf``) before touching any file part (the hidden input comes first in the form;
  a part before the token is a refusal);
- any other body type is refused (415): ``text/plain`` is the classic CSRF carrier.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from formservice.audit import AuditLog
from formservice.errors import AppError, CsrfFailed, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from formservice.web.middleware.sessions import SCOPE_KEY, SessionState, ensure_sid

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
STREAMED_ATTR = "__formservice_streams_csrf__"
FORM_KEY = "formservice.form_fields"  # the urlencoded fields the CSRF check parsed (see checked_form)
CHECKED_KEY = "formservice.csrf_checked"

F = TypeVar("F", bound=Callable[..., Any])
# Renders an error page for a request refused before any view (the app's ErrorPages.for_scope).
Refuse = Callable[[Scope, AppError], Awaitable[Response]]


# -- tokens -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _derive_keys(secret_keys: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(hmac.new(k.encode(), b"formservice.csrf", hashlib.sha256).digest() for k in secret_keys)


def _mac(key: bytes, sid: str) -> str:
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, secret_keys: tuple[str, ...]) -> str:
    """The token for forms of this page (gives the visitor an anonymous session id if needed)."""
    sid = ensure_sid(request)
    return _mac(_derive_keys(secret_keys)[0], sid)


def csrf_valid(scope: Scope, token: str | None, secret_keys: tuple[str, ...]) -> bool:
    state: SessionState | None = scope.get(SCOPE_KEY)
    sid = state.sid if state is not None else None
    if not sid or not token:
        return False
    return any(hmac.compare_digest(_mac(key, sid), token) for key in _derive_keys(secret_keys))


def verify_csrf(request: Request, token: str | None, secret_keys: tuple[str, ...], audit: AuditLog) -> None:
    """For ``@streams_csrf`` views: raise CsrfFailed unless ``token`` matches this session."""
    if not csrf_valid(request.scope, token, secret_keys):
        audit_rejection(audit, request.scope, "token")
        raise CsrfFailed()
    request.scope[CHECKED_KEY] = True


def checked_form(request: Request) -> dict[str, str] | None:
    """The urlencoded form this middleware already parsed to check its token (the last value of
    each field wins), or None (multipart, or a request that did not go through the middleware):
    spares a second parse of the same body."""
    fields: list[tuple[str, str]] | None = request.scope.get(FORM_KEY)
    return dict(fields) if fields is not None else None


def checked_fields(request: Request) -> list[tuple[str, str]] | None:
    """Every (name, value) pair the middleware parsed, in order: for fields sent several times
    (checkboxes)."""
    fields: list[tuple[str, str]] | None = request.scope.get(FORM_KEY)
    return list(fields) if fields is not None else None


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


def origin_problem(scope: Scope, origin: str, headers: Headers | None = None) -> str | None:
    """Why this unsafe request does not come from our own pages (``origin``: the base URL's
    scheme://host[:port]), or None."""
    headers = headers if headers is not None else Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"sec-fetch-site:{site}"
    sent = headers.get("origin")
    if sent is None:
        return None  # old browsers and non-browser clients: the token still decides
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    if sent.lower() not in (origin, own):
        return "origin"
    return None


def audit_rejection(audit: AuditLog, scope: Scope, reason: str) -> None:
    client = scope.get("client")
    audit.event("csrf.rejected", ip=client[0] if client else None, reason=reason, path=_route_path(scope))


def _route_path(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path and "{" in path:
        return str(path)
    raw = str(scope.get("path", ""))
    return raw if "/activer/" not in raw and "/reinitialiser/" not in raw else raw.rsplit("/", 1)[0] + "/…"


# -- the middleware -----------------------------------------------------------------------------


class CsrfMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_keys: Sequence[str],
        origin: str,
        max_form_bytes: int,
        body_seconds: float = 16.0,
        audit: AuditLog,
        refuse: Refuse,
    ):
        self.app = app
        self.secret_keys = tuple(secret_keys)
        self.origin = origin
        self.max_form_bytes = max_form_bytes
        self.body_seconds = body_seconds
        self.audit = audit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = origin_problem(scope, self.origin, headers)
        if problem:
            audit_rejection(self.audit, scope, problem)
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
            # A body trickling in byte by byte is cut, not waited for.
            with anyio.fail_after(self.body_seconds):
                body = await _read_body(headers, receive, self.max_form_bytes)
            fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200)
        except PayloadTooLarge as exc:
            await self._refuse(scope, receive, send, exc)
            return
        except TimeoutError:
            await self._refuse(scope, receive, send, RequestTimeout())
            return
        except ValueError:
            await self._refuse(scope, receive, send, PayloadTooLarge())
            return
        token = next((v for k, v in fields if k == CSRF_FIELD), None)
        if not csrf_valid(scope, token, self.secret_keys):
            audit_rejection(self.audit, scope, "token")
            await self._refuse(scope, receive, send, CsrfFailed())
            return
        scope[CHECKED_KEY] = True
        scope[FORM_KEY] = fields
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AppError) -> None:
        response = await self.refuse(scope, exc)
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
