"""Schema versions: older documents are migrated on load and written back; newer ones refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from formservice.store import contract as base
from formservice.store import migrations
from formservice.store.contract import StoreError
from formservice.store.migrations import SchemaTooNew, upgrade
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.journal import journal_generations, journal_path
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME

from .helpers import account

pytestmark = pytest.mark.anyio


def split_names(table: str, doc: dict) -> dict:
    if table == "accounts" and "name" in doc:
        doc["first_names"], doc["last_name"] = doc.pop("name").split(" ", 1)
    return doc


@pytest.fixture
def version_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the release being deployed introduces schema 2 (``name`` split in two)."""
    monkeypatch.setattr(base, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(migrations.MIGRATIONS, 1, split_names)


def write_journal(store_dir: Path, *lines: str) -> None:
    store_dir.mkdir(parents=True, exist_ok=True)
    journal_path(store_dir, 1).write_text("".join(line + "\n" for line in lines) + f'["c",{len(lines)}]\n')


async def test_unstamped_documents_are_version_0_and_get_stamped(store_dir: Path) -> None:
    """A document without _schema (plain TinyDB era) loads as the current version."""
    write_journal(store_dir, '["p","accounts",{"id":"a1","email":"x@y.fr"}]')
    engine = TinyDBEngine(store_dir)
    assert (await engine.get("accounts", "a1") or {})["_schema"] == base.SCHEMA_VERSION
    await engine.close()


async def test_a_new_schema_migrates_every_document_on_open_and_persists_it(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deploying schema 2: documents at 1 are migrated while loading, and the snapshot holds v2."""
    engine = TinyDBEngine(store_dir)
    await engine.insert("accounts", account(1, name="Léa Martin"))
    await engine.close()

    monkeypatch.setattr(base, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(migrations.MIGRATIONS, 1, split_names)
    engine = TinyDBEngine(store_dir)
    doc = await engine.get("accounts", "acc-1")
    assert doc is not None
    assert (doc["first_names"], doc["last_name"], doc["_schema"]) == ("Léa", "Martin", 2)
    assert "name" not in doc
    await engine.close()
    assert '"_schema":2' in (store_dir / SNAPSHOT_NAME).read_text()
    assert len(journal_generations(store_dir)) == 1


async def test_documents_from_a_newer_release_refuse_to_open(store_dir: Path) -> None:
    """A document whose _schema is above SCHEMA_VERSION makes open raise SchemaTooNew."""
    write_journal(store_dir, f'["p","accounts",{{"id":"a1","_schema":{base.SCHEMA_VERSION + 1}}}]')
    with pytest.raises(SchemaTooNew) as info:
        TinyDBEngine(store_dir)
    assert "plus récent" in str(info.value)


def test_upgrade_applies_the_chain_and_says_when_nothing_is_needed(version_2: None) -> None:
    """upgrade() runs 0->1->2, returns None for a current document."""
    assert upgrade("accounts", {"id": "a", "name": "Jean Dupont"}) == {
        "id": "a",
        "first_names": "Jean",
        "last_name": "Dupont",
        "_schema": 2,
    }
    assert upgrade("accounts", {"id": "a", "_schema": 2}) is None


def test_a_missing_step_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A version bump without its registered function fails loudly instead of half-migrating."""
    monkeypatch.setattr(base, "SCHEMA_VERSION", 3)
    with pytest.raises(StoreError, match="aucune migration"):
        upgrade("accounts", {"id": "a", "_schema": 1})
