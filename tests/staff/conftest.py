"""The staff service on its own, built like the composition root builds it: the reference engine,
a real outbox writing .eml files in a temporary folder, a frozen clock, a fast argon2."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pyotp
import pytest
from account_helpers import FAST_ARGON2, IN_WINDOW, PASSWORD, REPO, SECRET, Mailbox

from formservice.accounts.passwords import Hasher
from formservice.accounts.tokens import Tokens
from formservice.audit import AuditLog
from formservice.clock import FrozenClock
from formservice.mail import MailRenderer, OutboxMailer
from formservice.notice import Notice, load_notice
from formservice.outbox import Outbox
from formservice.ratelimit import Limits
from formservice.settings import Settings
from formservice.staff.records import Staff
from formservice.staff.service import LoginStatus, StaffService
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.web.rendering import make_env

BASE = "https://gestion.example"
ADMIN = "admin@ac-poitiers.fr"


@dataclass
class World:
    service: StaffService
    clock: FrozenClock
    store: Store
    mailer: OutboxMailer
    notice: Notice
    audit_path: Path
    links_asked: list[str] = field(default_factory=list)

    # -- mails ---------------------------------------------------------------------------------
    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every mail delivered to ``address``, oldest first."""
        parser = BytesParser(policy=policy.default)
        found = []
        for path in sorted(self.mailer.list()):
            msg = parser.parsebytes(path.read_bytes())
            assert isinstance(msg, EmailMessage)
            if msg["To"] == address:
                found.append(msg)
        return found

    text = staticmethod(Mailbox.text)  # the mail's parts, read as the SMTP tests read them
    html = staticmethod(Mailbox.html)

    def invitation_token(self, address: str) -> str:
        """The token of the invitation link in the last mail to ``address``."""
        mails = self.mails_to(address)
        assert mails, f"no mail to {address}"
        for word in self.text(mails[-1]).split():
            if word.startswith(f"{BASE}/staff_invitation/"):
                return word.rsplit("/", 1)[1]
        raise AssertionError(f"no invitation link in {self.text(mails[-1])}")

    # -- journeys ------------------------------------------------------------------------------
    async def admin(self) -> Staff:
        """An active administrateur, invited from the command line."""
        existing = await self.store.staff.by_email(ADMIN)
        if existing is not None and existing["status"] == "active":
            return existing
        await self.service.invite(ADMIN, "administrateur", [])
        await self.enrol(ADMIN)
        staff = await self.store.staff.by_email(ADMIN)
        assert staff is not None
        return staff

    async def enrol(self, address: str, password: str = PASSWORD) -> tuple[str, list[str]]:
        """Use the invitation (first code at the clock's time, then 30 s pass so that the next
        code is a new one); returns (secret, recovery codes)."""
        token = self.invitation_token(address)
        setup = await self.service.begin_enrolment(token)
        codes = await self.service.finish_enrolment(
            token, password, setup.secret, pyotp.TOTP(setup.secret).at(self.clock.now())
        )
        self.clock.advance(seconds=30)
        return setup.secret, codes

    async def ticket(self, address: str, password: str = PASSWORD, ip: str = "192.0.2.10") -> str:
        login = await self.service.authenticate(address, password, ip)
        assert login.status is LoginStatus.OK and login.ticket
        return login.ticket

    def code(self, secret: str, steps: int = 0) -> str:
        """The TOTP code ``steps`` time steps away from the clock's now."""
        return pyotp.TOTP(secret).at(self.clock.now(), counter_offset=steps)

    def audit_text(self) -> str:
        return self.audit_path.read_text(encoding="utf-8") if self.audit_path.exists() else ""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    notice = load_notice(REPO / "notice.yml")
    settings = Settings(notice_path=REPO / "notice.yml", data_dir=tmp_path, secret_keys=(SECRET,))
    clock = FrozenClock(IN_WINDOW)
    hasher = Hasher(FAST_ARGON2, 1)
    store = Store(MemoryEngine())
    mailer = OutboxMailer(tmp_path / "outbox", "ne-pas-repondre@exemple.fr", echo=False)
    renderer = MailRenderer(make_env(), lambda: {"notice": notice, "base_url": settings.base_url})
    asked: list[str] = []

    def links(name: str, **params: str) -> str:
        asked.append(name)
        return f"{BASE}/{name}/{params.get('token', '')}"

    audit_path = tmp_path / "audit.log"
    service = StaffService(
        store=store,
        clock=clock,
        notices=lambda: notice,
        settings=settings,
        audit=AuditLog(audit_path, SECRET, clock),
        hasher=hasher,
        tokens=Tokens(settings.secret_keys, clock),
        limits=Limits(clock, settings.limits),
        mail=Outbox(store, renderer, mailer, clock),
        links=links,
    )
    yield World(service, clock, store, mailer, notice, audit_path, asked)
    hasher.close()
