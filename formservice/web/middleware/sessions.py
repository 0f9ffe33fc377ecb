"""The session cookie: an opaque random id, read into the scope and written back when it changed.

- The cookie holds 256 random bits; the store holds only their SHA-256 (a copy of the data
  directory gives no live cookie). HttpOnly, SameSite=Lax, Path=/; under https it is Secure and
  named ``__Host-sid`` (no Domain: a sub-domain cannot plant one), else ``sid``.
- Anonymous visitors get an id too, only when a page needs a CSRF token, and it is *not* stored:
  no store write for a visitor who never logs in.

What the id stands for (the stored session, the account) is resolved by ``web/auth.py``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "formservice.session"  # the candidate's session (and the CSRF token's anchor)
STAFF_SCOPE_KEY = "formservice.staff_session"  # the exam office's, under its own cookie
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


def state_of(scope: Scope, key: str = SCOPE_KEY) -> SessionState:
    state = scope.get(key)
    if state is None:  # a request that did not go through the middleware (unit tests)
        state = scope[key] = SessionState()
    return state


def cookie_header(name: str, value: str, *, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if not value:
        parts.append("Max-Age=0")
    return "; ".join(parts)


class SessionMiddleware:
    """Reads a session cookie into the scope (under ``scope_key``); writes it back when it
    changed. The app installs two: the candidates' and the staff's, never mixed."""

    def __init__(self, app: ASGIApp, *, cookie_name: str, secure: bool, scope_key: str = SCOPE_KEY):
        self.app = app
        self.cookie_name = cookie_name
        self.secure = secure
        self.scope_key = scope_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = SessionState(sid=read_cookie(scope, self.cookie_name))
        scope[self.scope_key] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and state.cookie_out is not None:
                headers = MutableHeaders(scope=message)
                headers.append(
                    "Set-Cookie", cookie_header(self.cookie_name, state.cookie_out, secure=self.secure)
                )
                headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def read_cookie(scope: Scope, name: str) -> str | None:
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


def renew_anonymous(state: SessionState) -> None:
    state.record = None
    state.sid = new_sid()
    state.cookie_out = state.sid


def ensure_sid(request: Request) -> str:
    """The session id, creating an anonymous one (cookie only) if the visitor has none."""
    state = state_of(request.scope)
    if state.sid is None:
        renew_anonymous(state)
    assert state.sid is not None
    return state.sid
