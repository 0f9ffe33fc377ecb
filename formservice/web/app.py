"""``create_app(settings) -> Starlette``: the whole product on one port.

The routes are in ``routes.py``, the services in ``composition.py``. Middlewares (outermost
first): access log, security headers, session cookie, CSRF/Origin — each configured through its
constructor. The lifespan opens the store (unless an engine was given), starts the mail worker,
the periodic purge and the reminders, and closes everything on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware

from formservice.clock import Clock
from formservice.enrolment.reconcile import reconcile_files
from formservice.files import FilesUnavailable
from formservice.mail import Mailer
from formservice.reporting.reminders import RUN_EVERY
from formservice.settings import Settings
from formservice.store import Engine, factory
from formservice.typography import plural
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
                    "purge : %s non activé(s), %s expirée(s)",
                    plural(len(deleted), "compte"),
                    plural(sessions, "session"),
                )
        except Exception:
            log.exception("purge périodique en échec ; nouvel essai au prochain passage")


async def refresh_listing(svc: Services) -> bool:
    """One pass over the dossiers' list fields; a failure (the disk full, the database away) is
    logged and retried by ``listing_loop``, never a reason not to serve."""
    try:
        rewritten = await svc.review.refresh_listing()
    except Exception:
        log.exception("mise à jour de la liste des dossiers en échec ; nouvel essai")
        return False
    if rewritten:
        log.info("liste des dossiers : %s mis à jour (notice en vigueur)", plural(rewritten, "dossier"))
    return True


async def listing_loop(svc: Services, applied: object | None) -> None:
    """Keep the office's list fields in step with the notice: whenever a new notice is in force
    (its required pieces or specialities may have changed), or until a failed pass succeeds.
    ``applied``: the notice the lifespan's pass at start was made under (None: it failed)."""
    while True:
        notice = svc.notice()
        # With a shared store, one worker (the leader) does it for all.
        if (
            notice is not applied
            and await svc.store.coordination.lead("listing")
            and await refresh_listing(svc)
        ):
            applied = notice
        await anyio.sleep(max(svc.settings.notice_check_interval, 1.0))


async def reminder_loop(svc: Services) -> None:
    """Every ``reminders.RUN_EVERY``: the reminders due (each once per candidate and occasion)."""
    while True:
        await anyio.sleep(RUN_EVERY.total_seconds())
        try:
            outcome = await svc.reminders.run()
            if outcome.reminders:
                log.info("relances : %s", plural(len(outcome.reminders), "courriel"))
        except Exception:
            log.exception("relances en échec ; nouvel essai au prochain passage")


async def watch_notice(svc: Services) -> None:
    """Look at notice.yml every second even when no page asks for it (the site's pages never do):
    a new valid notice then republishes the site within seconds. At start, a site that does not
    show the notice in force (never published, or published before the last edit) is rebuilt."""
    assert svc.site is not None
    if not svc.site_status().in_sync:
        svc.site.request()
    status = svc.site_status()
    (log.info if status.in_sync else log.warning)("%s", status.message)
    while True:
        await anyio.sleep(max(1.0, svc.settings.notice_check_interval))
        await anyio.to_thread.run_sync(svc.notices.current)


async def reconcile(svc: Services) -> None:
    """Before the first request: remove the files a crash left behind (a removal committed but
    not done, uploads in flight), and say which records lost their file."""
    # Local files: nothing is in flight before the first request (the store's lock keeps other
    # processes out), every temporary file is a leftover whatever its age. Other workers of a
    # shared store, or a shared object store, may be receiving uploads: what is younger than an
    # hour is left alone.
    coordination = svc.store.coordination
    if not await coordination.lead("reconcile"):
        return  # another worker of the shared store did it
    grace = timedelta(hours=1) if svc.files.shared or coordination.shared else timedelta(0)
    try:
        report = await reconcile_files(
            svc.store, svc.files, svc.settings.tmp_dir, now=svc.clock.now(), stale_after=grace
        )
    except FilesUnavailable as exc:
        log.error("justificatifs : vérification reportée, stockage injoignable (%s)", exc)
        return
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
            # Before the first request: the lists and exports never miss a dossier written by an
            # older release or under another notice (one quick read when nothing changed).
            # With a shared store, the leader alone makes the pass (the others serve meanwhile).
            done_under = svc.notice()
            leading = await svc.store.coordination.lead("listing")
            refreshed = leading and await refresh_listing(svc)
            tg.start_soon(listing_loop, svc, done_under if refreshed or not leading else None)
            tg.start_soon(reminder_loop, svc)
            if svc.site is not None:
                tg.start_soon(watch_notice, svc)
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
