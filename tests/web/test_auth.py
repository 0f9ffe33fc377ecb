"""Server-side sessions: cookie flags, rotation at login, logout, idle and absolute timeouts."""

from __future__ import annotations

import hashlib

import pytest
from account_helpers import log_in, make_client
from starlette.applications import Starlette

from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

pytestmark = pytest.mark.anyio


async def test_cookie_flags_over_http(client, candidate):
    """Over http: `sid`, HttpOnly, SameSite=Lax, Path=/, not Secure, no Domain."""
    response = await log_in(client, candidate.email)
    cookie = response.headers["set-cookie"]
    assert (
        cookie.startswith("sid=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    )
    assert "Secure" not in cookie and "Domain" not in cookie


async def test_cookie_flags_over_https(settings, clock):
    """Under an https base URL the cookie is `__Host-sid` and Secure, and HSTS is sent."""
    https = settings.with_(base_url="https://inscriptions.exemple.fr")
    app: Starlette = create_app(https, engine=MemoryEngine(), clock=clock)
    async with app.router.lifespan_context(app), make_client(app, https) as c:
        response = await c.get("/compte/connexion")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-sid=") and "; Secure" in cookie and "Path=/" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_session_id_rotates_at_login_and_only_its_hash_is_stored(client, app, candidate):
    """The anonymous id of the form is replaced at login; the store keeps SHA-256(id), never the id."""
    await client.page("/compte/connexion")
    anonymous = client.cookies["sid"]
    await log_in(client, candidate.email)
    logged = client.cookies["sid"]
    assert logged != anonymous
    engine = app.state.services.store.engine
    (record,) = await engine.scan("sessions")
    assert record["id"] == hashlib.sha256(logged.encode()).hexdigest()
    assert logged not in str(record)


async def test_logout_destroys_the_session_and_a_replayed_cookie_is_anonymous(
    client, app, settings, candidate
):
    """After logout, replaying the old cookie value gives an anonymous visitor."""
    await log_in(client, candidate.email)
    old = client.cookies["sid"]
    await client.submit("/compte/deconnexion", {}, form_page="/espace")
    assert await app.state.services.store.engine.count("sessions") == 0
    async with make_client(app, settings) as replay:
        replay.cookies.set("sid", old)
        assert (await replay.get("/espace")).status_code == 303


async def test_idle_timeout(client, app, candidate, clock, settings):
    """A session unused for `session_idle` is over; used just before, it lives on."""
    await log_in(client, candidate.email)
    clock.advance(settings.session_idle - settings.session_touch)
    assert (await client.get("/espace")).status_code == 200
    clock.advance(settings.session_idle)
    assert (await client.get("/espace")).status_code == 303
    assert await app.state.services.store.engine.count("sessions") == 0


async def test_absolute_timeout(client, candidate, clock, settings):
    """Even in constant use, a session ends after `session_absolute`."""
    await log_in(client, candidate.email)
    for _ in range(int(settings.session_absolute / (settings.session_idle / 2)) - 1):
        clock.advance(settings.session_idle / 2)
        assert (await client.get("/espace")).status_code == 200
    clock.advance(settings.session_idle / 2)
    assert (await client.get("/espace")).status_code == 303


async def test_purge_removes_dead_sessions(client, app, candidate, clock, settings):
    """The periodic purge deletes sessions past their idle timeout."""
    await log_in(client, candidate.email)
    clock.advance(settings.session_idle)
    assert await app.state.services.accounts.purge_sessions() == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([b"sid=" + b"A" * 43], "A" * 43),
        ([b"theme=dark; sid=" + b"B" * 43 + b"; lang=fr"], "B" * 43),
        ([b"sid=" + b"A" * 43 + b"; sid=" + b"C" * 43], "C" * 43),  # the last one of a header
        ([b"sid=short", b"sid=" + b"D" * 43], "D" * 43),  # a malformed header, then a good one
        ([b"sid=" + b"E" * 42 + b"!"], None),
        ([b'sid="' + b"F" * 43 + b'"'], None),
        ([b"xsid=" + b"G" * 43, b"sid"], None),
        ([], None),
    ],
)
def test_the_session_cookie_is_read_strictly(headers, expected):
    """Only a well-formed id under the cookie's exact name is taken from the Cookie header(s)."""
    from formservice.web.middleware.sessions import read_cookie

    assert read_cookie({"headers": [(b"cookie", value) for value in headers]}, "sid") == expected


async def test_a_session_older_than_the_password_is_over(app, client, candidate, clock):
    """Sessions opened before a password change end with it, even those the store did not
    delete: a stolen cookie dies with the password."""
    from account_helpers import log_in

    from formservice.accounts import rules

    assert (await log_in(client, candidate.email)).status_code == 303
    assert (await client.get("/espace")).status_code == 200
    clock.advance(seconds=5)
    store = app.state.services.store
    await store.accounts.update(candidate.account_id, rules.set_password("$argon2id$autre", clock.now()))
    response = await client.get("/espace")
    assert response.status_code == 303 and "/compte/connexion" in response.headers["location"]
