"""Outgoing mail, the transport side: what a mail is, how it is rendered, how it is sent.

- ``Mail`` is one message; ``MailRenderer`` renders ``templates/mail/<name>.txt`` and ``.html``
  (templates receive ``notice``, ``base_url`` and the context; links are absolute, built from
  the configured base URL, never from the request's Host header).
- ``Mailer`` is the transport interface (``async send(mail)``): ``SmtpMailer`` for
  ``FORMSERVICE_SMTP`` (plain, STARTTLS required, or implicit TLS; AUTH; connections reused for
  a burst), ``OutboxMailer`` for development (an ``.eml`` file per mail in ``<data_dir>/outbox``
  and the links printed on the console; ``/_service/courriels`` lists them).
- ``PermanentMailError`` / ``is_permanent``: the failures a retry cannot cure (a 5xx answer, a
  header that cannot be encoded).

Mails are not sent from here but from the durable outbox (``formservice/outbox``): a mail is
recorded with the change that causes it and delivered by a worker that survives restarts.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
import anyio.abc
import anyio.to_thread
import jinja2

from formservice.durable import open_private, private_dir
from formservice.typography import french_text

log = logging.getLogger("formservice.mail")

LINK_RE = re.compile(r"https?://[^\s<>\"]+")
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def header_text(value: str, limit: int = 200) -> str:
    """A value fit for a mail header: no line break or control character (a name typed with a
    line feed must neither break the encoding nor add a header), trimmed to ``limit``."""
    return " ".join(_HEADER_BREAKS.sub(" ", value).split())[:limit]


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: str = ""  # stable across retries: a mail sent twice after a crash is one mail
    reply_to: str | None = None

    def links(self) -> list[str]:
        return LINK_RE.findall(self.text)

    def message(self, sender: str, domain: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.to
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = self.message_id or make_msgid(domain=domain or "localhost")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        return msg


def new_message_id(domain: str) -> str:
    return f"<{secrets.token_hex(16)}@{domain or 'localhost'}>"


class MailRenderer:
    """French text + HTML from the mail templates, with what every template receives. The
    service's environment (``web.rendering.make_env``) typesets both parts; the subject, which is
    no template, is typeset here."""

    def __init__(
        self, env: jinja2.Environment, context: Callable[[], dict[str, Any]] = dict, domain: str = ""
    ):
        self.env = env
        self.context = context
        self.domain = domain

    def render(
        self, to: str, subject: str, template: str, context: dict[str, Any], *, reply_to: str | None = None
    ) -> Mail:
        subject = header_text(french_text(subject))
        values = {**self.context(), **context, "subject": subject}
        text = self.env.get_template(f"mail/{template}.txt").render(values)
        html = self.env.get_template(f"mail/{template}.html").render(values)
        return Mail(
            to=header_text(to, 254),
            subject=subject,
            text=text,
            html=html,
            message_id=new_message_id(self.domain),
            reply_to=header_text(reply_to, 254) if reply_to else None,
        )


class PermanentMailError(Exception):
    """The relay refused this mail for good, or it cannot be written: retrying cannot help."""


def is_permanent(exc: BaseException) -> bool:
    """A 5xx answer, or a message that cannot be built (an unencodable header): never retried.
    Connection failures, timeouts and 4xx answers are worth another try."""
    if isinstance(exc, PermanentMailError | UnicodeError | ValueError | TypeError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


Security = Literal["none", "starttls", "tls"]


class SmtpMailer:
    """SMTP with ``security``: "starttls" (required, not opportunistic), "tls" (implicit TLS, port
    465) or "none" (a relay on a trusted network; STARTTLS is still used when offered). A
    connection is kept for ``reuse_for`` seconds, so a burst of mails does not pay a handshake
    each; at most ``pool`` connections at once."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        timeout: float = 30.0,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        reuse_for: float = 10.0,
        pool: int = 4,
        cafile: str | None = None,
    ):
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.security, self.username, self.password = security, username, password
        self.domain = sender.rpartition("@")[2]
        self.reuse_for = reuse_for
        self.cafile = cafile  # an internal CA's certificate, when the relay's is not public
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(pool)

    async def send(self, mail: Mail) -> None:
        msg = mail.message(self.sender, self.domain)  # an unencodable header fails here: permanent
        await anyio.to_thread.run_sync(self._send, msg, limiter=self._limiter)

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.cafile)
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls" or (self.security == "none" and smtp.has_extn("starttls")):
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("STARTTLS exigé mais non proposé par le relais")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _checkout(self) -> smtplib.SMTP:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                smtp, since = self._idle.pop()
                if now - since < self.reuse_for:
                    return smtp
                _quit(smtp)
        return self._connect()

    def _send(self, msg: EmailMessage) -> None:
        smtp = self._checkout()
        try:
            try:
                smtp.send_message(msg)
            except smtplib.SMTPServerDisconnected:  # an idle connection the relay closed: once more
                _quit(smtp)
                smtp = self._connect()
                smtp.send_message(msg)
        except BaseException:
            _quit(smtp)
            raise
        with self._lock:
            self._idle.append((smtp, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _ in idle:
            _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except Exception:
        smtp.close()


class OutboxMailer:
    """Development: each mail becomes ``<directory>/<time>-<random>.eml``; links are printed."""

    def __init__(self, directory: Path, sender: str, *, echo: bool = True):
        self.directory = Path(directory)
        self.sender = sender
        self.echo = echo
        self.domain = sender.rpartition("@")[2]

    async def send(self, mail: Mail) -> None:
        private_dir(self.directory)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.eml"
        fd = open_private(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "wb") as out:  # a mail holds personal data: 0600 like the store
            out.write(bytes(mail.message(self.sender, self.domain)))
        if self.echo:
            lines = [f"[courriel] {mail.subject} → {mail.to} ({self.directory / name})"]
            lines += [f"    {link}" for link in mail.links()]
            print("\n".join(lines), file=sys.stdout, flush=True)

    def list(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"), reverse=True)

    def close(self) -> None:
        return None
