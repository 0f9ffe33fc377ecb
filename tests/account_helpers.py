"""Helpers for the accounts tests: the SMTP mailbox, a CSRF-aware client, the signup journey."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from formservice.settings import Argon2Params, Settings

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "cheval agrafe batterie correcte"
FAST_ARGON2 = Argon2Params(time_cost=1, memory_cost=1024, parallelism=1)
SECRET = "test-secret-key-0123456789abcdefghijklmnop"
# Inside the repository notice's window (2025-10-21 09:00 → 2025-11-13 19:00, Paris).
IN_WINDOW = datetime(2025, 10, 22, 8, 0, tzinfo=UTC)
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"https?://\S+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.peers: list[Any] = []  # the client address of each mail's connection
        self._lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self.messages.append(msg)
            self.peers.append(session.peer)
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.peers.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @staticmethod
    def html(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())

    def links(self, msg: EmailMessage) -> list[str]:
        return LINK_RE.findall(self.text(msg))

    def link(self, address: str, contains: str) -> str:
        """The first link containing ``contains`` in the last mail to ``address``."""
        mails = self.to(address)
        assert mails, f"no mail to {address}"
        found = [link for link in self.links(mails[-1]) if contains in link]
        assert found, f"no {contains} link in {self.text(mails[-1])}"
        return found[0]


class Client(httpx.AsyncClient):
    """An httpx client that fills in the CSRF token, as the browser does with the hidden input."""

    last_page: str = ""

    async def page(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.get(path, **kwargs)
        self.last_page = response.text
        return response

    def csrf(self, html: str | None = None) -> str:
        found = CSRF_RE.search(html if html is not None else self.last_page)
        assert found, "no CSRF token on the page"
        return found.group(1)

    async def submit(
        self, path: str, data: dict[str, str], *, form_page: str | None = None
    ) -> httpx.Response:
        """GET ``form_page`` (default: ``path``) for its token, then POST ``data`` to ``path``."""
        html = (await self.page(form_page or path.split("?")[0])).text
        return await self.post(path, data={**data, "csrf_token": self.csrf(html)})


def make_client(app: Starlette, settings: Settings, ip: str = "127.0.0.1") -> Client:
    return Client(
        transport=httpx.ASGITransport(app=app, client=(ip, 50000)),
        base_url=settings.base_url,
        follow_redirects=False,
    )


async def settle(app: Starlette) -> None:
    """Wait until the queued mails have reached the SMTP server."""
    await app.state.services.mail.drain()


@dataclass
class Candidate:
    email: str
    password: str
    account_id: str


async def sign_up(client: Client, app: Starlette, email: str, password: str = PASSWORD) -> httpx.Response:
    response = await client.submit(
        "/compte/creer",
        {
            "email": email,
            "email_confirm": email,
            "password": password,
            "password_confirm": password,
            "accept": "oui",
        },
    )
    await settle(app)
    return response


async def activate_from_mail(client: Client, mailbox: Mailbox, email: str) -> httpx.Response:
    link = mailbox.link(email, "/compte/activer/")
    path = httpx.URL(link).path
    page = await client.page(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={"csrf_token": client.csrf()})


async def log_in(client: Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.submit("/compte/connexion", {"email": email, "password": password})


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
