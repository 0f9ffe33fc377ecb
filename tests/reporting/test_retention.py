"""Retention with a fake clock: a session's dossiers, files and accounts disappear the day its
retention ends, and nothing else; an account unused for the last sessions is warned, then
deleted a month later; the audit log keeps counts and pseudonyms, no name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from review.dossiers import NOTICE, deposited, saved

from formservice.clock import FrozenClock
from reporting.world import World

pytestmark = pytest.mark.anyio
OLD, CURRENT = "Session juin 2025", NOTICE.session.name
DUE = datetime(2026, 7, 30, 22, 30, tzinfo=UTC)  # 31 July 2026, 00:30 in Paris: 2025 ended + 12 months


@pytest.fixture
async def world(settings, mailbox):
    w = World(settings, FrozenClock(DUE - timedelta(days=1)))
    await w.open()
    yield w
    await w.close()


async def test_a_session_past_its_retention_is_deleted_and_nothing_else(world, settings):
    """On 31 July 2026 (end of 2025 + 12 months), Paris time: 2025's dossiers and files go, with
    the account that had nothing else; a candidate's 2026 dossier, a session unknown to
    notice.yml, and everything before that day stay."""
    store = world.svc.store
    gone = await world.candidate("ancien", created=datetime(2024, 10, 1, tzinfo=UTC))
    old_only = await world.enrolment(gone, deposited(), OLD)
    both = await world.candidate("fidele", created=datetime(2024, 10, 1, tzinfo=UTC))
    old_of_both = await world.enrolment(both, deposited(), OLD)
    new_of_both = await world.enrolment(both, saved(), CURRENT)
    await world.enrolment(await world.candidate("inconnu"), saved(), "Session juin 2019", write_files=False)
    assert (await world.svc.retention.run()).enrolments == {}  # the day before: nothing

    world.clock.set(DUE)
    dry = await world.svc.retention.run(dry_run=True)
    assert sorted(dry.enrolments[OLD]) == sorted([old_only, old_of_both])
    assert await store.enrolments.get(old_only) is not None
    report = await world.svc.retention.run()
    assert sorted(report.enrolments[OLD]) == sorted([old_only, old_of_both])
    assert report.unknown_sessions == {"Session juin 2019": 1}
    assert await store.enrolments.get(old_only) is None and await store.accounts.get(gone) is None
    assert await store.enrolments.get(new_of_both) is not None and await store.accounts.get(both) is not None
    assert not (settings.uploads_dir / gone).exists()
    kept = {p.name for p in (settings.uploads_dir / both).iterdir()}
    new_doc = await store.enrolments.get(new_of_both)
    assert kept == {f["stored_name"] for f in new_doc["files"]}
    audit = settings.audit_path.read_text()
    assert '"retention.session_deleted"' in audit and "Durand" not in audit and "ancien@" not in audit


async def test_an_unused_account_is_warned_then_deleted_a_month_later(world, mailbox):
    """No part in 2025 nor 2026: one warning mail (once, whatever reruns), deletion after
    warning_days; a candidate who enrols meanwhile is kept; a recent account is not judged."""
    store = world.svc.store
    idle = await world.candidate("dormant", created=datetime(2024, 1, 5, tzinfo=UTC))
    back = await world.candidate("revenu", created=datetime(2024, 1, 5, tzinfo=UTC))
    await world.candidate("recent", created=datetime(2025, 9, 1, tzinfo=UTC))
    report = await world.svc.retention.run()
    assert len(report.warned) == 2 and report.accounts == []
    assert (await world.svc.retention.run()).warned == []
    assert len(mailbox.to("dormant@exemple.fr")) == 1 and not mailbox.to("recent@exemple.fr")
    assert "sera supprimé" in mailbox.text(mailbox.to("dormant@exemple.fr")[0])
    await world.enrolment(back, saved(), CURRENT, write_files=False)

    world.clock.advance(days=NOTICE.retention.warning_days - 1)
    assert (await world.svc.retention.run()).accounts == []
    world.clock.advance(days=2)
    report = await world.svc.retention.run()
    assert report.accounts == [world.svc.audit.pseudonym("a", idle)]
    assert await store.accounts.get(idle) is None and await store.accounts.get(back) is not None
