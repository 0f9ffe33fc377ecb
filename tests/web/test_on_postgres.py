"""The acceptance tests of the candidate's and the office's sides, run again with the app over
a real PostgreSQL database (tests/postgres_helpers.py): the same pages, the same assertions.

The tests are the other modules' own, imported here: pytest collects them a second time in this
module, where the ``app`` fixture below (the service over ``PostgresEngine``) replaces the one
of conftest.py (over the memory engine). Nothing is copied, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from account_helpers import PASSWORD, activate_from_mail, log_in, make_client, sign_up
from starlette.applications import Starlette

from formservice.clock import FrozenClock
from formservice.settings import Settings
from formservice.store.postgres.engine import PostgresEngine
from formservice.web.app import create_app

from .candidate.test_accounts import *  # noqa: F403
from .candidate.test_corrections import *  # noqa: F403
from .candidate.test_enrolment import *  # noqa: F403
from .staff.test_access import *  # noqa: F403
from .staff.test_dossiers import *  # noqa: F403

pytestmark = pytest.mark.anyio


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock, pg_url: str) -> AsyncIterator[Starlette]:
    """The service over a fresh PostgreSQL database, with the settings naming it."""
    application = create_app(settings.with_(store=pg_url), engine=PostgresEngine(pg_url), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_database_that_stops_answering_gets_the_honest_503_page(
    settings: Settings, clock: FrozenClock, pg_url: str, postgres_server, mailbox
) -> None:
    """The database refuses connections while a candidate is logged in: their next page is the
    French « Action non enregistrée » page with a 503 (never a 500), and once it is back the
    same session works again (within seconds)."""
    engine = PostgresEngine(pg_url, timeout=1.0)
    application = create_app(settings.with_(store=pg_url), engine=engine, clock=clock)
    async with application.router.lifespan_context(application), make_client(application, settings) as client:
        await sign_up(client, application, "panne@exemple.fr")
        await activate_from_mail(client, mailbox, "panne@exemple.fr")
        assert (await log_in(client, "panne@exemple.fr", PASSWORD)).status_code == 303
        with postgres_server.cut_off(pg_url):
            down = await client.get("/espace")
        assert down.status_code == 503 and "Action non enregistrée" in down.text
        assert "pas été enregistrée" in down.text
        with anyio.fail_after(15):  # the pool reconnects with growing delays: within seconds
            while (await client.get("/espace")).status_code == 503:
                await anyio.sleep(0.2)
        assert (await client.get("/espace")).status_code == 200
