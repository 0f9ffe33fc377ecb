"""A real server for the browser tests: uvicorn in a thread on a free port, the notice's window
moved around today, mails to the aiosmtpd mailbox, notice.yml re-read at each request."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from account_helpers import FAST_ARGON2, SECRET, Mailbox, free_port, wait_until
from site_fixtures import published_site

from formservice.notice import Notice, load_notice
from formservice.server import demo_notice_text
from formservice.settings import Settings
from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
DATES_RE = re.compile(r"(?m)^(\s+)(closes|documents_deadline):\s*\S.*$")
REPO = Path(__file__).resolve().parents[2]


def minimal_site(site: Path) -> None:
    """What `formservice publish` writes at least: a home page linking to the signup form."""
    site.mkdir(parents=True)
    (site / "index.html").write_text(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Note aux candidats</title></head>'
        '<body><h1>Note aux candidats</h1><p><a href="/compte/creer">Créer mon compte</a></p></body></html>',
        encoding="utf-8",
    )


@dataclass
class Live:
    base_url: str
    notice_path: Path
    data_dir: Path
    shots: Path

    loop: asyncio.AbstractEventLoop | None = None
    app: Any = None

    def notice(self) -> Notice:
        return load_notice(self.notice_path)

    def call(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the server's event loop (its services are bound to it), as a
        command run beside the service would act; returns its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def close_registration(self, closes: datetime) -> None:
        """What an editor does: move both deadlines in the served notice.yml (no restart)."""
        text = self.notice_path.read_text(encoding="utf-8")
        edited, count = DATES_RE.subn(lambda m: f"{m.group(1)}{m.group(2)}: {closes:%Y-%m-%d %H:%M}", text)
        assert count == 2, "closes and documents_deadline not found in notice.yml"
        self.notice_path.write_text(edited, encoding="utf-8")

    def stored_files(self) -> dict[str, str]:
        """SHA-256 -> name of every file kept under the data directory's uploads."""
        return {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in self.uploads()}

    def uploads(self) -> list[Path]:
        root = self.data_dir / "uploads"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@contextlib.contextmanager
def running_service(
    tmp_path: Path, mailbox: Mailbox, site_source: Path | None, *, outbox: bool = False
) -> Iterator[Live]:
    """The service in a real uvicorn over a copy of `site_source` (a minimal home page if None),
    window open around today, notice.yml re-read at each request; mails to `mailbox`, or with
    `outbox` to the development outbox (and its page)."""
    notice = tmp_path / "notice.yml"
    notice.write_text(demo_notice_text((REPO / "notice.yml").read_text(encoding="utf-8"), date.today()))
    site = tmp_path / "site"
    if site_source is not None:
        shutil.copytree(site_source, site)
    else:
        minimal_site(site)
    port = free_port()
    settings = Settings(
        notice_path=notice,
        data_dir=tmp_path / "var",
        site_dir=site,
        base_url=f"http://127.0.0.1:{port}",
        secret_keys=(SECRET,),
        smtp=None if outbox else ("127.0.0.1", mailbox.port),
        argon2=FAST_ARGON2,
        hash_concurrency=1,
        notice_check_interval=0,
        echo_outbox=False,
    )
    app = create_app(settings, engine=MemoryEngine())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Live(settings.base_url, notice, settings.data_dir, shots, loops[0], app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(tmp_path: Path, mailbox: Mailbox) -> Iterator[Live]:
    """The service in a real uvicorn, window open around today, notice.yml re-read at each request
    (the repository's site/ if it was published, else a minimal home page)."""
    source = REPO / "site" if (REPO / "site" / "index.html").exists() else None
    with running_service(tmp_path, mailbox, source) as running:
        yield running


@pytest.fixture
def live_site(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Live]:
    """The same, serving the site published from the repository's notice.yml (built once)."""
    with running_service(tmp_path, mailbox, published_site(tmp_path_factory)) as running:
        yield running


@pytest.fixture
def live_outbox(tmp_path: Path, mailbox: Mailbox) -> Iterator[Live]:
    """The service without SMTP: mails go to the development outbox, listed at /_service/courriels."""
    with running_service(tmp_path, mailbox, None, outbox=True) as running:
        yield running


def fill_signup(page: Page, email: str, password: str) -> None:
    """« Créer mon compte » as a candidate types it (the page must be open)."""
    page.get_by_label("Adresse électronique", exact=True).fill(email)
    page.get_by_label("Adresse électronique (à nouveau)").fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_label("Mot de passe (à nouveau)").fill(password)
    page.get_by_label("J'ai lu").check()
    page.get_by_role("button", name="Créer mon compte").click()


def activate_and_log_in(page: Page, base_url: str, mailbox: Mailbox, email: str, password: str) -> None:
    """Follow « Activer mon compte » from the mail, then log in: the candidate lands on /espace."""
    wait_until(lambda: bool(mailbox.to(email)), timeout=10)
    page.goto(mailbox.link(email, "/compte/activer/"))
    page.get_by_role("button", name="Activer mon compte").click()
    page.get_by_text("Votre compte est activé").wait_for()
    page.goto(base_url + "/compte/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(base_url + "/espace")
