"""The Engine contract (store/base.py), checked on every implementation."""

from __future__ import annotations

from typing import Any

import pytest

from formservice.store import Store
from formservice.store.contract import SCHEMA_VERSION, DuplicateKey, Engine, RecordMissing

from .helpers import VersionConflict, account, bump, enrolment

pytestmark = pytest.mark.anyio


async def test_insert_then_get_returns_the_document_stamped_with_the_schema(engine: Engine) -> None:
    """insert returns and stores the document with _schema; get finds it by id."""
    stored = await engine.insert("accounts", account(1))
    assert stored == account(1) | {"_schema": SCHEMA_VERSION}
    assert await engine.get("accounts", "acc-1") == stored
    assert await engine.get("accounts", "acc-404") is None


async def test_reads_return_copies(engine: Engine) -> None:
    """Mutating a returned dict, or the dict given to insert, changes nothing stored."""
    doc = account(1, uploads=[{"name": "cv.pdf"}])
    returned = await engine.insert("accounts", doc)
    doc["uploads"].append({"name": "x"})
    returned["uploads"].append({"name": "y"})
    got = await engine.get("accounts", "acc-1")
    assert got is not None
    got["uploads"].append({"name": "z"})
    (await engine.find("accounts", "email", "candidat1@exemple.fr"))[0]["status"] = "hacked"
    again = await engine.get("accounts", "acc-1")
    assert again is not None
    assert again["uploads"] == [{"name": "cv.pdf"}]
    assert again["status"] == "pending"


async def test_duplicate_id_is_refused(engine: Engine) -> None:
    """A second document with the same id raises DuplicateKey and leaves the first intact."""
    await engine.insert("accounts", account(1))
    with pytest.raises(DuplicateKey) as info:
        await engine.insert("accounts", account(1, email="other@exemple.fr"))
    assert info.value.field == "id"
    assert (await engine.get("accounts", "acc-1") or {})["email"] == "candidat1@exemple.fr"


async def test_duplicate_unique_field_is_refused(engine: Engine) -> None:
    """Two accounts cannot share an e-mail; the refused one is not stored."""
    await engine.insert("accounts", account(1))
    with pytest.raises(DuplicateKey) as info:
        await engine.insert("accounts", account(2, email="candidat1@exemple.fr"))
    assert (info.value.table, info.value.field) == ("accounts", "email")
    assert await engine.get("accounts", "acc-2") is None
    assert await engine.count("accounts") == 1


async def test_find_by_unique_and_indexed_fields(engine: Engine) -> None:
    """find returns every document with the value, on unique and on indexed fields."""
    for n in range(5):
        await engine.insert("accounts", account(n, status="active" if n % 2 else "pending"))
    active = await engine.find("accounts", "status", "active")
    assert sorted(d["id"] for d in active) == ["acc-1", "acc-3"]
    assert [d["id"] for d in await engine.find("accounts", "email", "candidat4@exemple.fr")] == ["acc-4"]
    assert await engine.find("accounts", "email", "nobody@exemple.fr") == []
    assert (await engine.find_one("accounts", "email", "candidat2@exemple.fr") or {})["id"] == "acc-2"
    assert await engine.find_one("accounts", "status", "deleted") is None


async def test_lookup_on_a_field_without_index_is_refused(engine: Engine) -> None:
    """find on a field TABLES does not index raises KeyError, rather than scanning."""
    await engine.insert("accounts", account(1))
    with pytest.raises(KeyError):
        await engine.find("accounts", "last_name", "Martin")


async def test_unknown_table_is_refused(engine: Engine) -> None:
    """A table outside TABLES raises KeyError."""
    with pytest.raises(KeyError):
        await engine.insert("nope", {"id": "1"})


async def test_update_replaces_the_document_and_moves_it_in_the_indexes(engine: Engine) -> None:
    """update stores fn(copy); finds on the old indexed value no longer return it."""
    await engine.insert("accounts", account(1))
    new = await engine.update("accounts", "acc-1", lambda d: d | {"status": "active", "email": "new@ex.fr"})
    assert new["status"] == "active"
    assert await engine.get("accounts", "acc-1") == new
    assert await engine.find("accounts", "status", "pending") == []
    assert await engine.find("accounts", "email", "candidat1@exemple.fr") == []
    assert [d["id"] for d in await engine.find("accounts", "email", "new@ex.fr")] == ["acc-1"]
    await engine.insert("accounts", account(2, email="candidat1@exemple.fr"))  # the old e-mail is free


async def test_update_keeps_the_id(engine: Engine) -> None:
    """fn cannot move a document to another id."""
    await engine.insert("accounts", account(1))
    new = await engine.update("accounts", "acc-1", lambda d: d | {"id": "elsewhere"})
    assert new["id"] == "acc-1"
    assert await engine.get("accounts", "elsewhere") is None


async def test_update_of_a_missing_document_raises_not_found(engine: Engine) -> None:
    """update on an absent id raises RecordMissing."""
    with pytest.raises(RecordMissing):
        await engine.update("accounts", "acc-404", lambda d: d)


async def test_update_whose_function_raises_writes_nothing(engine: Engine) -> None:
    """If fn raises (a failed version check), the exception propagates and nothing changes."""
    await engine.insert("enrolments", enrolment(1))
    with pytest.raises(VersionConflict):
        await engine.update("enrolments", "enr-1", bump(expected=7, status="submitted"))
    assert (await engine.get("enrolments", "enr-1") or {})["status"] == "draft"


async def test_update_into_a_unique_clash_writes_nothing(engine: Engine) -> None:
    """An update giving a taken e-mail raises DuplicateKey and leaves both documents alone."""
    await engine.insert("accounts", account(1))
    await engine.insert("accounts", account(2))
    with pytest.raises(DuplicateKey):
        await engine.update("accounts", "acc-2", lambda d: d | {"email": "candidat1@exemple.fr"})
    assert (await engine.get("accounts", "acc-2") or {})["email"] == "candidat2@exemple.fr"
    assert len(await engine.find("accounts", "email", "candidat1@exemple.fr")) == 1


async def test_delete_with_and_without_predicate(engine: Engine) -> None:
    """delete removes when the predicate holds, and says whether it removed anything."""
    await engine.insert("accounts", account(1))
    await engine.insert("accounts", account(2, status="active"))
    assert await engine.delete("accounts", "acc-2", lambda d: d["status"] == "pending") is False
    assert await engine.delete("accounts", "acc-1", lambda d: d["status"] == "pending") is True
    assert await engine.delete("accounts", "acc-1") is False
    assert await engine.delete("accounts", "acc-2") is True
    assert await engine.get("accounts", "acc-1") is None
    assert await engine.find("accounts", "status", "active") == []
    assert await engine.count("accounts") == 0


async def test_scan_and_count_cover_the_table(engine: Engine) -> None:
    """scan returns every document of one table, count their number."""
    for n in range(3):
        await engine.insert("accounts", account(n))
    await engine.insert("enrolments", enrolment(1))
    assert sorted(d["id"] for d in await engine.scan("accounts")) == ["acc-0", "acc-1", "acc-2"]
    assert await engine.count("accounts") == 3
    assert await engine.count("sessions") == 0


async def test_check_reports_counts_and_no_problem(engine: Engine) -> None:
    """check() counts each table and finds nothing wrong in a healthy store."""
    await engine.insert("accounts", account(1))
    report = await engine.check()
    assert report.ok
    assert report.counts["accounts"] == 1


async def test_repositories_speak_the_domain(engine: Engine) -> None:
    """The repositories work over the engine: create-if-free, by_email, sessions cleanup."""
    store = Store(engine)
    assert await store.accounts.create_if_email_free(account(1)) is True
    assert await store.accounts.create_if_email_free(account(2, email="candidat1@exemple.fr")) is False
    assert (await store.accounts.by_email("candidat1@exemple.fr") or {})["id"] == "acc-1"
    for n in range(3):
        await store.sessions.create({"id": f"s{n}", "account_id": "acc-1"})
    assert await store.sessions.delete_for_account("acc-1", keep="s0") == 2
    assert await engine.count("sessions") == 1


@pytest.mark.parametrize(
    "value",
    [None, 0, 1.5, True, "é", [1, "a"], {"k": [1, 2]}],
    ids=["none", "zero", "float", "bool", "unicode", "list", "object"],
)
async def test_json_values_survive_a_round_trip(engine: Engine, value: Any) -> None:
    """Any JSON value comes back equal."""
    await engine.insert("accounts", account(1, extra=value))
    assert (await engine.get("accounts", "acc-1") or {})["extra"] == value
