"""``select``, ``tally``, ``ids`` and ``get_many`` of the Engine contract, on every implementation,
and the TinyDB indexes against the reference semantics through random writes and a restart."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from formservice.store.contract import Engine
from formservice.store.memory import MemoryEngine
from formservice.store.postgres.engine import PostgresEngine
from formservice.store.tinydb.engine import TinyDBEngine

pytestmark = pytest.mark.anyio

SPECIALITIES = ["coiffure", "cuisinier", "electricien"]
STATES = ["brouillon", "depose", "complet"]


def dossier(n: int, name: str, speciality: str, state: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"d{n:04d}",
        "key": f"a{n}:juin",
        "account_id": f"a{n}",
        "session": "juin",
        "speciality": speciality,
        "state": state,
        "pieces_state": "manquantes",
        "sort_key": f"{name} {n:04d}",
        "words": [name, f"d{n:04d}"],
        "saved_on": f"2025-10-{n % 3 + 1:02d}",
        **fields,
    }


async def test_select_filters_sorts_pages_and_counts(engine: Engine) -> None:
    """The office's list: only the asked values, sorted by the order field, one page, the total."""
    names = ["martin", "durand", "bernard", "petit", "durand", "robert"]
    for n, name in enumerate(names):
        await engine.insert("enrolments", dossier(n, name, SPECIALITIES[n % 3], STATES[n % 2]))
    page = await engine.select("enrolments", where={"state": ["brouillon"]}, limit=2)
    assert (page.total, [d["id"] for d in page.docs]) == (3, ["d0002", "d0004"])  # bernard, durand
    second = await engine.select("enrolments", where={"state": ["brouillon"]}, offset=2, limit=2)
    assert (second.total, [d["id"] for d in second.docs]) == (3, ["d0000"])  # martin
    unfiltered = await engine.select("enrolments", limit=3)
    assert (unfiltered.total, [d["id"] for d in unfiltered.docs]) == (6, ["d0002", "d0001", "d0004"])
    both = await engine.select(
        "enrolments", where={"speciality": ["coiffure", "cuisinier"], "state": ["depose"]}
    )
    assert sorted(d["id"] for d in both.docs) == ["d0001", "d0003"]
    assert (await engine.select("enrolments", where={"state": []})).total == 0


async def test_select_by_word_prefixes(engine: Engine) -> None:
    """Every word asked must start one of the document's words (« dur » finds Durand)."""
    for n, name in enumerate(["durand", "dupont", "martin"]):
        await engine.insert("enrolments", dossier(n, name, "coiffure", "depose"))
    found = await engine.select("enrolments", words=["du"])
    assert [d["words"][0] for d in found.docs] == ["dupont", "durand"]
    assert (await engine.select("enrolments", words=["dur", "d0000"])).total == 1
    assert (await engine.select("enrolments", words=["dur", "d0001"])).total == 0
    assert (await engine.select("enrolments", words=["mar"], where={"state": ["complet"]})).total == 0


async def test_tally_ids_and_get_many(engine: Engine) -> None:
    for n in range(7):
        await engine.insert("enrolments", dossier(n, "nom", SPECIALITIES[n % 3], STATES[n % 3]))
    assert await engine.tally("enrolments", "state") == {"brouillon": 3, "depose": 2, "complet": 2}
    assert await engine.tally("enrolments", "state", where={"speciality": ["coiffure"]}) == {"brouillon": 3}
    assert await engine.tally("enrolments", "status") == {None: 7}  # an indexed field absent everywhere
    ids = await engine.ids("enrolments", where={"state": ["depose", "complet"]})
    assert ids == ["d0001", "d0002", "d0004", "d0005"]
    docs = await engine.get_many("enrolments", ["d0005", "missing", "d0001"])
    assert [d["id"] for d in docs] == ["d0005", "d0001"]


async def test_select_follows_updates_and_deletes(engine: Engine) -> None:
    await engine.insert("enrolments", dossier(1, "durand", "coiffure", "depose"))
    await engine.insert("enrolments", dossier(2, "martin", "coiffure", "depose"))
    await engine.update(
        "enrolments", "d0001", lambda d: d | {"state": "complet", "sort_key": "zola", "words": ["zola"]}
    )
    await engine.delete("enrolments", "d0002")
    assert (await engine.select("enrolments", where={"state": ["depose"]})).total == 0
    assert (await engine.select("enrolments", words=["durand"])).total == 0
    assert [d["id"] for d in (await engine.select("enrolments", words=["zo"])).docs] == ["d0001"]
    assert await engine.tally("enrolments", "state") == {"complet": 1}


async def test_select_refuses_a_field_that_is_not_indexed(engine: Engine) -> None:
    with pytest.raises(KeyError):
        await engine.select("enrolments", where={"data": ["x"]})
    with pytest.raises(KeyError):  # counted for statistics, not a filter of lists
        await engine.select("enrolments", where={"saved_on": ["2025-10-01"]})


async def test_tally_of_a_counted_group(engine: Engine) -> None:
    """The statistics' counts: per day, within a speciality, from the counted group."""
    for n in range(6):
        await engine.insert("enrolments", dossier(n, "nom", SPECIALITIES[n % 2], "depose"))
    assert await engine.tally("enrolments", "saved_on") == {"2025-10-01": 2, "2025-10-02": 2, "2025-10-03": 2}
    coiffure = await engine.tally("enrolments", "saved_on", where={"speciality": ["coiffure"]})
    assert coiffure == {"2025-10-01": 1, "2025-10-02": 1, "2025-10-03": 1}


async def random_writes(reference: Engine, other: Engine, steps: int = 400) -> None:
    """Random inserts, updates (of names, states, specialities) and deletes, on both engines."""
    rng = random.Random(7)
    names = ["durand", "dupont", "martin", "petit", "lefevre"]
    live: set[int] = set()
    for step in range(steps):
        n = rng.randrange(60)
        if n not in live:
            doc = dossier(n, rng.choice(names), rng.choice(SPECIALITIES), rng.choice(STATES))
            for eng in (reference, other):
                await eng.insert("enrolments", dict(doc))
            live.add(n)
        elif step % 5 == 0:
            for eng in (reference, other):
                await eng.delete("enrolments", f"d{n:04d}")
            live.discard(n)
        else:
            name = rng.choice(names)
            change = {
                "state": rng.choice(STATES),
                "sort_key": f"{name} {n:04d}",
                "words": [name, f"d{n:04d}"],
            }
            if rng.random() < 0.3:
                change["speciality"] = rng.choice(SPECIALITIES)
            for eng in (reference, other):
                await eng.update("enrolments", f"d{n:04d}", lambda d, c=change: d | c)


async def same_answers(reference: Engine, engine: Engine) -> None:
    """Every select, tally and ids of ``engine`` equals the reference's."""
    for where in (
        {},
        {"state": ["depose"]},
        {"speciality": ["coiffure", "electricien"], "state": STATES[:2]},
    ):
        for words in ([], ["du"], ["d00"]):
            for offset, limit in ((0, 5), (3, 50), (10, 4)):
                expected = await reference.select(
                    "enrolments", where=where, words=words, offset=offset, limit=limit
                )
                got = await engine.select("enrolments", where=where, words=words, offset=offset, limit=limit)
                assert (got.total, [d["id"] for d in got.docs]) == (
                    expected.total,
                    [d["id"] for d in expected.docs],
                ), (where, words, offset, limit)
        assert await engine.tally("enrolments", "state", where=where) == await reference.tally(
            "enrolments", "state", where=where
        )
        assert await engine.ids("enrolments", where=where) == await reference.ids("enrolments", where=where)


async def test_tinydb_indexes_agree_with_the_reference_through_writes_and_a_restart(store_dir: Path) -> None:
    """Random writes: every select and tally of the TinyDB engine equals the memory engine's,
    before and after a restart, and ``store check`` finds the indexes consistent."""
    reference, tiny = MemoryEngine(), TinyDBEngine(store_dir)
    await random_writes(reference, tiny)
    await same_answers(reference, tiny)
    assert (await tiny.check()).ok
    await tiny.close()
    reopened = TinyDBEngine(store_dir)
    try:
        await same_answers(reference, reopened)
    finally:
        await reopened.close()


async def test_postgres_columns_and_words_agree_with_the_reference_through_writes(pg_url: str) -> None:
    """The same random writes on PostgreSQL: its columns, order and word table answer as the
    memory engine does, and ``check`` finds every derived column equal to its document."""
    reference, postgres = MemoryEngine(), PostgresEngine(pg_url)
    try:
        await random_writes(reference, postgres)
        await same_answers(reference, postgres)
        report = await postgres.check()
        assert report.ok and report.counts == (await reference.check()).counts
    finally:
        await postgres.close()
