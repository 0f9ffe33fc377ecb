"""What a view can reach: one ``Services`` object per app, at ``request.app.state.services``.

    from formservice.web.services import services
    svc = services(request)
    svc.notice()        # the Notice in force (re-read when notice.yml changes)
    svc.clock.now()     # aware UTC; a FrozenClock in tests
    svc.store           # repositories: svc.store.accounts, .sessions, .enrolments
    svc.mail            # MailQueue: await svc.mail.send_template(to, subject, template, context)
    svc.audit           # AuditLog: svc.audit.event("name", account_id=..., ip=..., **fields)
    svc.tokens          # signers per purpose
    svc.hasher          # argon2id, off the event loop
    svc.limits          # throttles
    svc.accounts        # AccountService (signup, activation, login, reset...)

Built by ``create_app``; the store is opened by the lifespan when no engine was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2

from formservice.accounts.passwords import Hasher
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import Clock
from formservice.errors import ServiceUnavailable
from formservice.mail import Mailer, MailQueue
from formservice.notice import Notice
from formservice.notice.source import NoticeSource
from formservice.ratelimit import Limits
from formservice.settings import Settings
from formservice.store import Engine, Store

if TYPE_CHECKING:
    from formservice.accounts.service import AccountService


@dataclass(eq=False)
class Services:
    settings: Settings
    clock: Clock
    notices: NoticeSource
    env: jinja2.Environment
    mailer: Mailer
    mail: MailQueue
    audit: AuditLog
    hasher: Hasher
    tokens: Tokens
    limits: Limits
    engine: Engine | None = None
    router: Any = None  # set by create_app: url paths for e-mail links
    _store: Store | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # room for later areas' services

    def notice(self) -> Notice:
        return self.notices.current()

    def link(self, name: str, /, **params: Any) -> str:
        """Absolute URL of a named route, for e-mails: from FORMSERVICE_BASE_URL, never the Host header."""
        return self.settings.url(str(self.router.url_path_for(name, **params)))

    @property
    def store(self) -> Store:
        if self._store is None:
            raise ServiceUnavailable()
        return self._store

    @store.setter
    def store(self, store: Store | None) -> None:
        self._store = store

    @property
    def accounts(self) -> AccountService:
        from formservice.accounts.service import AccountService

        service = self.extras.get("accounts")
        if service is None:
            service = self.extras["accounts"] = AccountService(self)
        return service


def services(request: Any) -> Services:
    """The app's services, from a Request (or anything with ``.app.state``)."""
    return request.app.state.services


def services_of_scope(scope: Any) -> Services:
    return scope["app"].state.services
