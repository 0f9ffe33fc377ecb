"""The fault campaign of issue #10, with real processes: the service (``formservice serve``, or
uvicorn on ``create_app``) in a child process on the TinyDB store, a real SMTP relay (aiosmtpd)
in this process, and httpx clients going through the real pages.

1. kill -9 under a mixed load, 20+ times: every acknowledged change and mail survives, no orphan
   nor temporary file, every file private (module fixture ``campaign``, four tests);
   the production entry point reconciles the files at start too;
2. a relay refusing (451) for more than an hour of the outbox's clock, then accepting;
3. a mail whose header cannot be encoded, among normal ones;
4. a full disk (a small tmpfs, or RLIMIT_FSIZE where mounting is not allowed);
5. 60 parallel password guesses from one address;
6. file modes (checked after 1, 4 and 7);
7. every hostile PDF through the real upload.

Each test is bounded (``timeout``) and every child is killed by a fixture, whatever fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from account_helpers import (
    FAST_ARGON2,
    IN_WINDOW,
    PASSWORD,
    REPO,
    SECRET,
    Mailbox,
    activate_from_mail,
    free_port,
    log_in,
    make_client,
    sign_up,
)
from aiosmtpd.controller import Controller
from enrolment_forms import valid_enrolment_form
from uploads.corpus import one_page, raw_pdf
from uploads.test_pdf_actions import ESCAPED, REFUSED

from formservice.clock import FrozenClock, SystemClock, to_iso
from formservice.mail import MailRenderer, SmtpMailer
from formservice.notice import load_notice
from formservice.outbox import Outbox, retry_delay
from formservice.settings import RateLimits, Settings
from formservice.store import Store
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.typography import french_text
from formservice.web.app import create_app
from formservice.web.rendering import make_env

from .load import Ledger, LoadCandidate, lost_changes
from .service import (
    LOAD_LIMITS,
    Delivered,
    Relay,
    Service,
    client_for,
    disk_files,
    enrol,
    files_on,
    not_private,
    open_notice,
    read_store,
    redirected_to,
    referenced_files,
    signed_up,
    signup_form,
    small_pdf,
    version_on,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

NOT_SAVED = "Votre action n'a pas été enregistrée"


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Services of this test; each is killed at the end if still running."""
    made: list[Service] = []

    def make(**kwargs: Any) -> Service:
        kwargs.setdefault("root", tmp_path / "run")
        kwargs.setdefault("data_dir", tmp_path / "var")
        if "notice_path" not in kwargs:
            kwargs["notice_path"] = open_notice(tmp_path / "notice.yml")
        service = Service(**kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


def audit_events(data_dir: Path) -> Counter[str]:
    path = data_dir / "audit.log"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return Counter(json.loads(line)["event"] for line in lines if line.strip())


# =============================================================================================
# 1. kill -9 under a mixed load
# =============================================================================================

SEED = 20251021
ROUNDS = 25
EARLY = {7, 15, 23}  # killed while starting (store opening, recovery, reconciliation), not serving
CANDIDATES = 6


@dataclass
class Campaign:
    data_dir: Path
    candidates: list[LoadCandidate]
    ledger: Ledger
    kills: int
    kills_under_load: int
    expected_mails: Counter[tuple[str, str]]
    delivered: dict[tuple[str, str], set[str]]
    all_delivered: bool
    stopped_cleanly: bool
    stored: Any
    disk: tuple[dict[str, set[str]], list[Path]]
    seconds: float
    log: str


def expected_mails(candidates: list[LoadCandidate]) -> Counter[tuple[str, str]]:
    """What the acknowledged requests promised: one mail each (kind, candidate's address)."""
    expected: Counter[tuple[str, str]] = Counter()
    for c in candidates:
        if c.signup is not None and c.signup.acked:
            expected["activation", c.email] += 1
        expected["saved", c.email] += sum(s.acked for s in c.saves)
        addresses = sum(a.acked for a in c.addresses)
        expected["address_ack", c.email] += addresses
        expected["address_pole", c.email] += addresses  # to the pôle, Reply-To the candidate
    return +expected


async def run_campaign(service: Service, mailbox: Mailbox) -> Campaign:
    started = time.monotonic()
    notice = load_notice(service.notice_path)
    rnd = random.Random(SEED)
    ledger = Ledger()
    candidates = [
        LoadCandidate(n, service.base_url, notice, mailbox, ledger, rnd.random()) for n in range(CANDIDATES)
    ]
    up, stop = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(c.run(up, stop)) for c in candidates]
    under_load = 0
    try:
        for round_ in range(ROUNDS):
            service.start()
            if round_ in EARLY:
                await asyncio.sleep(rnd.uniform(0.2, 0.9))
            else:
                await service.wait_ready()
                up.set()
                await asyncio.sleep(rnd.uniform(0.2, 1.4))
                under_load += 1
            up.clear()
            service.kill()
            if any(t.done() for t in tasks):
                break  # a candidate met something it could not handle: gather() says what
        service.start()  # the final, clean start: reconciliation, then the outbox delivers
        await service.wait_ready()
        stop.set()
        up.set()
        await asyncio.gather(*tasks)  # each candidate finishes the step it was in
    finally:
        stop.set()
        up.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in candidates:
            await c.aclose()
    expected = expected_mails(candidates)
    received = Delivered(mailbox)

    def all_arrived() -> bool:
        got = received.update()
        return all(len(got.get(key, ())) >= n for key, n in expected.items())

    arrived = await wait_for(all_arrived, 30, 0.2)
    log = service.log()
    stopped = service.stop()  # SIGTERM: the lifespan drains what is still due
    stored = await read_store(service.data_dir)
    return Campaign(
        data_dir=service.data_dir,
        candidates=candidates,
        ledger=ledger,
        kills=service.kills,
        kills_under_load=under_load,
        expected_mails=expected,
        delivered=received.update(),
        all_delivered=arrived,
        stopped_cleanly=stopped,
        stored=stored,
        disk=disk_files(service.data_dir),
        seconds=time.monotonic() - started,
        log=log,
    )


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory, _smtp_server: Mailbox) -> Iterator[Campaign]:
    """The whole kill -9 campaign, run once for the four tests that read its outcome. ``mode="app"``:
    uvicorn on ``create_app(settings)``, whose lifespan opens the store and reconciles the files
    (``formservice serve`` does not: see ``test_the_start_removes_orphan_and_temporary_files``)."""
    root = tmp_path_factory.mktemp("campaign")
    _smtp_server.clear()
    service = Service(
        root=root / "run",
        data_dir=root / "var",
        notice_path=open_notice(root / "notice.yml"),
        smtp_port=_smtp_server.port,
        limits=LOAD_LIMITS,
        mode="app",
    )
    try:
        yield asyncio.run(run_campaign(service, _smtp_server))
    finally:
        service.close()


@pytest.mark.timeout(90)
def test_kill_9_campaign_kills_the_service_20_times_under_a_mixed_load(campaign: Campaign) -> None:
    """SIGKILL at random moments (seeded), 20+ times while six candidates sign up, activate, log
    in, save, add and remove PDFs and report address changes; the service restarts on its data
    directory each time, and no answer was ever an error."""
    ledger = campaign.ledger
    summary = dict(ledger.answers) | {"cut": ledger.cut, "seconds": round(campaign.seconds, 1)}
    print(f"\nkill -9 campaign: {campaign.kills} kills, {summary}")
    assert campaign.kills_under_load >= 20, summary
    assert campaign.kills >= campaign.kills_under_load
    assert ledger.unexpected == [], ledger.unexpected[:10]
    assert ledger.cut >= 5, f"the kills cut too few requests to mean anything: {summary}"
    for action, least in {"signup": CANDIDATES, "activate": CANDIDATES, "save": 20, "upload": 20}.items():
        assert ledger.acks(action) >= least, (action, summary)
    assert ledger.acks("remove") >= 5 and ledger.acks("address") >= 3, summary
    assert campaign.stopped_cleanly, campaign.log
    assert campaign.stored.problems == []


@pytest.mark.timeout(90)
def test_kill_9_campaign_loses_no_acknowledged_change(campaign: Campaign) -> None:
    """After the last restart, the store holds every acknowledged change: accounts, activations,
    the last acknowledged « Enregistrer » (or one cut short after it), each acknowledged upload
    not removed since, no file whose removal was acknowledged, each address change."""
    assert lost_changes(campaign.candidates, campaign.stored) == []


@pytest.mark.timeout(90)
def test_kill_9_campaign_delivers_every_acknowledged_mail(campaign: Campaign) -> None:
    """Every mail an acknowledged request caused reached the relay at least once (a duplicate
    has the same Message-ID): activation, confirmation of each save, the address change's copy
    and its mail to the pôle; the outbox is empty once the service stopped."""
    missing = {
        key: (n, len(campaign.delivered.get(key, ())))
        for key, n in campaign.expected_mails.items()
        if len(campaign.delivered.get(key, ())) < n
    }
    assert missing == {}, f"(kind, candidate): (acknowledged, delivered) {missing}"
    assert campaign.all_delivered
    left = [(m["state"], m["subject"], m["attempts"], m["last_error"]) for m in campaign.stored.outbox]
    assert left == [], "mails left in the outbox after a clean stop"


@pytest.mark.timeout(90)
def test_kill_9_campaign_leaves_no_orphan_nor_temporary_file(campaign: Campaign) -> None:
    """Once restarted, uploads/ holds exactly the files the records point to, and no temporary
    file is left, neither in tmp/ nor as a .part beside the stored files."""
    on_disk, strays = campaign.disk
    referenced = referenced_files(campaign.stored)
    orphans = {a: names - referenced.get(a, set()) for a, names in on_disk.items()}
    missing = {a: names - on_disk.get(a, set()) for a, names in referenced.items()}
    assert {a: n for a, n in orphans.items() if n} == {}, "files no record references"
    assert {a: n for a, n in missing.items() if n} == {}, "records whose file is gone"
    assert strays == []
    assert sum(map(len, on_disk.values())) >= 5, "too few files for the check to mean anything"


@pytest.mark.timeout(90)
def test_kill_9_campaign_leaves_every_file_private(campaign: Campaign) -> None:
    """After the campaign (umask 022 in the child), every file under the data directory is 0600
    and every directory 0700, the data directory itself included (the service created it)."""
    assert not_private(campaign.data_dir) == {}


ORPHAN = "A" * 32 + ".pdf"  # the shape of a stored name (uploads.storage.is_stored_name)


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "mode",
    ["app", "serve"],
)
async def test_the_start_removes_orphan_and_temporary_files(
    make_service: Callable[..., Service], mailbox: Mailbox, mode: str
) -> None:
    """What a kill -9 leaves (a document stored whose record was never written, a copy being
    written, an upload being received) is gone after the next start, through ``formservice
    serve`` as through the app's own lifespan; the file a record points to is kept."""
    service = make_service(smtp_port=mailbox.port, mode=mode)
    service.start()
    await service.wait_ready()
    async with client_for(service.base_url) as client:
        await enrol(client, service, mailbox, "orphelin@exemple.fr")
        page = await client.page("/espace/justificatifs")
        response = await client.post(
            "/espace/justificatifs/piece-identite/ajouter",
            data={"csrf_token": client.csrf(page.text)},
            files={"file": ("identite.pdf", small_pdf("identite"), "application/pdf")},
        )
        assert redirected_to(response, "ajoute"), response.text[:500]
    assert service.stop(), service.log()
    (folder,) = (service.data_dir / "uploads").iterdir()
    (kept,) = folder.iterdir()
    left = [folder / ORPHAN, folder / f".{'B' * 32}.part", service.data_dir / "tmp" / ".upload-x.part"]
    for path in left:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_bytes(kept.read_bytes())
    service.start()
    await service.wait_ready()
    assert service.stop(), service.log()
    assert [p.name for p in left if p.exists()] == []
    assert kept.exists()


# =============================================================================================
# 2. A relay that refuses everything, then accepts
# =============================================================================================


@pytest.mark.timeout(90)
async def test_a_relay_refusing_for_an_hour_then_accepting_gets_every_mail(tmp_path: Path) -> None:
    """The relay answers 451 to every mail, slowly at first, while candidates sign up, save and
    report an address change: every answer comes at once, nothing is marked failed while the
    outbox retries for more than an hour of its clock (30 s, 1 min, 2, 5, 10, 30 min, 1 h; for two
    of these rounds the relay is down altogether, connections refused); once the relay accepts,
    every recorded mail arrives, with the Message-ID it was recorded with.

    In-process, on a FrozenClock: the retry delays (30 s, then 1 min...) make a refusal on the
    real clock cost at least 30 s per retry, and an hour of refusal is out of reach. The app is
    the real one (TinyDB store opened by its lifespan, the outbox's worker ``Outbox.run``
    running, SmtpMailer to a real aiosmtpd); the clock is moved by each retry delay, then the
    worker is woken, as its poll would after the delay."""
    relay = Relay()
    relay.port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
    controller.start()
    notice_path = tmp_path / "notice.yml"
    shutil.copy(REPO / "notice.yml", notice_path)
    clock = FrozenClock(IN_WINDOW)
    settings = Settings(
        notice_path=notice_path,
        data_dir=tmp_path / "var",
        site_dir=tmp_path / "site",
        base_url="http://testserver",
        secret_keys=(SECRET,),
        smtp=("127.0.0.1", relay.port),
        argon2=FAST_ARGON2,
        hash_concurrency=2,
        notice_check_interval=0,
        echo_outbox=False,
        limits=RateLimits(**LOAD_LIMITS),
    )
    app = create_app(settings, clock=clock)
    svc = app.state.services
    try:
        async with app.router.lifespan_context(app), make_client(app, settings) as client:
            email = "relais@exemple.fr"
            await sign_up(client, app, email)
            await activate_from_mail(client, relay, email)
            assert (await log_in(client, email)).status_code == 303
            relay.clear()

            relay.refusing, relay.refuse_delay = True, 1.5
            timings: list[tuple[str, float]] = []

            async def timed(label: str, request: Any) -> httpx.Response:
                begin = time.monotonic()
                response = await request
                timings.append((label, time.monotonic() - begin))
                return response

            notice = load_notice(notice_path)
            for n in range(6):
                page = await client.page("/compte/creer")
                form = signup_form(f"refus{n}@exemple.fr") | {"csrf_token": client.csrf(page.text)}
                assert signed_up(await timed("signup", client.post("/compte/creer", data=form)))
            for n in range(2):
                page = await client.page("/espace/inscription")
                form = valid_enrolment_form(notice, city=f"Ville{n}") | {
                    "version": str(version_on(page.text)),
                    "csrf_token": client.csrf(page.text),
                }
                response = await timed("save", client.post("/espace/inscription", data=form))
                assert response.status_code == 303, response.text[:500]
            page = await client.page("/espace/changement-adresse")
            form = {"address": "1 quai Nord", "postal_code": "17300", "city": "Rochefort"}
            response = await timed(
                "address",
                client.post("/espace/changement-adresse", data=form | {"csrf_token": client.csrf()}),
            )
            assert redirected_to(response, "adresse"), response.text[:500]

            recorded = {m["message_id"]: m["subject"] for m in await svc.store.outbox.with_state("pending")}
            assert len(recorded) == 6 + 2 + 2, "each request recorded its mail (the address change: two)"
            # Each answer came while the relay took 1.5 s to refuse each mail: none waited for one.
            assert max(t for _, t in timings) < 0.8 * relay.refuse_delay, timings

            async def tried(times: int) -> bool:
                pending = await svc.store.outbox.with_state("pending")
                return len(pending) == len(recorded) and all(m["attempts"] == times for m in pending)

            async def settled(times: int) -> None:
                deadline = time.monotonic() + 20
                while not await tried(times):
                    assert time.monotonic() < deadline, await svc.store.outbox.with_state("pending")
                    await asyncio.sleep(0.02)

            await settled(1)
            relay.refuse_delay = 0.0
            refused_for = 0.0
            attempts = 1
            while refused_for < 3600:
                if attempts == 3:  # for two rounds the relay is down: connections refused
                    controller.stop()
                elif attempts == 5:
                    controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
                    controller.start()
                wait = retry_delay(attempts)
                clock.advance(wait)
                refused_for += wait.total_seconds()
                await svc.mail.wake()
                attempts += 1
                await settled(attempts)
            assert relay.messages == [] and relay.refused >= (attempts - 2) * len(recorded)
            assert (await svc.mail.status())[1] == [] and svc.mail.failed == 0
            slowest = max(t for _, t in timings)
            print(f"\nrelay: {len(recorded)} mails, {attempts} tries in {refused_for:.0f} s, {slowest=:.3f}")

            relay.refusing = False
            clock.advance(retry_delay(attempts))
            await svc.mail.wake()
            assert await wait_for(lambda: len(relay.messages) >= len(recorded), 10), relay.messages
            assert await wait_for_empty_outbox(svc, 5)
            got = {str(m["Message-ID"]): str(m["Subject"]) for m in relay.messages}
            assert got == recorded
            assert attempts >= 8
    finally:
        controller.stop()


async def wait_for_empty_outbox(svc: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        pending, failed = await svc.mail.status()
        if not pending and not failed:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)


# =============================================================================================
# 3. A mail whose header cannot be encoded
# =============================================================================================


@pytest.mark.timeout(90)
async def test_a_mail_with_an_unencodable_header_does_not_delay_the_others(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    """Three mails that cannot be written (a line feed in the Subject, in To, in Reply-To: a row
    of an earlier release, or of a path that forgot to sanitise), recorded before twelve normal
    ones: the running worker delivers the twelve within a second or two and marks the three
    failed at their first try, never retried; nothing of the injected headers reaches the relay."""
    engine = TinyDBEngine(tmp_path / "store")
    store = Store(engine)
    notice = load_notice(REPO / "notice.yml")
    renderer = MailRenderer(
        make_env(), lambda: {"notice": notice, "base_url": "http://testserver"}, domain="testserver"
    )
    mailer = SmtpMailer("127.0.0.1", mailbox.port, sender="ne-pas-repondre@testserver")
    outbox = Outbox(store, renderer, mailer, SystemClock(), poll_interval=60)
    context = {"when": IN_WINDOW, "reset_link": "http://testserver/compte/mot-de-passe-oublie"}

    def mail(address: str, **changes: Any) -> Any:
        """A row as ``prepare`` records it, then ``changes`` written over it as they are."""
        return (
            outbox.prepare(address, "Votre mot de passe a été modifié", "password_changed", context) | changes
        )

    early = to_iso(IN_WINDOW)  # recorded before the others: first in the queue
    bad = [
        mail("a@exemple.fr", subject="Changement d'adresse — Durand\nBcc: espion@exemple.fr"),
        mail("b@exemple.fr", to="b@exemple.fr\r\nBcc: espion@exemple.fr"),
        mail("c@exemple.fr", reply_to="d@exemple.fr\nBcc: espion@exemple.fr"),
    ]
    good = [mail(f"normal{n}@exemple.fr") for n in range(12)]
    for record in bad:
        await store.outbox.add(record | {"created_at": early, "next_attempt_at": early})
    for record in good:
        await store.outbox.add(record)
    try:
        async with asyncio.timeout(60):
            async with anyio.create_task_group() as tg:
                await tg.start(outbox.run)
                begin = time.monotonic()
                await outbox.wake()
                arrived = await wait_for(lambda: len(mailbox.messages) >= len(good), 5, 0.01)
                elapsed = time.monotonic() - begin
                await outbox.drain(timeout=5)
                tg.cancel_scope.cancel()
        assert arrived, mailbox.messages
        assert elapsed < 5.0  # inline retries of the bad ones took 1 + 5 + 30 s each
        assert {str(m["Message-ID"]) for m in mailbox.messages} == {g["message_id"] for g in good}
        assert not any("espion" in str(m) for m in mailbox.messages)
        for record in bad:
            stored = await store.outbox.get(record["id"])
            assert stored is not None
            assert (stored["state"], stored["attempts"]) == ("failed", 1), stored
            assert "ValueError" in (stored["last_error"] or "")
        assert outbox.failed == len(bad) and outbox.sent == len(good)
        assert await store.outbox.with_state("pending") == []
    finally:
        outbox.close()
        await store.close()


# =============================================================================================
# 4. A full disk
# =============================================================================================

MARGIN = 160 * 1024  # what is left once the disk is "nearly full": a few dozen writes
TMPFS_SIZE = 64 * 2**20


def mount_tmpfs(path: Path, size: int) -> bool:
    """A tmpfs of ``size`` bytes at ``path``, if this process may mount one (root, no seccomp)."""
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):  # no mount(8) here
        return False
    return done.returncode == 0


def resize_tmpfs(path: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


def used_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def largest_file(root: Path) -> int:
    return max((p.stat().st_size for p in root.rglob("*") if p.is_file()), default=0)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """(a directory, whether it is a tmpfs of its own that the test may shrink); unmounted after."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = mount_tmpfs(disk, TMPFS_SIZE)
    try:
        yield disk, mounted
    finally:
        if mounted:  # the test's services are killed first (make_service's teardown comes later)
            subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)


@dataclass
class Answer:
    action: str  # "signup" | "save" | "remove" | "upload" | "GET"
    who: str
    value: str
    status: int  # 0: no answer at all (the connection was dropped)
    text: str

    @property
    def success(self) -> bool:
        if self.action == "signup":
            return self.status == 200 and "Vérifiez votre messagerie" in self.text
        return self.status == (200 if self.action == "GET" else 303)


async def answer(action: str, who: str, value: str, request: Any, answers: list[Answer]) -> Answer:
    try:
        response = await request
    except httpx.TransportError as exc:
        found = Answer(action, who, value, 0, f"{type(exc).__name__}: {exc}")
    else:
        found = Answer(action, who, value, response.status_code, response.text)
    answers.append(found)
    return found


@pytest.mark.timeout(90)
async def test_a_full_disk_gets_no_lying_answer(
    small_disk: tuple[Path, bool], mailbox: Mailbox, make_service: Callable[..., Service]
) -> None:
    """Three candidates « Enregistrer » and remove their PDFs, and newcomers sign up, while the
    disk fills (a tmpfs shrunk to what is used plus 160 KiB; where mounting is refused,
    RLIMIT_FSIZE in the child at the largest file's size plus 160 KiB). Every answer is a success
    or the honest 503 (reads keep working); after a restart with room again, every success is
    there with its mail, and nothing a 503 refused: never a 500, never a success lost, never a
    « rien n'a été modifié » that was in fact recorded. (Uploads: the next test.)"""
    disk, mounted = small_disk
    service = make_service(data_dir=disk / "var", smtp_port=mailbox.port, limits=LOAD_LIMITS)
    emails = [f"plein{n}@exemple.fr" for n in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        service.start()
        await service.wait_ready()
        clients = [await stack.enter_async_context(client_for(service.base_url)) for _ in emails]
        for client, email in zip(clients, emails, strict=True):
            await enrol(client, service, mailbox, email)
            for n, piece in enumerate(["piece-identite"] * 3 + ["diplome-requis"] * 2):
                response = await upload(client, piece, f"{email}-{n}.pdf")
                assert redirected_to(response, "ajoute"), response.text[:300]
        if mounted:
            resize_tmpfs(disk, used_bytes(disk) + MARGIN)
        else:
            assert service.stop(), service.log()
            service.start(fsize=largest_file(service.data_dir) + MARGIN)
            await service.wait_ready()
        answers = await fill_the_disk(service, dict(zip(emails, clients, strict=True)))
    copies = len(mailbox.messages)
    if mounted:  # the operator frees space, then restarts the service
        resize_tmpfs(disk, TMPFS_SIZE)
        assert service.stop(), service.log()
    else:  # the limit is the process's own: it goes with the process
        service.kill()
    service.start()
    await service.wait_ready()
    signups = [a.value for a in answers if a.action == "signup" and a.success]
    saves = [a for a in answers if a.action == "save" and a.success]
    received = Delivered(mailbox)
    await wait_for(lambda: all(received.count("activation", e) for e in signups), 20, 0.2)
    assert service.stop(), service.log()
    stored = await read_store(service.data_dir)
    modes = not_private(service.data_dir)
    on_disk, strays = disk_files(service.data_dir)

    by_status = Counter(f"{a.action} {a.status}" for a in answers)
    distinct = sum(map(len, received.update().values()))
    print(
        f"\nfull disk ({'tmpfs' if mounted else 'RLIMIT_FSIZE'}): {dict(by_status)}; {copies} mails "
        f"received while full, {len(mailbox.messages)} in all, {distinct} distinct"
    )
    wrong = [a for a in answers if a.status not in (200, 303, 503)]
    assert wrong == [], [(a.action, a.status, a.text[:300]) for a in wrong]
    refused = [a for a in answers if a.status == 503]
    assert len(refused) >= 10, f"the disk never filled: {by_status}"
    assert all(NOT_SAVED in html.unescape(a.text) for a in refused), by_status
    assert len(signups) >= 3 and len(saves) >= 3, f"full from the start: {by_status}"
    assert lying_answers(answers, stored, emails) == [], by_status
    assert [e for e in signups if not received.count("activation", e)] == []
    for email in emails:  # each acknowledged « Enregistrer » mailed its confirmation
        assert received.count("saved", email) >= 1 + sum(a.who == email for a in saves), email
    assert stored.problems == []
    assert modes == {}
    assert strays == []
    referenced = referenced_files(stored)
    assert {a: n - referenced.get(a, set()) for a, n in on_disk.items() if n - referenced.get(a, set())} == {}


async def upload(client: Any, document_id: str, display: str, *, pad: int = 8 * 1024) -> httpx.Response:
    page = await client.page("/espace/justificatifs")
    return await client.post(
        f"/espace/justificatifs/{document_id}/ajouter",
        data={"csrf_token": client.csrf(page.text)},
        files={"file": (display, small_pdf(display, pad=pad), "application/pdf")},
    )


async def fill_the_disk(service: Service, clients: dict[str, Any], *, budget: float = 25.0) -> list[Answer]:
    """« Enregistrer » and « Supprimer » by the candidates, signups by newcomers, until a good
    number of refusals (or ``budget`` seconds); every answer, GETs included."""
    answers: list[Answer] = []
    deadline = time.monotonic() + budget
    notice = load_notice(service.notice_path)

    def enough() -> bool:
        return time.monotonic() > deadline or sum(a.status == 503 for a in answers) >= 30

    async def candidate(email: str, client: Any) -> None:
        k = 0
        while not enough():
            k += 1
            full = any(a.status == 503 for a in answers)
            if k % 30 == 0 or (full and k % 3 == 0):  # a few removals before, more once full
                page = await answer(
                    "GET", email, "justificatifs", client.page("/espace/justificatifs"), answers
                )
                listed = [f for files in files_on(page.text).values() for f in files] if page.success else []
                if listed:
                    file_id, display = listed[0]
                    request = client.post(
                        f"/espace/justificatifs/fichier/{file_id}/supprimer",
                        data={"csrf_token": client.csrf(page.text)},
                    )
                    await answer("remove", email, display, request, answers)
                continue
            page = await answer("GET", email, "inscription", client.page("/espace/inscription"), answers)
            if not page.success:
                continue
            city = f"Plein{email[5]}x{k}"
            form = valid_enrolment_form(notice, city=city) | {
                "version": str(version_on(page.text)),
                "csrf_token": client.csrf(page.text),
            }
            await answer("save", email, city, client.post("/espace/inscription", data=form), answers)

    async def newcomers(stream: int) -> None:
        k = 0
        async with client_for(service.base_url) as client:
            while not enough():
                k += 1
                email = f"nouveau{stream}x{k}@exemple.fr"
                page = await answer("GET", email, "creer", client.page("/compte/creer"), answers)
                if not page.success:
                    continue
                form = signup_form(email) | {"csrf_token": client.csrf(page.text)}
                await answer("signup", email, email, client.post("/compte/creer", data=form), answers)

    await asyncio.gather(*(candidate(e, c) for e, c in clients.items()), newcomers(0), newcomers(1))
    return answers


def lying_answers(answers: list[Answer], stored: Any, emails: list[str]) -> list[str]:
    """What the store contradicts: a success absent, a refusal present. A candidate's requests
    follow each other: its last acknowledged « Enregistrer » is what the store holds, and its
    version counts the acknowledged ones exactly (a refused save that was written adds one);
    a file is removed at most once with success, and then it is gone."""
    problems = []
    for a in answers:
        if a.action == "signup" and a.success != (a.value in stored.accounts):
            problems.append(f"signup {a.value}: answered {a.status}, account present: {not a.success}")
    for email in emails:
        enrolment = stored.enrolments[stored.accounts[email]["id"]]
        mine = [a for a in answers if a.who == email]
        acked = [a for a in mine if a.action == "save" and a.success]
        if enrolment["version"] != 1 + len(acked):
            problems.append(f"{email}: version {enrolment['version']} after {len(acked)} acknowledged saves")
        if acked and enrolment["data"]["city"] != acked[-1].value:
            problems.append(f"{email}: city {enrolment['data']['city']}, last acknowledged {acked[-1].value}")
        listed = {f["display_name"] for f in enrolment.get("files", [])}
        removed = {a.value for a in mine if a.action == "remove" and a.success}
        refused = {a.value for a in mine if a.action == "remove" and not a.success}
        problems += [f"{email}: removal of {name} acknowledged, still recorded" for name in removed & listed]
        problems += [f"{email}: removal of {name} refused, yet done" for name in refused - removed - listed]
    return problems


@pytest.mark.timeout(90)
async def test_a_full_disk_refuses_an_upload_with_the_honest_503(
    small_disk: tuple[Path, bool], mailbox: Mailbox, make_service: Callable[..., Service]
) -> None:
    """The disk is full (another process filled the tmpfs): « Ajouter » answers the 503 « votre
    action n'a pas été enregistrée », keeps no file, no temporary file, no record; once there is
    room again the same file is accepted. Needs a tmpfs: RLIMIT_FSIZE limits each file's size, so
    it cannot make a new small file fail as a full disk does."""
    disk, mounted = small_disk
    if not mounted:
        pytest.skip("mount -t tmpfs refused here: RLIMIT_FSIZE cannot fill a disk for a new small file")
    service = make_service(data_dir=disk / "var", smtp_port=mailbox.port)
    service.start()
    await service.wait_ready()
    async with client_for(service.base_url) as client:
        await enrol(client, service, mailbox, "televersement@exemple.fr")
        resize_tmpfs(disk, used_bytes(disk) + 64 * 1024)
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        answers: list[Answer] = []
        for n in range(3):
            await answer(
                "upload", "", f"plein{n}.pdf", upload(client, "piece-identite", f"plein{n}.pdf"), answers
            )
        filler.unlink()
        after = await upload(client, "piece-identite", "place.pdf")
    assert service.stop(), service.log()
    stored = await read_store(service.data_dir)
    on_disk, strays = disk_files(service.data_dir)
    assert [(a.status, NOT_SAVED in html.unescape(a.text)) for a in answers] == [(503, True)] * 3, [
        (a.status, a.text[:200]) for a in answers
    ]
    assert redirected_to(after, "ajoute")
    (enrolment,) = stored.enrolments.values()
    assert [f["display_name"] for f in enrolment["files"]] == ["place.pdf"]
    assert sum(map(len, on_disk.values())) == 1 and strays == []


# =============================================================================================
# 5. 60 parallel password guesses from one address
# =============================================================================================


@pytest.mark.timeout(90)
async def test_sixty_parallel_guesses_from_one_address_get_at_most_the_free_checks(
    make_service: Callable[..., Service], mailbox: Mailbox
) -> None:
    """60 logins sent at once on one account from one address, the right password last: at most
    ``login_free_per_pair`` passwords are checked (``login.failure``/``login.success`` in the
    audit log), every other guess is answered 429 at once.

    Production argon2 cost, so that the checks really overlap; the base delay after the free
    failures is raised to 30 s (from 1 s) so that a slow machine finishing the burst after that
    delay cannot let one more guess be checked legitimately (the delays are not under test: the
    free count, kept at its default, is)."""
    free = RateLimits().login_free_per_pair
    service = make_service(smtp_port=mailbox.port, argon2=None, limits={"login_base_delay": 30.0})
    service.start()
    await service.wait_ready()
    email = "cible@exemple.fr"
    async with client_for(service.base_url) as owner:
        assert signed_up(await owner.submit("/compte/creer", signup_form(email)))
        assert await wait_for(lambda: bool(mailbox.to(email)), 15)
        assert (await activate_from_mail(owner, mailbox, email)).status_code == 200
    guesses = [f"essai numéro {n} du pirate" for n in range(59)] + [PASSWORD]
    limits = httpx.Limits(max_connections=len(guesses), max_keepalive_connections=len(guesses))
    async with client_for(service.base_url, limits=limits) as attacker:
        token = attacker.csrf((await attacker.page("/compte/connexion")).text)
        responses = await asyncio.gather(
            *(
                attacker.post("/compte/connexion", data={"email": email, "password": g, "csrf_token": token})
                for g in guesses
            )
        )
    statuses = Counter(r.status_code for r in responses)
    events = audit_events(service.data_dir)
    checked = events["login.failure"] + events["login.success"]
    print(f"\n60 guesses: answers {dict(statuses)}, audit {dict(events)}")
    assert set(statuses) <= {303, 400, 429}, statuses
    assert 1 <= checked <= free, (events, statuses)
    assert statuses[429] == len(guesses) - checked == events["login.throttled"], (events, statuses)
    assert statuses[400] + statuses[303] == checked
    assert service.stop(), service.log()


# =============================================================================================
# 7. Hostile PDFs through the real upload
# =============================================================================================

HOSTILE = {
    name: (REFUSED[name][0], REFUSED[name][1])
    for name in (
        "open-uri",
        "open-submit-form",
        "open-gotor-unc-path",
        "open-import-data",
        "open-launch",
        "open-javascript-name-tree",
        "link-gotor-unc-path",
        "field-aa-keystroke-javascript",
    )
} | {name: ((lambda c=catalog: raw_pdf(one_page(c))), reason) for name, (catalog, reason) in ESCAPED.items()}
MESSAGES = {
    "pdf_action": "Le PDF « attestation.pdf » contient des actions automatiques",
    "pdf_launch": "Le PDF « attestation.pdf » contient une commande qui lance un programme",
    "pdf_javascript": "Le PDF « attestation.pdf » contient des scripts",
}


@pytest.mark.timeout(90)
async def test_each_hostile_pdf_is_refused_through_the_real_upload(
    make_service: Callable[..., Service], mailbox: Mailbox
) -> None:
    """/OpenAction /URI, /SubmitForm, /GoToR to a UNC path, /ImportData, /Launch, JavaScript, a
    button's keystroke script, a link to a UNC path, and the same names #-escaped: each is
    refused, the redirect's page saying in the piece what to do; nothing is kept, neither in
    the record nor on disk, and the refusal is in the audit log."""
    service = make_service(smtp_port=mailbox.port)
    service.start()
    await service.wait_ready()
    async with client_for(service.base_url) as client:
        await enrol(client, service, mailbox, "pdf@exemple.fr")
        for name, (build, reason) in HOSTILE.items():
            page = await client.page("/espace/justificatifs")
            response = await client.post(
                "/espace/justificatifs/piece-identite/ajouter",
                data={"csrf_token": client.csrf(page.text)},
                files={"file": ("attestation.pdf", build(), "application/pdf")},
            )
            assert response.status_code == 303, (name, response.status_code, response.text[:300])
            shown = html.unescape((await client.page(response.headers["location"])).text)
            assert french_text(MESSAGES[reason]) in shown, name
        assert all(
            files == [] for files in files_on((await client.page("/espace/justificatifs")).text).values()
        )
    assert service.stop(), service.log()
    stored = await read_store(service.data_dir)
    assert [e.get("files") for e in stored.enrolments.values()] == [[]]
    on_disk, strays = disk_files(service.data_dir)
    assert (on_disk, strays) == ({}, [])
    assert audit_events(service.data_dir)["enrolment.upload_refused"] == len(HOSTILE)
    assert not_private(service.data_dir) == {}
