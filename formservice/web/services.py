"""What a view can reach: the app's ``Services``, built once by ``composition.build_services``.

    from formservice.web.services import services
    svc = services(request)
    svc.notice()           # the Notice in force (re-read when notice.yml changes)
    svc.clock.now()        # aware UTC; a FrozenClock in tests
    svc.accounts           # AccountService: signup, activation, login, reset, purge
    svc.enrolment          # EnrolmentService: save, upload, remove, complete, address change
    svc.audit              # AuditLog: svc.audit.event("name", account_id=..., ip=..., **fields)
    svc.site_status()      # whether the published site shows the notice in force

Views call the use cases; they do not reach the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2

from formservice.accounts.passwords import Hasher
from formservice.accounts.service import AccountService
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock
from formservice.enrolment.service import EnrolmentService
from formservice.files import FileStore
from formservice.mail import Mailer
from formservice.notice import Notice
from formservice.notice.site.autopublish import SitePublisher
from formservice.notice.site.stamp import SiteStatus, read_stamp, site_status
from formservice.notice.source import NoticeSource
from formservice.outbox import Outbox
from formservice.ratelimit import Limits
from formservice.reporting.exports import ExportService
from formservice.reporting.mydata import MyDataService
from formservice.reporting.reminders import ReminderService
from formservice.reporting.retention import RetentionService
from formservice.review.service import ReviewService
from formservice.settings import Settings
from formservice.staff.service import StaffService
from formservice.store import Store
from formservice.web.links import Links


@dataclass(eq=False)
class Services:
    settings: Settings
    clock: Clock
    notices: NoticeSource
    env: jinja2.Environment
    mailer: Mailer
    mail: Outbox  # the durable outbox: record mails, wake its worker, drain it in tests
    audit: AuditLog
    hasher: Hasher
    tokens: Tokens
    limits: Limits
    store: Store
    files: FileStore  # the candidates' files (local disk or S3): reached through the use cases
    links: Links
    accounts: AccountService
    enrolment: EnrolmentService
    staff: StaffService
    review: ReviewService
    exports: ExportService
    reminders: ReminderService
    my_data: MyDataService
    retention: RetentionService
    site: SitePublisher | None = None  # republishes the site on a new notice (settings.site_autopublish)

    def notice(self) -> Notice:
        return self.notices.current()

    def site_status(self) -> SiteStatus:
        """Whether the published site shows the notice in force (the staff home says it)."""
        return site_status(
            read_stamp(self.settings.site_dir),
            self.notices.version,
            self.notice().tz,
            publishing=self.site is not None and self.site.publishing,
            failure=self.site.failure if self.site is not None else None,
        )

    def close(self) -> None:
        """Release the threads and files of every use case (the lifespan calls it last)."""
        self.enrolment.close()
        self.accounts.close()
        self.staff.close()
        self.mail.close()
        self.hasher.close()
        self.audit.close()
        self.files.close()


def services(request: Any) -> Services:
    """The app's services, from a Request (or anything with ``.app.state``)."""
    found: Services = request.app.state.services
    return found
