"""argon2id hashing, off the event loop, with bounded concurrency.

One hash costs ~50 ms of CPU and 19 MiB of memory at OWASP's parameters: running it on the event
loop would freeze every other request, and running unbounded numbers at once would exhaust memory
under a burst of logins. ``Hasher`` runs it in worker threads (argon2 releases the GIL), at most
``concurrency`` at a time.

Login of an unknown e-mail costs a verify against a dummy hash made with the same parameters, so
the answer time does not tell whether an account exists.

On asyncio (uvicorn), the worker threads are a dedicated pool of ``concurrency`` threads fed by
its own queue: a thread that finishes a hash takes the next one at once, without waiting for the
event loop to hand it over (with ``anyio.to_thread`` and a limiter, a busy loop leaves the
hashing threads idle between two hashes). Other event loops use ``anyio.to_thread``.
"""

from __future__ import annotations

import asyncio
import unicodedata
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from formservice.settings import Argon2Params

T = TypeVar("T")


def prepare(password: str) -> str:
    """NFKC, so that the same password typed on another keyboard (composed é vs e + ´) matches."""
    return unicodedata.normalize("NFKC", password)


class Hasher:
    def __init__(self, params: Argon2Params, concurrency: int = 2):
        self.params = params
        self._ph = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        self.concurrency = max(1, concurrency)
        self._limiter = anyio.CapacityLimiter(self.concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._dummy: str | None = None

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        """``fn(*args)`` in a hashing thread, at most ``concurrency`` at once."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="argon2")
            weakref.finalize(self, self._pool.shutdown, wait=False)
        # A cancelled caller withdraws its hash if it has not started; one that has runs to its end.
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    def close(self) -> None:
        """At shutdown: the hashing threads stop once their current hash is done."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(self._hash, prepare(password))

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(self._verify, stored_hash, prepare(password))

    def _hash(self, password: str) -> str:
        return self._ph.hash(password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._ph.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._ph.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    async def dummy_verify(self, password: str) -> None:
        """Spend the time of a real verify, for an e-mail that has no account."""
        if self._dummy is None:
            self._dummy = await self.hash("formservice dummy password, never valid")
        await self.verify(self._dummy, password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list (formservice/accounts/data/common-passwords.txt), lower-cased."""
    text = (
        resources.files("formservice.accounts")
        .joinpath("data/common-passwords.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return prepare(password).lower() in common_passwords()
