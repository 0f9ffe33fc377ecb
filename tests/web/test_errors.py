"""One error hierarchy, one French page, never a traceback."""

from __future__ import annotations

import httpx
import pytest
from account_helpers import PASSWORD, make_client
from starlette.requests import Request
from starlette.routing import Route

from formservice.accounts.rules import EmailInvalid
from formservice.enrolment.deadlines import DeadlineError, Phase
from formservice.enrolment.rules import EnrolmentError
from formservice.errors import AppError, TooManyRequests
from formservice.store import StoreUnavailable
from formservice.store.memory import MemoryEngine
from formservice.uploads import UploadRejected
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
    assert error.status == 429 and error.headers["Retry-After"] == "61"
    assert "1 minute" in error.message
    custom = AppError("Message précis.", status=409)
    assert custom.status == 409 and custom.message == "Message précis." and str(custom) == "Message précis."


@pytest.mark.parametrize(
    "error",
    [
        lambda: EnrolmentError("Refus."),
        lambda: DeadlineError("Clos.", Phase.CLOSED),
        lambda: UploadRejected("bad_type", "Pas un PDF."),
        lambda: EmailInvalid("Adresse invalide."),
        lambda: StoreUnavailable("disk full"),
        lambda: TooManyRequests(3),
    ],
    ids=["enrolment", "deadline", "upload", "email", "store", "throttle"],
)
def test_every_refusal_is_one_hierarchy(error):
    """Every refusal a feature raises is an AppError with a French message and a status."""
    exc = error()
    assert isinstance(exc, AppError) and exc.message and 400 <= exc.status < 600


async def test_a_write_the_store_could_not_make_durable_says_so(settings, clock):
    """StoreUnavailable answers 503 with an honest page: the action was not recorded; the
    technical detail stays in the log."""

    class FullDisk(MemoryEngine):
        async def insert(self, table, doc, **kwargs):
            raise StoreUnavailable("No space left on device")

    app = create_app(settings, engine=FullDisk(), clock=clock)
    async with app.router.lifespan_context(app), make_client(app, settings) as c:
        token = c.csrf((await c.page("/compte/creer")).text)
        response = await c.post(
            "/compte/creer",
            data={
                "csrf_token": token,
                "email": "plein@exemple.fr",
                "email_confirm": "plein@exemple.fr",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
                "accept": "oui",
            },
        )
    assert response.status_code == 503
    assert "Action non enregistrée" in response.text and "pas été enregistrée" in response.text
    assert "No space left" not in response.text
