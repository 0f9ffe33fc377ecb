"""argon2id hashing: production parameters, off the event loop, bounded, rehash, dummy verify."""

from __future__ import annotations

import threading
import time

import anyio
import argon2
import pytest

from formservice.accounts.passwords import Hasher, common_passwords, is_common
from formservice.settings import PRODUCTION_ARGON2, Argon2Params, Settings

pytestmark = pytest.mark.anyio

CHEAP = Argon2Params(time_cost=1, memory_cost=1024, parallelism=1)


async def test_production_parameters_are_owasp_argon2id(tmp_path):
    """The default settings hash with argon2id, m=19456 KiB, t=2, p=1 (the one test paying full cost)."""
    settings = Settings(notice_path=tmp_path / "n.yml", data_dir=tmp_path, secret_keys=("k" * 40,))
    assert settings.argon2 == PRODUCTION_ARGON2
    hasher = Hasher(settings.argon2)
    stored = await hasher.hash("cheval agrafe batterie")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify(stored, "cheval agrafe batterie")
    assert not await hasher.verify(stored, "cheval agrafe batterie!")


async def test_needs_rehash_when_parameters_change():
    """A hash made with other parameters is flagged for rehash; a garbage hash verifies False."""
    old = await Hasher(CHEAP).hash("phrase de passe longue")
    assert Hasher(Argon2Params(time_cost=2, memory_cost=1024, parallelism=1)).needs_rehash(old)
    assert not Hasher(CHEAP).needs_rehash(old)
    assert not await Hasher(CHEAP).verify("not-a-hash", "x")


async def test_hashing_runs_off_the_event_loop_with_bounded_concurrency(monkeypatch):
    """Hashes run in worker threads, never more than `concurrency` at once, and the loop stays free."""
    hasher = Hasher(CHEAP, concurrency=2)
    active = peak = 0
    lock = threading.Lock()
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def slow_hash(password: str) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            active -= 1
        return "h"

    class SlowHasher:
        hash = staticmethod(slow_hash)

    monkeypatch.setattr(hasher, "_ph", SlowHasher())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        for _ in range(6):
            tg.start_soon(hasher.hash, "x")
    assert peak == 2
    assert loop_thread not in threads
    assert ticks == 10


async def test_dummy_verify_costs_a_real_verify(monkeypatch):
    """An unknown e-mail pays a verify with the same parameters (no timing oracle)."""
    hasher = Hasher(CHEAP)
    await hasher.dummy_verify("x")  # builds the dummy hash once
    stored = await hasher.hash("phrase de passe longue")
    calls: list[str] = []
    original = argon2.PasswordHasher.verify

    def verify(self: argon2.PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    await hasher.dummy_verify("phrase de passe longue")
    assert calls and calls[0].split("$")[3] == stored.split("$")[3]  # same m, t, p


def test_common_password_list_is_bundled_and_case_insensitive():
    """The bundled list holds thousands of long common passwords, checked without case."""
    assert len(common_passwords()) > 5000
    assert is_common("MotDePasse123") and is_common("azertyuiop123") and is_common("marseille2025!")
    assert not is_common("cheval agrafe batterie")


async def test_a_cancelled_caller_withdraws_its_waiting_hash(monkeypatch):
    """A request that goes away while its hash waits for a thread does not leave it to run later;
    one already running finishes in its thread, still within the bound."""
    hasher = Hasher(CHEAP, concurrency=1)
    started: list[str] = []

    def slow_hash(password: str) -> str:
        started.append(password)
        time.sleep(0.1)
        return "h"

    monkeypatch.setattr(hasher, "_hash", slow_hash)
    with anyio.move_on_after(0.03):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hasher.hash, "first")
            tg.start_soon(hasher.hash, "second")
    await anyio.sleep(0.2)
    assert started == ["first"]
    assert await hasher.hash("third") == "h" and started == ["first", "third"]
