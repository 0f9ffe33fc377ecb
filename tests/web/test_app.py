"""The app factory: named routes, URL layout, lifespan opening and closing the store."""

from __future__ import annotations

import pytest
from starlette.routing import Mount, Route

from formservice.notice import NoticeError
from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

pytestmark = pytest.mark.anyio


def test_routes_are_named_and_laid_out(settings, clock):
    """Accounts under /compte, the space at /espace, the office under /gestion, service assets under
    /_service, the two legal pages at the root (where visitors look for them), the site last at /."""
    app = create_app(settings, engine=MemoryEngine(), clock=clock)
    names = {r.name: r.path for r in app.routes if isinstance(r, Route)}
    assert names["signup"] == "/compte/creer" and names["space"] == "/espace"
    legal = {"/mentions-legales", "/accessibilite"}
    assert legal <= set(names.values())
    assert all(
        p.startswith(("/compte/", "/espace", "/gestion/", "/_service/")) for p in set(names.values()) - legal
    )
    assert names["staff_login"] == "/gestion/connexion"
    mounts = [r for r in app.routes if isinstance(r, Mount)]
    assert mounts[0].path == "/_service/static" and mounts[-1].path == "" and app.routes[-1] is mounts[-1]


async def test_lifespan_opens_and_closes_the_store(settings, clock, monkeypatch):
    """Without an engine, the lifespan opens the one of the data directory and closes it at shutdown."""
    closed = []

    class Engine(MemoryEngine):
        async def close(self) -> None:
            closed.append(True)

    monkeypatch.setattr("formservice.store.factory.open_engine", lambda data_dir: Engine())
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        assert await app.state.services.store.accounts.count() == 0
    assert closed == [True]


def test_invalid_notice_at_start_is_refused(settings, notice_path):
    """create_app raises NoticeError when notice.yml is invalid from the start."""
    notice_path.write_text("timezone: Europe/Paris\n")
    with pytest.raises(NoticeError):
        create_app(settings, engine=MemoryEngine())


async def test_periodic_purge_runs_in_the_service(settings, clock, mailbox):
    """The lifespan's task deletes expired pending accounts by itself, every purge_interval."""
    from datetime import timedelta

    import anyio
    from account_helpers import make_client, sign_up

    fast = settings.with_(purge_interval=timedelta(seconds=0.05))
    app = create_app(fast, engine=MemoryEngine(), clock=clock)
    async with app.router.lifespan_context(app), make_client(app, fast) as c:
        await sign_up(c, app, "oubli@exemple.fr")
        clock.advance(hours=48, minutes=1)
        with anyio.fail_after(5):
            while await app.state.services.store.accounts.count():
                await anyio.sleep(0.02)
