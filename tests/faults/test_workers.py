"""``formservice serve --workers 2`` on PostgreSQL, with real processes: both workers answer, one
is killed (SIGKILL) under a mixed load, the other keeps answering, the supervisor replaces the
dead one, and nothing acknowledged is lost (every change in the database, every mail sent).
With TinyDB, ``--workers 2`` is refused with a French reason."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from account_helpers import REPO, Mailbox

from formservice.notice import load_notice

from .load import Ledger, LoadCandidate, lost_changes
from .service import LOAD_LIMITS, Delivered, Service, open_notice, read_store, wait_for
from .test_campaign import expected_mails

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CANDIDATES = 6
KILLS = 3


def worker_connections(url: str) -> set[str]:
    """The application names of the database's client connections: one per worker process."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity "
            "WHERE application_name LIKE 'formservice-%'"
        ).fetchall()
    return {r[0] for r in rows}


async def probe(base_url: str, seconds: float) -> tuple[int, int]:
    """(answered, failed) of new connections to the login page during ``seconds``."""
    answered = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as client:
                ok = (await client.get("/compte/connexion")).status_code == 200
            answered, failed = answered + ok, failed + (not ok)
        except httpx.TransportError:
            failed += 1
        await asyncio.sleep(0.01)
    return answered, failed


@pytest.mark.timeout(180)
async def test_two_workers_survive_the_kill_of_one_under_load(
    tmp_path: Path, pg_url: str, _smtp_server: Mailbox
) -> None:
    """Two workers on one port; six candidates sign up, activate, log in, save, upload and remove
    files and change their address, through both; one worker is killed three times: the port
    keeps answering, the dead worker is replaced, and the database holds every acknowledged
    change, the relay every acknowledged mail."""
    _smtp_server.clear()
    service = Service(
        root=tmp_path / "run",
        data_dir=tmp_path / "var",
        notice_path=open_notice(tmp_path / "notice.yml"),
        smtp_port=_smtp_server.port,
        limits=LOAD_LIMITS,
        store=pg_url,
        workers=2,
    )
    rnd = random.Random(13)
    ledger = Ledger()
    notice = load_notice(service.notice_path)
    candidates = [
        LoadCandidate(n, service.base_url, notice, _smtp_server, ledger, rnd.random())
        for n in range(CANDIDATES)
    ]
    up, stop = asyncio.Event(), asyncio.Event()
    probes: list[tuple[int, int]] = []
    try:
        service.start()
        await service.wait_ready()
        up.set()
        tasks = [asyncio.create_task(c.run(up, stop)) for c in candidates]
        await asyncio.sleep(2.0)
        both = worker_connections(pg_url)
        for _ in range(KILLS):
            workers = service.worker_pids()
            assert len(workers) == 2, service.log()
            os.kill(rnd.choice(workers), signal.SIGKILL)
            probes.append(await probe(service.base_url, 1.0))  # the other one answers meanwhile
            assert await wait_for(lambda: len(service.worker_pids()) == 2, 10), service.log()
            await asyncio.sleep(rnd.uniform(0.5, 1.5))
        stop.set()
        await asyncio.gather(*tasks)
        expected = expected_mails(candidates)
        received = Delivered(_smtp_server)
        arrived = await wait_for(
            lambda: all(len(received.update().get(k, ())) >= n for k, n in expected.items()), 30, 0.2
        )
        stopped = service.stop()
    finally:
        stop.set()
        for c in candidates:
            await c.aclose()
        service.close()
    stored = await read_store(service.data_dir, pg_url)
    summary = dict(ledger.answers) | {"cut": ledger.cut, "probes": probes}
    print(f"\ntwo workers, {KILLS} kills: {summary}")
    assert len(both) == 2, f"requests reached only {both}"
    assert all(answered > 0 for answered, _ in probes), probes
    assert ledger.unexpected == [], ledger.unexpected[:10]
    for action, least in {"signup": CANDIDATES, "activate": CANDIDATES, "save": 10, "upload": 10}.items():
        assert ledger.acks(action) >= least, (action, summary)
    assert lost_changes(candidates, stored) == []
    assert arrived, {k: (n, len(received.update().get(k, ()))) for k, n in expected.items()}
    assert stored.problems == [] and stopped, service.log()


def test_more_than_one_worker_on_the_embedded_store_is_refused_in_french(tmp_path: Path) -> None:
    """``serve --workers 2`` with TinyDB: exit 2 before anything listens, and why, in French."""
    env = {
        **os.environ,
        "FORMSERVICE_DATA_DIR": str(tmp_path / "var"),
        "FORMSERVICE_NOTICE": str(REPO / "notice.yml"),
    }
    env.pop("FORMSERVICE_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "formservice.cli", "serve", "--workers", "2", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--workers 2 : impossible avec le stockage intégré (TinyDB)" in done.stderr
    assert "PostgreSQL" in done.stderr and not (tmp_path / "var" / "store").exists()
