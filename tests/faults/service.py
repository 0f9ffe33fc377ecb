"""The parent's side of the campaign: the service as a child process, the notice it serves, an
SMTP relay whose answers a test chooses, the candidate's pages, and the data directory read back.

    service = Service(root, data_dir, notice_path, smtp_port)     # a free port, kept across restarts
    service.start(); await service.wait_ready()
    ...
    service.kill()                                              # SIGKILL, no goodbye
    service.stop()                                              # SIGTERM: uvicorn's clean shutdown

Every child is started by a ``Service`` that a fixture closes (SIGKILL, then wait), so no child
outlives its test, whatever fails.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from account_helpers import FAST_ARGON2, PASSWORD, REPO, SECRET, Client, Mailbox, free_port
from pypdf import PdfWriter

from formservice.server import demo_notice_text
from formservice.store.contract import Engine
from formservice.store.postgres.engine import PostgresEngine
from formservice.store.tinydb.engine import TinyDBEngine

CHILD = Path(__file__).with_name("server_child.py")
VERSION_RE = re.compile(r'name="version" value="(\d+)"')
FILE_LINK_RE = re.compile(r'<a href="/espace/justificatifs/fichier/([^"/]+)">([^<]+)</a>')
SECTION_RE = re.compile(r'<section class="card upload" id="piece-([^"]+)"[^>]*>(.*?)</section>', re.S)
FAST = {"time_cost": FAST_ARGON2.time_cost, "memory_cost": FAST_ARGON2.memory_cost, "parallelism": 1}
# Signups, resends and mails per address are throttled per hour, in memory: the load sends more
# than a person would from one address (127.0.0.1), so these quotas are widened; the login
# throttles keep their defaults.
LOAD_LIMITS = {"signup_per_ip_hour": 100_000, "mails_per_address_hour": 1000, "resend_per_ip_hour": 1000}


def open_notice(path: Path, today: date | None = None) -> Path:
    """The repository's notice.yml with its window around today (opened a week ago, closing in two
    weeks), as ``formservice demo`` serves it: the child runs on the real clock."""
    text = (REPO / "notice.yml").read_text(encoding="utf-8")
    path.write_text(demo_notice_text(text, today or date.today()), encoding="utf-8")
    return path


def small_pdf(label: str = "", *, pad: int = 0) -> bytes:
    """A valid one-page PDF of a few hundred bytes (its metadata makes each one distinct), or
    ``pad`` bytes more (random hex in a metadata field: nothing compresses it)."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if label or pad:
        writer.add_metadata({"/Title": label, **({"/Subject": os.urandom(pad // 2).hex()} if pad else {})})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Service:
    """One service (one data directory, one port) that a test starts, kills and restarts."""

    root: Path  # where its configuration and its logs go (outside the data directory)
    data_dir: Path
    notice_path: Path
    smtp_port: int
    argon2: dict[str, int] | None = field(default_factory=lambda: dict(FAST))  # None: production cost
    limits: dict[str, Any] = field(default_factory=dict)
    mode: str = "serve"  # see server_child.py
    store: str = ""  # FORMSERVICE_STORE (empty: TinyDB in the data directory)
    workers: int = 1  # formservice serve --workers
    port: int = field(default_factory=free_port)
    public_url: str | None = None  # the base URL of its links, when a reverse proxy is in front
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_path(self, start: int) -> Path:
        return self.root / f"service-{self.port}-{start}.log"

    def start(self, *, fsize: int | None = None) -> None:
        assert not self.running, "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        config = {
            "notice_path": str(self.notice_path),
            "data_dir": str(self.data_dir),
            "site_dir": str(self.root / "site"),
            "port": self.port,
            "smtp_port": self.smtp_port,
            "secret": SECRET,
            "argon2": self.argon2,
            "limits": self.limits,
            "mode": self.mode,
            "fsize": fsize,
            "base_url": self.public_url,
            "store": self.store,
            "workers": self.workers,
        }
        path = self.root / f"service-{self.port}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        self.starts += 1
        with self.log_path(self.starts).open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(CHILD), str(path)], stdout=log, stderr=subprocess.STDOUT
            )

    def log(self, last: int = 1) -> str:
        """The output of the last ``last`` starts (for failure messages)."""
        texts = []
        for n in range(max(1, self.starts - last + 1), self.starts + 1):
            path = self.log_path(n)
            if path.exists():
                texts.append(f"--- start {n} ---\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(texts)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the login page answers 200 (the lifespan, reconciliation included, is done)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"the service exited ({self.process.returncode}):\n{self.log()}")
                try:
                    if (await client.get("/compte/connexion")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"the service never got ready:\n{self.log()}")
                await asyncio.sleep(0.03)

    def worker_pids(self) -> list[int]:
        """The worker processes of ``serve --workers N`` (the supervisor's children)."""
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self, *, expect_running: bool = True) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye. A service found dead already (it crashed,
        or refused to start) is an AssertionError, unless ``expect_running`` is False."""
        if self.process is None:
            return
        code = self.process.poll()
        if code is None:
            self.process.send_signal(signal.SIGKILL)
            self.kills += 1
        self.process.wait()
        self.process = None
        if code is not None and expect_running:
            raise AssertionError(f"the service had exited by itself ({code}):\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, as systemd stops it; whether the service ended cleanly (uvicorn re-raises
        the signal once its shutdown is done: -SIGTERM is its clean exit). SIGKILL after
        ``timeout``."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log()

    def close(self) -> None:
        self.kill(expect_running=False)


# -- the SMTP relay ---------------------------------------------------------------------------


class Relay(Mailbox):
    """The tests' mailbox, which can also refuse every mail for a while (``refusing``) with a
    temporary 4xx answer, after ``refuse_delay`` seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False
        self.refuse_delay = 0.0
        self.refused = 0
        self._count_lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            if self.refuse_delay:
                await asyncio.sleep(self.refuse_delay)
            with self._count_lock:
                self.refused += 1
            return "451 4.3.0 Relais indisponible, réessayez plus tard"
        return await super().handle_DATA(server, session, envelope)


def snapshot(mailbox: Mailbox) -> list[EmailMessage]:
    with mailbox._lock:
        return list(mailbox.messages)


MAIL_KINDS = {
    "activez votre compte": "activation",
    "Votre pré-inscription est enregistrée": "saved",
    "Modification de votre pré-inscription": "saved",
    "Votre changement d'adresse a été transmis": "address_ack",
    "Changement d'adresse d'un candidat": "address_pole",
}


def mail_kind(msg: EmailMessage) -> tuple[str, str]:
    """(kind, whose): whose is the candidate's address (the Reply-To of the mail to the pôle)."""
    subject = str(msg["Subject"])
    kind = next((k for text, k in MAIL_KINDS.items() if text in subject), "other")
    whose = str(msg["Reply-To"] if kind == "address_pole" else msg["To"])
    return kind, whose


class Delivered:
    """(kind, whose) -> the distinct Message-IDs the relay received (a mail sent twice counts
    once), read incrementally: the relay may hold thousands of mails, and their headers are slow
    to parse."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox
        self.seen = 0
        self.ids: dict[tuple[str, str], set[str]] = {}

    def update(self) -> dict[tuple[str, str], set[str]]:
        messages = snapshot(self.mailbox)
        for msg in messages[self.seen :]:
            self.ids.setdefault(mail_kind(msg), set()).add(str(msg["Message-ID"]))
        self.seen = len(messages)
        return self.ids

    def count(self, kind: str, whose: str) -> int:
        return len(self.update().get((kind, whose), ()))


# -- the candidate's pages --------------------------------------------------------------------


def client_for(base_url: str, **kwargs: Any) -> Client:
    return Client(base_url=base_url, follow_redirects=False, timeout=kwargs.pop("timeout", 15.0), **kwargs)


def signup_form(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "email": email,
        "email_confirm": email,
        "password": password,
        "password_confirm": password,
        "accept": "oui",
    }


def signed_up(response: httpx.Response) -> bool:
    return response.status_code == 200 and "Vérifiez votre messagerie" in response.text


def activated(response: httpx.Response) -> bool:
    return response.status_code == 200 and (
        "Votre compte est activé" in response.text or "Ce compte est déjà activé" in response.text
    )


def redirected_to(response: httpx.Response, info: str) -> bool:
    return response.status_code == 303 and f"info={info}" in response.headers.get("location", "")


def version_on(page: str) -> int:
    found = VERSION_RE.search(page)
    assert found, "no version on the enrolment page"
    return int(found.group(1))


def files_on(page: str) -> dict[str, list[tuple[str, str]]]:
    """« Mes justificatifs »: document id -> [(file id, display name)] as the page lists them."""
    return {doc: FILE_LINK_RE.findall(body) for doc, body in SECTION_RE.findall(page)}


def activation_path(mailbox: Mailbox, email: str) -> str | None:
    """The path of the activation link of the last activation mail to ``email``, if any."""
    for msg in reversed(snapshot(mailbox)):
        if str(msg["To"]) == email and mail_kind(msg)[0] == "activation":
            links = [link for link in mailbox.links(msg) if "/compte/activer/" in link]
            if links:
                return httpx.URL(links[0]).path
    return None


async def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True


async def enrol(client: Client, service: Service, mailbox: Mailbox, email: str) -> None:
    """Through the pages: signed up, activated by the mailed link, logged in, a first
    « Enregistrer » done; ``client``'s cookie is then the candidate's session."""
    from enrolment_forms import valid_enrolment_form

    from formservice.notice import load_notice

    response = await client.submit("/compte/creer", signup_form(email))
    assert signed_up(response), (response.status_code, response.text[:500])
    assert await wait_for(lambda: activation_path(mailbox, email) is not None, 15), "no activation mail"
    path = activation_path(mailbox, email)
    assert path is not None
    await client.page(path)
    assert activated(await client.post(path, data={"csrf_token": client.csrf()}))
    response = await client.submit("/compte/connexion", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text[:500]
    page = await client.page("/espace/inscription")
    form = valid_enrolment_form(load_notice(service.notice_path))
    response = await client.post("/espace/inscription", data={**form, "csrf_token": client.csrf(page.text)})
    assert redirected_to(response, "enregistree"), (response.status_code, response.text[:500])


# -- the data directory, read back ------------------------------------------------------------


@dataclass
class Stored:
    accounts: dict[str, dict[str, Any]]  # by e-mail
    enrolments: dict[str, dict[str, Any]]  # by account id
    outbox: list[dict[str, Any]]
    problems: list[str]


async def read_store(data_dir: Path, url: str = "") -> Stored:
    """What the store holds, read with the engine itself once the service has stopped (the
    TinyDB store of ``data_dir``, or the PostgreSQL database of ``url``)."""
    engine: Engine = PostgresEngine(url) if url else TinyDBEngine(data_dir / "store")
    try:
        report = await engine.check()
        accounts = {a["email"]: a for a in await engine.scan("accounts")}
        enrolments = {e["account_id"]: e for e in await engine.scan("enrolments")}
        outbox = await engine.scan("outbox")
    finally:
        await engine.close()
    return Stored(accounts, enrolments, outbox, list(report.problems))


def disk_files(data_dir: Path) -> tuple[dict[str, set[str]], list[Path]]:
    """(account id -> names of the files under uploads/<id>/, every other file under uploads/
    and tmp/: temporary and stray ones)."""
    stored: dict[str, set[str]] = {}
    strays: list[Path] = []
    uploads = data_dir / "uploads"
    for path in sorted(uploads.rglob("*")) if uploads.exists() else []:
        if not path.is_file():
            continue
        if path.parent.parent == uploads and not path.name.startswith("."):
            stored.setdefault(path.parent.name, set()).add(path.name)
        else:
            strays.append(path)
    tmp = data_dir / "tmp"
    strays += sorted(p for p in tmp.rglob("*")) if tmp.exists() else []
    return stored, strays


def referenced_files(stored: Stored) -> dict[str, set[str]]:
    """account id -> stored names its records point to."""
    out: dict[str, set[str]] = {}
    for enrolment in stored.enrolments.values():
        for meta in enrolment.get("files", []):
            out.setdefault(enrolment["account_id"], set()).add(meta["stored_name"])
    return {k: v for k, v in out.items() if v}


def not_private(root: Path, skip: Iterable[Path] = ()) -> dict[str, str]:
    """Every directory under ``root`` (itself included) that is not 0700 and every file that is
    not 0600, as name -> octal mode."""
    skipped = {Path(p) for p in skip}
    wrong: dict[str, str] = {}
    for path in [root, *sorted(root.rglob("*"))]:
        if path in skipped:
            continue
        st = os.lstat(path)
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if stat.S_IMODE(st.st_mode) != want:
            wrong[str(path.relative_to(root)) or "."] = oct(stat.S_IMODE(st.st_mode))
    return wrong
