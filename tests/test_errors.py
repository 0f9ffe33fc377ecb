"""One error hierarchy, one French page, never a traceback."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from formservice.errors import AppError, TooManyRequests
from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

pytestmark = pytest.mark.anyio


async def test_unknown_page_is_a_french_404(client):
    """An unknown path answers 404 with the French page."""
    response = await client.get("/compte/nulle-part")
    assert response.status_code == 404 and "Page introuvable" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_wrong_method_is_a_french_405(client):
    """GET on the logout route (POST only) answers 405 in French: no GET logs out."""
    response = await client.get("/compte/deconnexion")
    assert response.status_code == 405 and "Action impossible" in response.text


async def test_unexpected_exception_is_a_generic_page_without_traceback(settings, clock, caplog):
    """A bug answers 500 with a generic French page; the traceback goes to the log only."""

    async def boom(request: Request) -> None:
        raise RuntimeError("secret internals")

    app = create_app(settings, engine=MemoryEngine(), clock=clock)
    app.router.routes.insert(0, Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
    ):
        response = await c.get("/boom")
    assert response.status_code == 500 and "Erreur du service" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_app_errors_carry_message_and_status():
    """AppError subclasses carry a French message, a status and headers (Retry-After)."""
    error = TooManyRequests(61)
    assert error.status_code == 429 and error.headers["Retry-After"] == "61"
    assert "1 minute" in error.message
    custom = AppError("Message précis.", status_code=409)
    assert custom.status_code == 409 and custom.message == "Message précis."
