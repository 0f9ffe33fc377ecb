"""Outgoing mail: French text + HTML from templates, sent in the background.

- ``Mailer`` is the transport interface (``async send(mail)``): ``SmtpMailer`` for
  ``FORMSERVICE_SMTP``, ``OutboxMailer`` for development (an ``.eml`` file per mail in
  ``<data_dir>/outbox`` and the links printed on the console; ``/_service/courriels`` lists them).
- ``MailQueue`` renders ``templates/mail/<name>.txt`` and ``.html`` and hands the mail to a worker
  task started by the app's lifespan. Views answer at once, whatever the mail server does, so the
  answer time of "signup" does not depend on which mail was sent (no enumeration by timing).

Usage (e.g. the enrolment service)::

    await services.mail.send_template(
        to=account["email"], subject="Modification de votre inscription",
        template="enrolment_changed", context={"changes": changes},
    )

Templates receive ``notice``, ``base_url`` and the context. Links must be absolute and built with
``settings.url(path)``, never from the request's Host header.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import smtplib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.abc
import anyio.to_thread
import jinja2

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

    def links(self) -> list[str]:
        return LINK_RE.findall(self.text)

    def message(self, sender: str, domain: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain=domain or "localhost")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        return msg


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 30.0):
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.domain = sender.rpartition("@")[2]

    async def send(self, mail: Mail) -> None:
        await anyio.to_thread.run_sync(self._send, mail.message(self.sender, self.domain))

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            smtp.send_message(msg)


class OutboxMailer:
    """Development: each mail becomes ``<directory>/<time>-<random>.eml``; links are printed."""

    def __init__(self, directory: Path, sender: str, *, echo: bool = True):
        self.directory = Path(directory)
        self.sender = sender
        self.echo = echo
        self.domain = sender.rpartition("@")[2]

    async def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}.eml"
        (self.directory / name).write_bytes(bytes(mail.message(self.sender, self.domain)))
        if self.echo:
            lines = [f"[courriel] {mail.subject} → {mail.to} ({self.directory / name})"]
            lines += [f"    {link}" for link in mail.links()]
            print("\n".join(lines), file=sys.stdout, flush=True)

    def list(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"), reverse=True)


class MailQueue:
    RETRY_DELAYS = (1.0, 5.0, 30.0)

    def __init__(self, mailer: Mailer, env: jinja2.Environment, context: Callable[[], dict[str, Any]] = dict):
        self.mailer = mailer
        self.env = env
        self.context = context
        self._queue: asyncio.Queue[Mail] | None = None
        self.sent = 0
        self.failed = 0

    def render(self, to: str, subject: str, template: str, context: dict[str, Any]) -> Mail:
        subject = header_text(subject)
        values = {**self.context(), **context, "subject": subject}
        text = self.env.get_template(f"mail/{template}.txt").render(values)
        html = self.env.get_template(f"mail/{template}.html").render(values)
        return Mail(to=header_text(to, 254), subject=subject, text=text, html=html)

    async def send_template(self, to: str, subject: str, template: str, context: dict[str, Any]) -> Mail:
        """Render now (a template error surfaces in the request), send in the background."""
        mail = self.render(to, subject, template, context)
        await self.send(mail)
        return mail

    async def send(self, mail: Mail) -> None:
        if self._queue is None:  # no worker (CLI, a test without lifespan): send now
            await self._deliver(mail)
        else:
            await self._queue.put(mail)

    async def _deliver(self, mail: Mail) -> None:
        for attempt, pause in enumerate((*self.RETRY_DELAYS, None)):
            try:
                await self.mailer.send(mail)
                self.sent += 1
                return
            except Exception as exc:  # any transport failure: retry, then give up loudly
                if pause is None:
                    self.failed += 1
                    log.error(
                        "courriel « %s » non envoyé après %d essais : %s", mail.subject, attempt + 1, exc
                    )
                    return
                log.warning(
                    "courriel « %s » : échec (%s), nouvel essai dans %.0f s", mail.subject, exc, pause
                )
                await anyio.sleep(pause)

    async def run(self, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The worker, started by the lifespan's task group."""
        self._queue = asyncio.Queue()
        task_status.started()
        try:
            while True:
                mail = await self._queue.get()
                try:
                    await self._deliver(mail)
                finally:
                    self._queue.task_done()
        finally:
            self._queue = None

    async def drain(self) -> None:
        """Wait until every queued mail has been handed to the transport (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()
