"""``create_app(settings) -> Starlette``: the whole product on one port.

URL layout
    ``/``                    the published site (site/), or a French "not published yet" page
    ``/compte/...``          accounts (views/accounts.py)
    ``/espace``              the candidate's space (views/space.py); enrolment adds /espace/...
    ``/_service/static/...`` the service's CSS (no clash with the site's /assets/)
    ``/_service/courriels``  development outbox (development without SMTP only)

Adding routes: append ``Route(path, view, methods=[...], name=...)`` to ``routes()`` below, before
the site's catch-all ``Mount("/")``. A multipart upload view is decorated with
``security.streams_csrf`` and calls ``security.verify_csrf(request, token)`` itself.

Middlewares (outermost first): access log, security headers, session cookie, CSRF/Origin.
The lifespan opens the store (unless an engine was given), starts the mail worker and the
periodic purge, and closes everything on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from formservice.accounts.passwords import Hasher
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock, SystemClock
from formservice.errors import exception_handlers
from formservice.mail import Mailer, MailQueue, OutboxMailer, SmtpMailer
from formservice.notice.source import NoticeSource
from formservice.ratelimit import Limits
from formservice.settings import Settings
from formservice.store import Engine, Store
from formservice.web.candidate import accounts, dev, enrolment, space
from formservice.web.middleware.accesslog import AccessLogMiddleware
from formservice.web.published_site import PublishedSite
from formservice.web.rendering import make_env
from formservice.web.security import CsrfMiddleware, SecurityHeadersMiddleware
from formservice.web.services import Services
from formservice.web.sessions import SessionMiddleware

log = logging.getLogger("formservice.web.app")
STATIC_DIR = Path(__file__).parent / "static"
GET_POST = ["GET", "POST"]


def routes(settings: Settings, mailer: Mailer) -> list[BaseRoute]:
    """Every route of the service, by name (templates and e-mails build links from the names)."""
    table: list[BaseRoute] = [
        Route("/compte/creer", accounts.signup, methods=GET_POST, name="signup"),
        Route("/compte/activer/{token}", accounts.activate, methods=GET_POST, name="activate"),
        Route(
            "/compte/renvoyer-activation",
            accounts.resend_activation,
            methods=GET_POST,
            name="resend_activation",
        ),
        Route("/compte/connexion", accounts.login, methods=GET_POST, name="login"),
        Route("/compte/deconnexion", accounts.logout, methods=["POST"], name="logout"),
        Route(
            "/compte/mot-de-passe-oublie", accounts.forgot_password, methods=GET_POST, name="forgot_password"
        ),
        Route(
            "/compte/reinitialiser/{token}", accounts.reset_password, methods=GET_POST, name="reset_password"
        ),
        Route("/compte/mot-de-passe", accounts.change_password, methods=GET_POST, name="change_password"),
        Route("/compte/donnees-personnelles", accounts.privacy, name="privacy"),
        Route("/espace", space.home, name="space"),
        Route("/espace/inscription", enrolment.enrol, methods=GET_POST, name="enrol"),
        Route("/espace/documents", enrolment.my_documents, name="my_documents"),
        Route("/espace/documents/{kind}", enrolment.printable, name="printable"),
        Route("/espace/documents/{kind}/pdf", enrolment.printable_pdf, name="printable_pdf"),
        Route("/espace/justificatifs", enrolment.my_uploads, name="my_uploads"),
        Route(
            "/espace/justificatifs/{document_id}/ajouter",
            enrolment.upload_add,
            methods=["POST"],
            name="upload_add",
        ),
        Route(
            "/espace/justificatifs/valider",
            enrolment.uploads_complete,
            methods=["POST"],
            name="uploads_complete",
        ),
        Route("/espace/justificatifs/fichier/{file_id}", enrolment.upload_file, name="upload_file"),
        Route(
            "/espace/justificatifs/fichier/{file_id}/supprimer",
            enrolment.upload_remove,
            methods=["POST"],
            name="upload_remove",
        ),
        Route(
            "/espace/changement-adresse", enrolment.address_change, methods=GET_POST, name="address_change"
        ),
        Mount("/_service/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    if not settings.production and isinstance(mailer, OutboxMailer):
        table.append(Route("/_service/courriels", dev.outbox, name="dev_outbox"))
    table.append(Mount("/", app=PublishedSite(settings.site_dir), name="site"))
    return table


def default_mailer(settings: Settings) -> Mailer:
    if settings.smtp is not None:
        return SmtpMailer(*settings.smtp, sender=settings.mail_from)
    return OutboxMailer(settings.data_dir / "outbox", settings.mail_from, echo=settings.echo_outbox)


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
) -> Services:
    """Everything but the web layer; also used by ``formservice purge``."""
    clock = clock or SystemClock()
    mailer = mailer or default_mailer(settings)
    notices = NoticeSource(settings.notice_path, check_interval=settings.notice_check_interval)
    env = make_env()
    svc = Services(
        settings=settings,
        clock=clock,
        notices=notices,
        env=env,
        mailer=mailer,
        mail=MailQueue(mailer, env),
        audit=AuditLog(settings.data_dir / "audit.log", settings.secret_keys[0], clock),
        hasher=Hasher(settings.argon2, settings.hash_concurrency),
        tokens=Tokens(settings.secret_keys, clock),
        limits=Limits(clock, settings.limits),
        engine=engine,
    )
    svc.mail.context = lambda: {"notice": notices.current(), "base_url": settings.base_url}
    return svc


async def purge_loop(svc: Services) -> None:
    """Every ``settings.purge_interval``: delete expired pending accounts and dead sessions."""
    while True:
        await anyio.sleep(svc.settings.purge_interval.total_seconds())
        try:
            deleted = await svc.accounts.purge_expired()
            sessions = await svc.accounts.purge_sessions()
            if deleted or sessions:
                log.info(
                    "purge : %d compte(s) non activé(s), %d session(s) expirée(s)", len(deleted), sessions
                )
        except Exception:
            log.exception("purge périodique en échec ; nouvel essai au prochain passage")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    svc: Services = app.state.services
    if svc.engine is None:
        from formservice.store.factory import open_engine

        svc.engine = open_engine(svc.settings.data_dir)
    svc.store = Store(svc.engine)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(svc.mail.run)
            tg.start_soon(purge_loop, svc)
            try:
                yield
            finally:
                with anyio.move_on_after(10, shield=True):
                    await svc.mail.drain()
                tg.cancel_scope.cancel()
    finally:
        for extra in svc.extras.values():  # the areas' own services (thread pools...)
            close = getattr(extra, "close", None)
            if close is not None:
                close()
        svc.extras.clear()
        await svc.store.close()
        svc.store = None


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
) -> Starlette:
    """The service. Raises NoticeError if notice.yml is invalid at start (nothing to fall back on).

    ``engine``: a store engine (tests pass MemoryEngine()); by default the lifespan opens the
    durable one in ``settings.data_dir``. The app closes it on shutdown.
    """
    svc = build_services(settings, engine=engine, clock=clock, mailer=mailer)
    app = Starlette(
        routes=routes(settings, svc.mailer),
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(SecurityHeadersMiddleware),
            Middleware(SessionMiddleware),
            Middleware(CsrfMiddleware),
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.services = svc
    svc.router = app.router
    return app
