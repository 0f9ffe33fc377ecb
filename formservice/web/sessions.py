"""Server-side sessions: an opaque random id in a cookie, the state in the store.

- The cookie holds 256 random bits; the store holds only their SHA-256 (a copy of the data
  directory gives no live cookie). HttpOnly, SameSite=Lax, Path=/; under https it is Secure and
  named ``__Host-sid`` (no Domain: a sub-domain cannot plant one), else ``sid``.
- Anonymous visitors get an id too, only when a page needs a CSRF token, and it is *not* stored:
  no store write for a visitor who never logs in.
- Login rotates the id (no fixation); logout deletes the stored session, so a replayed cookie is
  anonymous. Idle and absolute timeouts are checked on the injected clock; ``last_seen`` is
  written at most once per ``settings.session_touch`` to keep reads free of writes.

For views::

    account = await require_account(request)      # or LoginRequired -> login page, then back
    account = await current_account(request)      # or None
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from formservice.accounts.rules import is_active
from formservice.clock import from_iso, to_iso
from formservice.errors import LoginRequired
from formservice.settings import Settings
from formservice.web.services import Services, services_of_scope

SCOPE_KEY = "formservice.session"
ACCOUNT_KEY = "formservice.account"
SID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_sid() -> str:
    return secrets.token_urlsafe(32)


def session_key(sid: str) -> str:
    """The store id of a session: the cookie value never sits in the store."""
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class SessionState:
    sid: str | None = None
    record: dict[str, Any] | None = None
    loaded: bool = False
    cookie_out: str | None = None  # value to send; "" deletes the cookie

    @property
    def account_id(self) -> str | None:
        return self.record["account_id"] if self.record else None


def _state(scope: Scope) -> SessionState:
    state = scope.get(SCOPE_KEY)
    if state is None:  # a request that did not go through the middleware (unit tests)
        state = scope[SCOPE_KEY] = SessionState()
    return state


def cookie_header(settings: Settings, value: str) -> str:
    parts = [f"{settings.cookie_name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if settings.https:
        parts.append("Secure")
    if not value:
        parts.append("Max-Age=0")
    return "; ".join(parts)


class SessionMiddleware:
    """Reads the session cookie into the scope; writes it back when it changed."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc = services_of_scope(scope)
        state = SessionState(sid=_read_cookie(scope, svc.settings.cookie_name))
        scope[SCOPE_KEY] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and state.cookie_out is not None:
                headers = MutableHeaders(scope=message)
                headers.append("Set-Cookie", cookie_header(svc.settings, state.cookie_out))
                headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _read_cookie(scope: Scope, name: str) -> str | None:
    """The session id from the Cookie header(s): the last ``name=`` of a header, if well formed.

    No SimpleCookie: a valid id is 43 URL-safe characters, never quoted, so splitting on ``;``
    is enough, and ten times cheaper."""
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            found = None
            for pair in value.decode("latin-1").split(";"):
                cookie_name, eq, cookie_value = pair.partition("=")
                if eq and cookie_name.strip() == name:
                    found = cookie_value.strip()
            if found is not None and SID_RE.match(found):
                return found
    return None


def _expired(record: dict[str, Any], now: datetime, settings: Settings) -> bool:
    return (
        now - from_iso(record["created_at"]) >= settings.session_absolute
        or now - from_iso(record["last_seen"]) >= settings.session_idle
    )


async def load_session(request: Request) -> SessionState:
    """Resolve the cookie against the store (once per request)."""
    state = _state(request.scope)
    if state.loaded:
        return state
    state.loaded = True
    if state.sid is None:
        return state
    svc: Services = request.app.state.services
    record = await svc.store.sessions.get(session_key(state.sid))
    if record is None:
        return state
    now = svc.clock.now()
    if _expired(record, now, svc.settings):
        await svc.store.sessions.delete(record["id"])
        svc.audit.event("session.expired", account_id=record["account_id"])
        _renew_anonymous(state)
        return state
    if now - from_iso(record["last_seen"]) >= svc.settings.session_touch:
        try:
            record = await svc.store.sessions.update(record["id"], lambda r: r | {"last_seen": to_iso(now)})
        except Exception:  # a concurrent logout removed it: anonymous from now on
            _renew_anonymous(state)
            return state
    state.record = record
    return state


def _renew_anonymous(state: SessionState) -> None:
    state.record = None
    state.sid = new_sid()
    state.cookie_out = state.sid


def ensure_sid(request: Request) -> str:
    """The session id, creating an anonymous one (cookie only) if the visitor has none."""
    state = _state(request.scope)
    if state.sid is None:
        _renew_anonymous(state)
    assert state.sid is not None
    return state.sid


async def login(request: Request, account_id: str) -> None:
    """Open a stored session for the account under a fresh id (the old one dies)."""
    svc: Services = request.app.state.services
    state = await load_session(request)
    if state.record is not None:
        await svc.store.sessions.delete(state.record["id"])
    sid = new_sid()
    now = to_iso(svc.clock.now())
    state.record = await svc.store.sessions.create(
        {"id": session_key(sid), "account_id": account_id, "created_at": now, "last_seen": now}
    )
    state.sid = sid
    state.cookie_out = sid
    request.scope.pop(ACCOUNT_KEY, None)


async def logout(request: Request) -> str | None:
    """Delete the stored session and the cookie; returns the account id that was logged in."""
    svc: Services = request.app.state.services
    state = await load_session(request)
    account_id = state.account_id
    if state.record is not None:
        await svc.store.sessions.delete(state.record["id"])
    state.record = None
    state.sid = None
    state.cookie_out = ""
    request.scope.pop(ACCOUNT_KEY, None)
    return account_id


async def rotate(request: Request) -> None:
    """A new id for the same logged-in account (after a password change)."""
    state = await load_session(request)
    if state.account_id is not None:
        await login(request, state.account_id)


async def current_account(request: Request) -> dict[str, Any] | None:
    """The logged-in, active account, or None. Cached for the request."""
    if ACCOUNT_KEY in request.scope:
        return request.scope[ACCOUNT_KEY]
    state = await load_session(request)
    account = None
    if state.account_id is not None:
        account = await request.app.state.services.store.accounts.get(state.account_id)
        if not is_active(account):
            await logout(request)
            account = None
    request.scope[ACCOUNT_KEY] = account
    return account


async def require_account(request: Request) -> dict[str, Any]:
    """The logged-in account, or ``LoginRequired`` (a 303 to the login page, then back here)."""
    account = await current_account(request)
    if account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(request.app.url_path_for("login"), target)
    return account
