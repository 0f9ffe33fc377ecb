"""The development outbox page: only in development without SMTP."""

from __future__ import annotations

import re

import pytest
from account_helpers import make_client, sign_up

from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

pytestmark = pytest.mark.anyio


async def test_outbox_lists_mails_and_links_in_development(settings, clock, capsys):
    """Without SMTP, mails become .eml files, their links are printed and listed on /_service/courriels."""
    dev = settings.with_(smtp=None, echo_outbox=True)
    app = create_app(dev, engine=MemoryEngine(), clock=clock)
    async with app.router.lifespan_context(app), make_client(app, dev) as c:
        await sign_up(c, app, "dev@exemple.fr")
        page = await c.get("/_service/courriels")
    assert page.status_code == 200 and "/compte/activer/" in page.text
    assert "Lire le courriel" in page.text and "Bonjour" in page.text  # the mail's text is there
    assert re.search(r", le (lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) ", page.text)
    assert "+0000" not in page.text and "GMT" not in page.text  # French, Paris time
    assert list((dev.data_dir / "outbox").glob("*.eml"))
    assert "http://testserver/compte/activer/" in capsys.readouterr().out


async def test_no_outbox_page_with_smtp_or_in_production(client, settings, clock):
    """With SMTP configured (and always in production) the page does not exist."""
    assert (await client.get("/_service/courriels")).status_code == 404
    prod = settings.with_(smtp=None, env="production", base_url="https://x.exemple.fr")
    app = create_app(prod, engine=MemoryEngine(), clock=clock)
    assert "dev_outbox" not in {getattr(r, "name", None) for r in app.routes}
