"""Fixtures: a notice and settings in temporary directories, a settable clock, a real SMTP server
(aiosmtpd) collecting the mails, the app over an in-memory store, an HTTP client, a candidate, a
real ClamAV daemon and a real S3 server (SeaweedFS, one per test session)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from account_helpers import (
    FAST_ARGON2,
    IN_WINDOW,
    PASSWORD,
    REPO,
    SECRET,
    Candidate,
    Client,
    Mailbox,
    activate_from_mail,
    free_port,
    make_client,
    sign_up,
)
from aiosmtpd.controller import Controller
from clamd_helpers import ClamdDaemon, start_clamd
from postgres_helpers import PostgresServer, postgres_bin
from s3_helpers import FILE_STORES, SeaweedFS, start_seaweedfs
from starlette.applications import Starlette

from formservice.clock import FrozenClock
from formservice.files import FileStore
from formservice.files.local import LocalFileStore
from formservice.notice import Notice, load_notice
from formservice.settings import Settings
from formservice.store.memory import MemoryEngine
from formservice.web.app import create_app


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytestmark = pytest.mark.anyio``) run on asyncio, as uvicorn does."""
    return "asyncio"


# -- mail ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[Mailbox]:
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox(_smtp_server: Mailbox) -> Mailbox:
    """A real SMTP server on a free port (aiosmtpd), emptied for each test."""
    _smtp_server.clear()
    return _smtp_server


# -- notice, clock, settings ---------------------------------------------------------------------


@pytest.fixture
def notice_path(tmp_path: Path) -> Path:
    """A copy of the repository's notice.yml, free to edit."""
    path = tmp_path / "notice.yml"
    shutil.copy(REPO / "notice.yml", path)
    return path


@pytest.fixture
def notice(notice_path: Path) -> Notice:
    return load_notice(notice_path)


@pytest.fixture
def clock() -> FrozenClock:
    """Stands inside the registration window; move it with ``clock.advance(hours=...)``."""
    return FrozenClock(IN_WINDOW)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, notice_path: Path, mailbox: Mailbox) -> Settings:
    """The candidates' files on the local disk; a test marked
    ``@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)`` (s3_helpers) runs once
    with them there, once in S3 (the session's SeaweedFS, under a prefix of the test's own)."""
    base = Settings(
        notice_path=notice_path,
        data_dir=tmp_path / "var",
        site_dir=tmp_path / "site",
        base_url="http://testserver",
        secret_keys=(SECRET,),
        smtp=("127.0.0.1", mailbox.port),
        argon2=FAST_ARGON2,
        hash_concurrency=2,
        notice_check_interval=0,
        echo_outbox=False,
    )
    if getattr(request, "param", "local") == "local":
        return base
    seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
    return base.with_(
        files=seaweedfs.files_config(request.getfixturevalue("s3_prefix"), timeout=1.0, attempts=1)
    )


# -- app and client -------------------------------------------------------------------------------


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, engine=MemoryEngine(), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette, settings: Settings) -> AsyncIterator[Client]:
    async with make_client(app, settings) as c:
        yield c


@pytest.fixture
async def candidate(client: Client, app: Starlette, mailbox: Mailbox) -> Candidate:
    """An activated account (signed up and activated through the pages), not logged in."""
    email = "candidate@exemple.fr"
    await sign_up(client, app, email)
    response = await activate_from_mail(client, mailbox, email)
    assert "Votre compte est activé" in response.text
    account = await app.state.services.store.accounts.by_email(email)
    return Candidate(email=email, password=PASSWORD, account_id=account["id"])


@pytest.fixture
def clamd() -> Iterator[ClamdDaemon]:
    """A real clamd for one test (it starts in well under a second with our two signatures).
    Under a short /tmp directory: a Unix socket's path is limited to 107 bytes."""
    root = Path(tempfile.mkdtemp(prefix="clamd-"))
    try:
        daemon = start_clamd(root)
        try:
            yield daemon
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One real S3-compatible server (SeaweedFS's ``weed mini``) for the whole session, on
    loopback ports of its own, its data in a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="weed-"))
    try:
        server = start_seaweedfs(root)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def s3_prefix(seaweedfs: SeaweedFS) -> str:
    """A prefix of the bucket that belongs to this test alone."""
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture(params=FILE_STORES)
def file_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    """A FileStore of each kind: the local disk, then S3 (the session's SeaweedFS)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(mode=0o700)
    if request.param == "local":
        store: FileStore = LocalFileStore(tmp_path / "uploads")
    else:
        seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
        store = seaweedfs.file_store(request.getfixturevalue("s3_prefix"), scratch)
    try:
        yield store
    finally:
        store.close()


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/postgres_helpers.py). Without Debian's
    binaries the PostgreSQL tests are skipped, except in CI, where they fail: CI installs them
    (scripts/system-deps.sh test)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL absent : installez le paquet postgresql (scripts/system-deps.sh test)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    try:
        server.make_template()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database holding the schema, dropped after the test."""
    name = postgres_server.new_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop(name)
