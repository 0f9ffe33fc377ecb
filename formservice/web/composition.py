"""The composition root: every service of the app, built once, with its dependencies.

``build_services(settings)`` is the one place that chooses implementations (the mailer, the
engine, the file store, the clock) and wires the use cases; ``create_app`` and the commands (``formservice
purge``) call it. Nothing else constructs a service. ``Services.close()`` releases them.
"""

from __future__ import annotations

from formservice.accounts.passwords import Hasher
from formservice.accounts.service import AccountService
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock, SystemClock
from formservice.enrolment.service import EnrolmentService
from formservice.files import FileStore
from formservice.files.factory import open_files
from formservice.mail import Mailer, MailRenderer, OutboxMailer, SmtpMailer
from formservice.notice.site.autopublish import SitePublisher
from formservice.notice.source import NoticeSource
from formservice.outbox import Outbox
from formservice.ratelimit import Limits
from formservice.reporting.exports import ExportService
from formservice.reporting.mydata import MyDataService
from formservice.reporting.reminders import ReminderService
from formservice.reporting.retention import RetentionService
from formservice.review.listing import with_listing
from formservice.review.service import ReviewService
from formservice.settings import Settings
from formservice.staff.service import StaffService
from formservice.states import DeferredStates
from formservice.store import Engine, Store
from formservice.uploads import Clamd
from formservice.web.links import Links
from formservice.web.rendering import make_env
from formservice.web.routes import routes
from formservice.web.services import Services


def default_mailer(settings: Settings) -> Mailer:
    if settings.smtp is not None:
        return SmtpMailer(
            *settings.smtp,
            sender=settings.mail_from,
            security=settings.smtp_security,
            username=settings.smtp_user,
            password=settings.smtp_password,
            cafile=settings.smtp_cafile,
        )
    return OutboxMailer(settings.outbox_dir, settings.mail_from, echo=settings.echo_outbox)


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    files: FileStore | None = None,
) -> Services:
    """Everything the app and the commands need. Raises NoticeError if notice.yml is invalid.

    ``engine``: an open store engine (tests pass MemoryEngine()); without one, the store stays
    closed until the app's lifespan (or the command) attaches the durable engine. ``files``: the
    file store (default: the one ``settings.files`` names, local or S3)."""
    clock = clock or SystemClock()
    mailer = mailer or default_mailer(settings)
    files = files or open_files(settings.files, root=settings.uploads_dir, scratch=settings.tmp_dir)
    notices = NoticeSource(settings.notice_path, check_interval=settings.notice_check_interval)
    site = SitePublisher(settings.notice_path, settings.site_dir) if settings.site_autopublish else None
    if site is not None:
        notices.on_change(site.request)  # the site never lags behind the notice in force
    env = make_env()
    audit = AuditLog(settings.audit_path, settings.secret_keys[0], clock)
    hasher = Hasher(settings.argon2, settings.hash_concurrency)
    tokens = Tokens(settings.secret_keys, clock)
    store = Store(engine)
    # Throttles and uploads in flight: in the store's coordination (a table every worker shares
    # with PostgreSQL, this process's memory otherwise), looked up once the store is open.
    states = DeferredStates(lambda: store.coordination)
    limits = Limits(clock, settings.limits, states)
    # Every enrolment written carries the office's list fields, under the notice in force.
    store.enrolments.derive = lambda doc: with_listing(doc, notices.current())
    renderer = MailRenderer(
        env, lambda: {"notice": notices.current(), "base_url": settings.base_url}, domain=settings.host
    )
    mail = Outbox(store, renderer, mailer, clock)
    links = Links(settings, routes(settings, dev_outbox=isinstance(mailer, OutboxMailer)))
    accounts = AccountService(
        store=store,
        clock=clock,
        notices=notices.current,
        settings=settings,
        audit=audit,
        hasher=hasher,
        tokens=tokens,
        limits=limits,
        mail=mail,
        links=links,
    )
    enrolment = EnrolmentService(
        store=store,
        clock=clock,
        notices=notices.current,
        files=files,
        tmp_dir=settings.tmp_dir,
        mail=mail,
        links=links,
        cpu_workers=settings.cpu_workers,
        antivirus=Clamd(settings.clamd_socket, settings.clamd_timeout) if settings.clamd_socket else None,
        min_upload_rate=settings.upload_min_rate,
        upload_grace_s=settings.upload_grace_s,
        states=states,
    )
    staff = StaffService(
        store=store,
        clock=clock,
        notices=notices.current,
        settings=settings,
        audit=audit,
        hasher=hasher,
        tokens=tokens,
        limits=limits,
        mail=mail,
        links=links,
    )
    review = ReviewService(
        store=store,
        clock=clock,
        notices=notices.current,
        audit=audit,
        mail=mail,
        links=links,
        files=files,
    )
    exports = ExportService(
        store=store,
        clock=clock,
        notices=notices.current,
        audit=audit,
        files=files,
        tmp_dir=settings.tmp_dir,
    )
    reminders = ReminderService(
        store=store, clock=clock, notices=notices.current, audit=audit, mail=mail, links=links, tokens=tokens
    )
    my_data = MyDataService(store=store, clock=clock, notices=notices.current, audit=audit, files=files)
    retention = RetentionService(
        store=store,
        clock=clock,
        notices=notices.current,
        audit=audit,
        mail=mail,
        links=links,
        files=files,
    )
    return Services(
        settings=settings,
        clock=clock,
        notices=notices,
        env=env,
        mailer=mailer,
        mail=mail,
        audit=audit,
        hasher=hasher,
        tokens=tokens,
        limits=limits,
        store=store,
        files=files,
        links=links,
        accounts=accounts,
        enrolment=enrolment,
        staff=staff,
        review=review,
        exports=exports,
        reminders=reminders,
        my_data=my_data,
        retention=retention,
        site=site,
    )
