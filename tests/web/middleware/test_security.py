"""CSRF on every POST, Origin / Sec-Fetch-Site, body types and sizes, security headers, safe GETs."""

from __future__ import annotations

import pytest
from account_helpers import log_in, make_client
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app
from formservice.web.middleware.csrf import checked_form, streams_csrf, verify_csrf
from formservice.web.middleware.headers import SERVICE_CSP

pytestmark = pytest.mark.anyio


def post_paths(app) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            paths.append(route.path.replace("{token}", "abc.def.ghi"))
    return paths


async def test_every_post_route_refuses_a_missing_or_wrong_token(client, app, candidate):
    """Each POST route of the app answers 403 without the token or with another session's token."""
    await log_in(client, candidate.email)
    paths = post_paths(app)
    assert len(paths) >= 8
    for path in paths:
        missing = await client.post(path, data={"email": candidate.email})
        assert missing.status_code == 403, path
        assert "Formulaire expiré" in missing.text
        wrong = await client.post(path, data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403, path
    assert (await client.get("/espace")).status_code == 200  # still logged in: nothing happened


async def test_token_is_tied_to_the_session(client, app, settings, candidate):
    """A token taken from one visitor's page is refused in another visitor's session."""
    html = (await client.page("/compte/connexion")).text
    async with make_client(app, settings) as other:
        await other.page("/compte/connexion")
        response = await other.post(
            "/compte/connexion",
            data={"email": candidate.email, "password": candidate.password, "csrf_token": client.csrf(html)},
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_cross_site_posts_are_refused_even_with_a_token(client, candidate, headers):
    """A valid token does not help a request whose Origin or Sec-Fetch-Site says another site."""
    html = (await client.page("/compte/connexion")).text
    data = {"email": candidate.email, "password": candidate.password, "csrf_token": client.csrf(html)}
    response = await client.post("/compte/connexion", data=data, headers=headers)
    assert response.status_code == 403


async def test_same_origin_posts_pass(client, candidate):
    """Origin equal to the base URL and Sec-Fetch-Site: same-origin are accepted."""
    html = (await client.page("/compte/connexion")).text
    data = {"email": candidate.email, "password": candidate.password, "csrf_token": client.csrf(html)}
    headers = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/compte/connexion", data=data, headers=headers)).status_code == 303


async def test_body_types_and_sizes(client):
    """text/plain and JSON get 415; multipart on an ordinary route 415; a huge form 413; all in French."""
    token = client.csrf((await client.page("/compte/connexion")).text)
    plain = await client.post(
        "/compte/connexion", content=f"csrf_token={token}", headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code == 415 and "format accepté" in plain.text
    assert (await client.post("/compte/connexion", json={"csrf_token": token})).status_code == 415
    files = {"f": ("a.txt", b"x")}
    multipart = await client.post("/compte/connexion", data={"csrf_token": token}, files=files)
    assert multipart.status_code == 415
    huge = await client.post("/compte/connexion", data={"csrf_token": token, "x": "a" * 100_000})
    assert huge.status_code == 413 and "trop volumineuses" in huge.text


async def test_streamed_multipart_view_checks_the_token_itself(settings, clock):
    """A @streams_csrf view receives multipart bodies and verify_csrf accepts only this session's token."""

    @streams_csrf
    async def upload(request: Request) -> PlainTextResponse:
        async with request.form() as form:  # a real upload view streams; the check is the same
            token = form.get("csrf_token")
            svc = request.app.state.services
            verify_csrf(
                request, token if isinstance(token, str) else None, svc.settings.secret_keys, svc.audit
            )
        return PlainTextResponse("reçu")

    app = create_app(settings, engine=MemoryEngine(), clock=clock)
    app.router.routes.insert(0, Route("/espace/essai", upload, methods=["POST"], name="essai"))
    async with app.router.lifespan_context(app), make_client(app, settings) as c:
        token = c.csrf((await c.page("/compte/connexion")).text)
        ok = await c.post("/espace/essai", data={"csrf_token": token}, files={"f": ("a.pdf", b"%PDF")})
        assert ok.status_code == 200 and ok.text == "reçu"
        bad = await c.post("/espace/essai", data={"csrf_token": "x"}, files={"f": ("a.pdf", b"%PDF")})
        assert bad.status_code == 403


async def test_service_pages_carry_the_security_headers(client):
    """Strict CSP without inline script, frame-ancestors 'none', nosniff, Referrer-Policy, no banner."""
    response = await client.get("/compte/connexion")
    csp = response.headers["content-security-policy"]
    assert csp == SERVICE_CSP and "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers and "strict-transport-security" not in response.headers
    assert "<script" not in response.text and " style=" not in response.text


async def test_logged_in_pages_are_not_stored(client, candidate):
    """/espace is served with Cache-Control: no-store."""
    await log_in(client, candidate.email)
    assert (await client.get("/espace")).headers["cache-control"] == "no-store"


async def test_static_assets_are_cacheable_and_typed(client):
    """The service's CSS is served under /_service/static with nosniff and without no-store."""
    response = await client.get("/_service/static/service.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert response.headers.get("cache-control") != "no-store"


async def test_no_get_changes_state(client, app, mailbox, candidate):
    """Opening every page (including activation and reset links) leaves the accounts unchanged."""
    from account_helpers import sign_up

    await sign_up(client, app, "attente@exemple.fr")
    await client.submit("/compte/mot-de-passe-oublie", {"email": candidate.email})
    await app.state.services.mail.drain()
    links = [
        mailbox.link("attente@exemple.fr", "/activer/"),
        mailbox.link(candidate.email, "/reinitialiser/"),
    ]
    await log_in(client, candidate.email)
    engine = app.state.services.store.engine
    before = await engine.scan("accounts")
    for route in app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()) and "{" not in route.path:
            await client.get(route.path)
    for link in links:
        await client.get(link)
    assert await engine.scan("accounts") == before


async def test_security_headers_keep_what_a_response_set(settings, clock):
    """A response's own CSP or Referrer-Policy wins over the defaults; a Server header goes."""

    async def own(request):
        return PlainTextResponse("x", headers={"Referrer-Policy": "no-referrer", "Server": "banner/1.0"})

    app = create_app(settings, engine=MemoryEngine(), clock=clock)
    app.router.routes.insert(0, Route("/propre", own))
    async with app.router.lifespan_context(app), make_client(app, settings) as c:
        response = await c.get("/propre")
    assert response.headers["referrer-policy"] == "no-referrer" and "server" not in response.headers
    assert response.headers["content-security-policy"] == SERVICE_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]


async def test_views_reuse_the_form_the_csrf_check_parsed(settings, clock):
    """The fields a view reads are those whose token the middleware checked (last value wins)."""

    async def echo(request):
        return JSONResponse(checked_form(request))

    app = create_app(settings, engine=MemoryEngine(), clock=clock)
    app.router.routes.insert(0, Route("/echo", echo, methods=["POST"]))
    async with app.router.lifespan_context(app), make_client(app, settings) as c:
        token = c.csrf((await c.page("/compte/connexion")).text)
        response = await c.post("/echo", content=f"a=1&a=%C3%A9t%C3%A9&b=&csrf_token={token}")
    assert response.json() == {"a": "été", "b": "", "csrf_token": token}


async def test_a_form_body_trickling_in_is_cut_with_a_french_408(settings, clock):
    """A POST whose body never finishes arriving is answered 408 once its time is up (at least
    10 KiB/s after 10 s), instead of holding the connection."""
    import anyio

    app = create_app(settings.with_(form_body_seconds=0.2), engine=MemoryEngine(), clock=clock)
    sent: list[dict] = []

    async def receive():
        await anyio.sleep(3600)  # the client never sends the rest

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/compte/connexion",
        "raw_path": b"/compte/connexion",
        "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), (b"host", b"testserver")],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("1.2.3.4", 1),
        "root_path": "",
    }
    async with app.router.lifespan_context(app):
        with anyio.fail_after(5):
            await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()
    assert start["status"] == 408 and "trop lentement" in body
