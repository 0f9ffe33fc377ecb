"""Retention with a fake clock: a session's dossiers, files and accounts disappear the day its
retention ends, and nothing else; an account unused for the last sessions is warned, then
deleted a month later; the audit log keeps counts and pseudonyms, no name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from review.dossiers import NOTICE, deposited, saved
from s3_helpers import FILE_STORES, SeaweedFS, stored_keys

from formservice.clock import FrozenClock
from formservice.files import FilesUnreachable
from formservice.files.s3 import S3FileStore, S3Location
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


@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)
async def test_a_session_past_its_retention_is_deleted_and_nothing_else(world, settings):
    """On 31 July 2026 (end of 2025 + 12 months), Paris time: 2025's dossiers and files go (from
    the disk, or the bucket), with the account that had nothing else; a candidate's 2026 dossier
    and its files, a session unknown to notice.yml, and everything before that day stay."""
    store = world.svc.store
    gone = await world.candidate("ancien", created=datetime(2024, 10, 1, tzinfo=UTC))
    old_only = await world.enrolment(gone, deposited(), OLD)
    both = await world.candidate("fidele", created=datetime(2024, 10, 1, tzinfo=UTC))
    old_of_both = await world.enrolment(both, deposited(), OLD)
    new_of_both = await world.enrolment(both, saved(), CURRENT)
    await world.enrolment(await world.candidate("inconnu"), saved(), "Session juin 2019", write_files=False)
    assert (await world.svc.retention.run()).enrolments == {}  # the day before: nothing
    before = stored_keys(settings)
    assert len(before) == 2 * len(deposited()["files"]) + len(saved()["files"]) > 0

    world.clock.set(DUE)
    dry = await world.svc.retention.run(dry_run=True)
    assert sorted(dry.enrolments[OLD]) == sorted([old_only, old_of_both])
    assert await store.enrolments.get(old_only) is not None
    report = await world.svc.retention.run()
    assert sorted(report.enrolments[OLD]) == sorted([old_only, old_of_both])
    assert report.unknown_sessions == {"Session juin 2019": 1}
    assert await store.enrolments.get(old_only) is None and await store.accounts.get(gone) is None
    assert await store.enrolments.get(new_of_both) is not None and await store.accounts.get(both) is not None
    new_doc = await store.enrolments.get(new_of_both)
    assert stored_keys(settings) == sorted(f"{both}/{f['stored_name']}" for f in new_doc["files"])
    assert report.files == len(before) - len(new_doc["files"]) and report.files_left == 0
    if not settings.files.s3:
        assert not (settings.uploads_dir / gone).exists()  # its emptied folder too
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


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["s3"], indirect=True)
async def test_nothing_is_deleted_while_the_file_store_does_not_answer(world, settings, seaweedfs: SeaweedFS):
    """S3 frozen (SIGSTOP) on the day: the run refuses in French before deleting any record, so
    that no file is left without its dossier; the next run, once the store answers, deletes."""
    gone = await world.candidate("ancien", created=datetime(2024, 10, 1, tzinfo=UTC))
    old_only = await world.enrolment(gone, deposited(), OLD)
    world.clock.set(DUE)
    seaweedfs.freeze()
    try:
        with pytest.raises(FilesUnreachable) as refused:
            await world.svc.retention.run()
    finally:
        seaweedfs.thaw()
    assert "Rien n'a été supprimé" in refused.value.message and refused.value.status == 503
    assert await world.svc.store.enrolments.get(old_only) is not None
    assert len(stored_keys(settings)) == len(deposited()["files"])
    report = await world.svc.retention.run()
    assert report.enrolments == {OLD: [old_only]} and stored_keys(settings) == []


class FreezesAtFirstDelete(S3FileStore):
    """The real store, whose server is frozen (SIGSTOP) just before the first file is deleted."""

    server: SeaweedFS
    frozen = False

    def delete(self, owner: str, name: str) -> None:
        if not self.frozen:
            self.frozen = True
            self.server.freeze()
        super().delete(owner, name)


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["s3"], indirect=True)
async def test_a_store_that_stops_answering_mid_run_stops_the_deletions(settings, mailbox, seaweedfs):
    """The store freezes as the first file is deleted: that dossier's files are counted as left
    (its record is gone: the next start removes them); every other dossier, with its files and
    its account, waits whole for the next run, which deletes it."""
    config = settings.files
    files = FreezesAtFirstDelete(
        S3Location.parse(config.url),
        settings.tmp_dir,
        endpoint=config.endpoint,
        access_key=config.access_key,
        secret_key=config.secret_key,
        timeout=config.timeout,
        attempts=config.attempts,
    )
    files.server = seaweedfs
    world = World(settings, FrozenClock(DUE), files)
    await world.open()
    try:
        owners = {}
        for name in ("premier", "second"):
            account_id = await world.candidate(name, created=datetime(2024, 10, 1, tzinfo=UTC))
            owners[await world.enrolment(account_id, deposited(), OLD)] = account_id
        pieces = len(deposited()["files"])
        try:
            report = await world.svc.retention.run()
        finally:
            seaweedfs.thaw()
        (cut,) = report.enrolments[OLD]
        (waiting,) = set(owners) - {cut}
        assert report.files == 0 and report.files_left == pieces
        assert report.accounts == [world.svc.audit.pseudonym("a", owners[cut])]
        assert await world.svc.store.enrolments.get(waiting) is not None
        assert await world.svc.store.accounts.get(owners[waiting]) is not None
        kept = [k for k in stored_keys(settings) if k.startswith(f"{owners[waiting]}/")]
        assert len(kept) == pieces

        again = await world.svc.retention.run()
        assert again.enrolments == {OLD: [waiting]} and (again.files, again.files_left) == (pieces, 0)
        assert again.accounts == [world.svc.audit.pseudonym("a", owners[waiting])]
        # Only some of the cut dossier's may be left (a request the frozen server took in may
        # still be carried out once it wakes up): removed at the service's next start.
        orphans = stored_keys(settings)
        assert len(orphans) <= pieces and all(k.startswith(f"{owners[cut]}/") for k in orphans)
    finally:
        await world.close()
