"""Who is logged in: the stored session behind the cookie, and the account behind it.

Login rotates the id (no fixation); logout deletes the stored session, so a replayed cookie is
anonymous. Idle and absolute timeouts are checked on the injected clock
(``store.repos.session_expired``, the rule the periodic purge uses too); ``last_seen`` is written
at most once per ``settings.session_touch`` to keep reads free of writes.

For views::

    account = await require_account(request)      # or LoginRequired -> login page, then back
    account = await current_account(request)      # or None
"""

from __future__ import annotations

from starlette.requests import Request

from formservice.accounts.records import Account
from formservice.accounts.rules import is_active, session_outlived
from formservice.clock import from_iso, to_iso
from formservice.store.repos import session_expired
from formservice.web.errors import LoginRequired
from formservice.web.middleware.sessions import SessionState, new_sid, renew_anonymous, session_key, state_of
from formservice.web.services import services

ACCOUNT_KEY = "formservice.account"


async def load_session(request: Request) -> SessionState:
    """Resolve the cookie against the store (once per request)."""
    state = state_of(request.scope)
    if state.loaded:
        return state
    state.loaded = True
    if state.sid is None:
        return state
    svc = services(request)
    record = await svc.store.sessions.get(session_key(state.sid))
    if record is None:
        return state
    now, settings = svc.clock.now(), svc.settings
    if session_expired(record, now, settings.session_idle, settings.session_absolute):
        await svc.store.sessions.delete(record["id"])
        svc.audit.event("session.expired", account_id=record["account_id"])
        renew_anonymous(state)
        return state
    if now - from_iso(record["last_seen"]) >= settings.session_touch:
        try:
            record = await svc.store.sessions.update(record["id"], lambda r: r | {"last_seen": to_iso(now)})
        except Exception:  # a concurrent logout removed it: anonymous from now on
            renew_anonymous(state)
            return state
    state.record = dict(record)
    return state


async def login(request: Request, account_id: str) -> None:
    """Open a stored session for the account under a fresh id (the old one dies)."""
    svc = services(request)
    state = await load_session(request)
    if state.record is not None:
        await svc.store.sessions.delete(state.record["id"])
    sid = new_sid()
    now = to_iso(svc.clock.now())
    record = await svc.store.sessions.create(
        {"id": session_key(sid), "account_id": account_id, "created_at": now, "last_seen": now}
    )
    state.record = dict(record)
    state.sid = sid
    state.cookie_out = sid
    request.scope.pop(ACCOUNT_KEY, None)


async def logout(request: Request) -> str | None:
    """Delete the stored session and the cookie; returns the account id that was logged in."""
    svc = services(request)
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


async def current_account(request: Request) -> Account | None:
    """The logged-in, active account, or None. Cached for the request."""
    if ACCOUNT_KEY in request.scope:
        found: Account | None = request.scope[ACCOUNT_KEY]
        return found
    state = await load_session(request)
    account = None
    if state.account_id is not None and state.record is not None:
        account = await services(request).store.accounts.get(state.account_id)
        if account is None or not is_active(account) or session_outlived(account, state.record["created_at"]):
            await logout(request)
            account = None
    request.scope[ACCOUNT_KEY] = account
    return account


async def require_account(request: Request) -> Account:
    """The logged-in account, or ``LoginRequired`` (a 303 to the login page, then back here)."""
    account = await current_account(request)
    if account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(request.app.url_path_for("login"), target)
    return account
