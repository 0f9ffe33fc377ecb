"""``create_app(settings) -> Starlette``: the whole product on one port.

The routes are in ``routes.py``, the services in ``composition.py``. Middlewares (outermost
first): access log, security headers, session cookie, CSRF/Origin — each configured through its
constructor. The lifespan opens the store (unless an engine was given), starts the mail worker
and the periodic purge, and closes everything on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware

from formservice.clock import Clock
from formservice.enrolment.reconcile import reconcile_files
from formservice.mail import Mailer
from formservice.settings import Settings
from formservice.store import Engine, factory
from formservice.web.composition import build_services
from formservice.web.errors import ErrorPages
from formservice.web.middleware.accesslog import AccessLogMiddleware
from formservice.web.middleware.csrf import CsrfMiddleware
from formservice.web.middleware.headers import SecurityHeadersMiddleware
from formservice.web.middleware.sessions import STAFF_SCOPE_KEY, SessionMiddleware
from formservice.web.rendering import render
from formservice.web.services import Services

log = logging.getLogger("formservice.app")


async def purge_loop(svc: Services) -> None:
    """Every ``settings.purge_interval``: delete expired pending accounts and dead sessions."""
    while True:
        await anyio.sleep(svc.settings.purge_interval.total_seconds())
        try:
            if not await svc.store.coordination.lead("purge"):
                continue  # another worker of the shared store purges
            await svc.store.coordination.sweep(svc.clock.now())
            deleted = await svc.accounts.purge_expired()
            sessions = await svc.accounts.purge_sessions() + await svc.staff.purge_sessions()
            if deleted or sessions:
                log.info(
                    "purge : %d compte(s) non activé(s), %d session(s) expirée(s)", len(deleted), sessions
                )
        except Exception:
            log.exception("purge périodique en échec ; nouvel essai au prochain passage")


async def listing_loop(svc: Services) -> None:
    """Keep the office's list fields in step with the notice: at start (dossiers written under
    an older notice or release), then whenever a new notice is in force (its required pieces or
    specialities may have changed). A batch job: one pass over the dossiers each time."""
    applied = None
    while True:
        notice = svc.notice()
        if notice is not applied:
            try:
                # With a shared store, one worker (the leader) does it for all.
                if await svc.store.coordination.lead("listing"):
                    rewritten = await svc.review.refresh_listing()
                    applied = notice
                    if rewritten:
                        log.info(
                            "liste des dossiers : %d dossier(s) mis à jour selon la notice en vigueur",
                            rewritten,
                        )
            except Exception:
                log.exception("mise à jour de la liste des dossiers en échec ; nouvel essai")
        await anyio.sleep(max(svc.settings.notice_check_interval, 1.0))


async def reconcile(svc: Services) -> None:
    """Before the first request: remove the files a crash left behind (a removal committed but
    not done, uploads in flight), and say which records lost their file."""
    settings = svc.settings
    coordination = svc.store.coordination
    if not await coordination.lead("reconcile"):
        return  # another worker of the shared store did it
    # Alone on the store (its lock keeps other processes out), nothing is in flight before the
    # first request: every temporary file is a leftover, whatever its age. Other workers of a
    # shared store may be receiving files: only what is an hour old is a leftover then.
    report = await reconcile_files(
        svc.store,
        settings.uploads_dir,
        settings.tmp_dir,
        now=svc.clock.now(),
        stale_after=timedelta(hours=1) if coordination.shared else timedelta(0),
        others_may_write=coordination.shared,
    )
    for line in report.lines():
        (log.warning if report.missing else log.info)(line)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    svc: Services = app.state.services
    opened_here = not svc.store.is_open
    if opened_here:
        svc.store.attach(factory.open_engine(svc.settings.store_url))
    if app.state.reconcile if app.state.reconcile is not None else opened_here:
        await reconcile(svc)  # the durable store, this process's alone: files and records agree
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(svc.mail.run)
            tg.start_soon(purge_loop, svc)
            tg.start_soon(listing_loop, svc)
            try:
                yield
            finally:
                with anyio.move_on_after(10, shield=True):
                    await svc.mail.drain()
                tg.cancel_scope.cancel()
    finally:
        svc.close()
        await svc.store.close()


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    reconcile_files: bool | None = None,
) -> Starlette:
    """The service. Raises NoticeError if notice.yml is invalid at start (nothing to fall back on).

    ``engine``: a store engine (tests pass MemoryEngine()); by default the lifespan opens the
    durable one named by ``settings.store_url``. The app closes it on shutdown.
    ``reconcile_files``: remove at start the files a crash left behind (default: when the lifespan
    opens the durable store itself; ``serve`` opens it first, to report a locked directory, and
    asks for it).
    """
    svc = build_services(settings, engine=engine, clock=clock, mailer=mailer)
    pages = ErrorPages(render)
    app = Starlette(
        routes=svc.links.routes,
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(SecurityHeadersMiddleware, https=settings.https),
            Middleware(SessionMiddleware, cookie_name=settings.cookie_name, secure=settings.https),
            Middleware(
                SessionMiddleware,
                cookie_name=settings.staff_cookie_name,
                secure=settings.https,
                scope_key=STAFF_SCOPE_KEY,
            ),
            Middleware(
                CsrfMiddleware,
                secret_keys=settings.secret_keys,
                origin=settings.origin,
                max_form_bytes=settings.max_form_bytes,
                body_seconds=settings.form_body_seconds,
                audit=svc.audit,
                refuse=pages.for_scope,
            ),
        ],
        exception_handlers=pages.handlers(),
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.reconcile = reconcile_files
    return app
