"""Fixtures for the store tests: an engine of each kind, opened on a fresh directory.

Async tests run under anyio's pytest plugin (installed with anyio) on asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from formservice.store.contract import Engine
from formservice.store.memory import MemoryEngine
from formservice.store.postgres.engine import PostgresEngine
from formservice.store.tinydb.engine import TinyDBEngine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(params=["memory", "tinydb", "postgres"])
async def engine(request: pytest.FixtureRequest, store_dir: Path) -> AsyncIterator[Engine]:
    """Each implementation of the contract in turn (PostgreSQL: a real server, a fresh database)."""
    eng: Engine
    if request.param == "memory":
        eng = MemoryEngine()
    elif request.param == "tinydb":
        eng = TinyDBEngine(store_dir)
    else:
        eng = PostgresEngine(request.getfixturevalue("pg_url"))
    yield eng
    await eng.close()


@pytest.fixture
async def tiny(store_dir: Path) -> AsyncIterator[TinyDBEngine]:
    eng = TinyDBEngine(store_dir)
    yield eng
    await eng.close()
