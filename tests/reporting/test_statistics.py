"""The statistics from the store's counts: every number matches the dossiers, scoped to the
pôles asked; the per-day series, the refusals by reason and the delay to decision."""

from __future__ import annotations

import pytest
from review.dossiers import CHECKING, NOTICE, deposited, in_state, saved

from formservice.clock import from_iso
from formservice.reporting.statistics import statistics, window_days
from formservice.review import listing, rules
from formservice.review.states import State
from formservice.store import Store
from formservice.store.memory import MemoryEngine

pytestmark = pytest.mark.anyio


async def store_with(*docs) -> Store:
    store = Store(MemoryEngine())
    store.enrolments.derive = lambda doc: listing.with_listing(doc, NOTICE)
    for n, doc in enumerate(docs):
        doc = doc | {"id": f"d{n}", "key": f"a{n}:{NOTICE.session.name}", "account_id": f"a{n}"}
        assert await store.enrolments.create_if_absent(doc)
    return store


async def test_counts_by_state_pole_and_speciality() -> None:
    electricien = saved(exam="BP", speciality="bp-electricien")
    store = await store_with(saved(), deposited(), in_state(State.COMPLET), electricien)
    every_pole = [p.id for p in NOTICE.poles]
    stats = await statistics(store, NOTICE, every_pole)
    by_state = {c.label: c.count for c in stats.by_state}
    assert (stats.total, by_state["Brouillon"], by_state["Déposé"], by_state["Complet"]) == (4, 2, 1, 1)
    speciality = saved()["data"]["speciality"]
    pole = NOTICE.speciality(speciality)[1].pole
    assert {c.label: c.count for c in stats.by_pole}[NOTICE.pole(pole).name] == 3
    sah_only = await statistics(store, NOTICE, [pole])
    assert sah_only.total == 3 and all(c.query != "specialite=bp-electricien" for c in sah_only.by_speciality)


async def test_per_day_refusals_and_delay_to_decision() -> None:
    refused = in_state(State.INCOMPLET)  # one piece refused « illisible », decided at CHECKING
    store = await store_with(saved(), deposited(), refused)
    stats = await statistics(store, NOTICE, [p.id for p in NOTICE.poles])
    assert sum(d.saved for d in stats.per_day) == 3
    assert sum(d.deposited for d in stats.per_day) == 2
    assert [d.day for d in stats.per_day] == window_days(NOTICE)
    assert {c.label: c.count for c in stats.refusals}[rules.reason_label(NOTICE, "illisible")] == 1
    deposited_at = from_iso(refused["completed_at"])
    assert stats.decision_days == [((CHECKING - deposited_at).days, 1)]
    assert stats.median_days == (CHECKING - deposited_at).days
    assert stats.accounts == {"pending": 0, "active": 0, "purged": 0}
    await store.counters.add("accounts_purged", 2)
    await store.counters.add("accounts_purged")
    assert (await statistics(store, NOTICE, [])).accounts["purged"] == 3
