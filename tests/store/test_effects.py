"""Effects: the documents a change causes (its mails) are written in the same atomic step, on
every engine, and survive a reopen together."""

from __future__ import annotations

from pathlib import Path

import pytest

from formservice.store.contract import DuplicateKey, Engine
from formservice.store.tinydb.engine import TinyDBEngine

from .helpers import account

pytestmark = pytest.mark.anyio


def mail(n: int, **extra: object) -> dict:
    return {"id": f"mail-{n}", "state": "pending", **extra}


async def test_insert_with_effects_writes_both(engine: Engine) -> None:
    """An account and its activation mail: both are there after the insert."""
    await engine.insert("accounts", account(1), effects=lambda doc: [("outbox", mail(1, to=doc["email"]))])
    assert (await engine.get("outbox", "mail-1"))["to"] == account(1)["email"]


async def test_update_effects_see_the_document_as_written(engine: Engine) -> None:
    """The mail is built from the new document (the diff a save computed, its version)."""
    await engine.insert("accounts", account(1))
    await engine.update(
        "accounts",
        "acc-1",
        lambda doc: doc | {"status": "active"},
        effects=lambda doc: [("outbox", mail(2, about=doc["status"]))],
    )
    assert (await engine.get("outbox", "mail-2"))["about"] == "active"


async def test_a_refused_effect_writes_nothing(engine: Engine) -> None:
    """If a mail cannot be recorded (here: a duplicate id), the change is not written either."""
    await engine.insert("outbox", mail(3))
    await engine.insert("accounts", account(1))
    with pytest.raises(DuplicateKey):
        await engine.update(
            "accounts",
            "acc-1",
            lambda doc: doc | {"status": "active"},
            effects=lambda doc: [("outbox", mail(3))],
        )
    assert (await engine.get("accounts", "acc-1"))["status"] == account(1)["status"]
    with pytest.raises(DuplicateKey):
        await engine.insert("accounts", account(2), effects=lambda doc: [("outbox", mail(3))])
    assert await engine.get("accounts", "acc-2") is None


async def test_effects_survive_a_reopen_with_their_change(store_dir: Path) -> None:
    """Written in one journal group: after a restart, the change and its mails are both there."""
    first = TinyDBEngine(store_dir)
    await first.insert("accounts", account(1), effects=lambda doc: [("outbox", mail(4)), ("outbox", mail(5))])
    await first.close()
    journal = next(store_dir.glob("journal*")).read_text().splitlines()
    assert journal[-1].startswith('["c",3,')  # one group: three lines, one commit mark
    again = TinyDBEngine(store_dir)
    try:
        assert await again.get("accounts", "acc-1") is not None
        assert {m["id"] for m in await again.scan("outbox")} == {"mail-4", "mail-5"}
    finally:
        await again.close()
