"""A data directory that shows earlier data is never opened as if that data had never been:
a journal or snapshot gone or cut short, or a store without records beside candidates' files,
is refused at open (in French, naming what is missing and where) and reported by `store check`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from formservice.settings import Settings
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.integrity import (
    MANIFEST_NAME,
    DataMissing,
    JournalMissing,
    SnapshotMissing,
    UploadsWithoutRecords,
    uploads_dir_of,
)
from formservice.store.tinydb.journal import CorruptStore, journal_generations, journal_path
from formservice.store.tinydb.maintenance import check
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME

from .helpers import account

pytestmark = pytest.mark.anyio


async def filled(store_dir: Path, *, compact: bool = False, after: int = 2) -> Path:
    """A closed store with three accounts (compacted into a snapshot if asked) and then ``after``
    more written to the journal; returns the journal in use."""
    engine = TinyDBEngine(store_dir)
    for n in range(3):
        await engine.insert("accounts", account(n))
    if compact:
        await engine.compact()
    for n in range(3, 3 + after):
        await engine.insert("accounts", account(n))
    await engine.close()
    return journal_path(store_dir, journal_generations(store_dir)[-1])


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "lock"}


def refused(store_dir: Path, error: type[DataMissing]) -> str:
    """Opening raises ``error``, and the refused open changed no file of the directory."""
    before = listing(store_dir)
    with pytest.raises(error) as info:
        TinyDBEngine(store_dir)
    assert listing(store_dir) == before
    assert isinstance(info.value, CorruptStore)  # what callers already catch (server, store compact)
    return str(info.value)


async def test_a_brand_new_empty_directory_opens(tmp_path: Path) -> None:
    """Nothing there (or an empty folder, or empty uploads folders): a fresh store."""
    (tmp_path / "uploads" / "acc-1").mkdir(parents=True)  # a folder, but no file
    (tmp_path / "store").mkdir()
    engine = TinyDBEngine(tmp_path / "store")
    assert await engine.count("accounts") == 0
    await engine.close()
    await TinyDBEngine(tmp_path / "store").close()  # and again, empty journal and all


async def test_a_journal_missing_under_a_snapshot_is_refused(store_dir: Path) -> None:
    """The snapshot names the journal holding what came after it: without it, refuse."""
    journal = await filled(store_dir, compact=True)
    journal.unlink()
    text = refused(store_dir, JournalMissing)
    assert text.startswith(
        f"Le journal {journal} est absent alors que l'instantané {store_dir / SNAPSHOT_NAME} "
        "(3 enregistrement(s)) en dépend"
    )
    assert f"restaurez le dossier {store_dir} depuis la dernière sauvegarde" in text


async def test_a_journal_emptied_under_a_snapshot_is_refused(store_dir: Path) -> None:
    """Truncated to 0 bytes after writes the snapshot does not hold: the manifest tells."""
    journal = await filled(store_dir, compact=True)
    size = journal.stat().st_size
    journal.write_bytes(b"")
    text = refused(store_dir, JournalMissing)
    assert text.startswith(
        f"Le journal {journal} est vide alors que le manifeste {store_dir / MANIFEST_NAME} "
        f"en indiquait {size} (5 enregistrement(s) dans le store)"
    )
    assert f"supprimez {store_dir / MANIFEST_NAME} puis relancez" in text


async def test_the_only_journal_deleted_is_refused(store_dir: Path) -> None:
    """A small store never compacts: all its records are in journal 1. Deleted, the directory
    still holds the manifest, which says there were records."""
    journal = await filled(store_dir)
    journal.unlink()
    text = refused(store_dir, JournalMissing)
    assert text.startswith(
        f"Le journal {journal} est absent alors que le manifeste {store_dir / MANIFEST_NAME}"
    )
    assert "5 enregistrement(s) dans le store" in text


@pytest.mark.parametrize("keep", [0, 0.5], ids=["emptied", "cut-short"])
async def test_the_only_journal_cut_short_is_refused(store_dir: Path, keep: float) -> None:
    """Emptied, or replaced by an older (shorter) copy: acknowledged writes would be lost."""
    journal = await filled(store_dir)
    data = journal.read_bytes()
    lines = data.splitlines(keepends=True)
    kept = b"".join(lines[: int(len(lines) * keep) // 2 * 2])  # whole groups: a put and its commit
    journal.write_bytes(kept)
    text = refused(store_dir, JournalMissing)
    now = "est vide" if not kept else f"ne contient plus que {len(kept)} octet(s) confirmés"
    assert text.startswith(f"Le journal {journal} {now} alors que le manifeste")
    assert f"en indiquait {len(data)}" in text


async def test_a_snapshot_deleted_is_refused(store_dir: Path) -> None:
    """Journal 2 without a snapshot: what generation 1 held is gone."""
    journal = await filled(store_dir, compact=True)
    (store_dir / SNAPSHOT_NAME).unlink()
    text = refused(store_dir, SnapshotMissing)
    assert text.startswith(
        f"L'instantané {store_dir / SNAPSHOT_NAME} est absent "
        f"alors que le premier journal présent est {journal}"
    )


async def test_the_legitimate_states_still_open(store_dir: Path) -> None:
    """Right after a compaction the journal is empty and the snapshot holds everything; a kill
    just after it leaves an older manifest; a store of an earlier release has no manifest."""
    journal = await filled(store_dir, compact=True, after=0)
    assert journal.stat().st_size == 0
    engine = TinyDBEngine(store_dir)
    assert await engine.count("accounts") == 3
    await engine.insert("accounts", account(9))
    await engine.compact()
    await engine.close()
    (store_dir / MANIFEST_NAME).write_text(
        '{"format": 1, "journal": 1, "journal_bytes": 999, "records": 3}\n'
    )
    engine = TinyDBEngine(store_dir)  # generation 1 is in the snapshot now: nothing to check
    assert await engine.count("accounts") == 4
    await engine.close()
    (store_dir / MANIFEST_NAME).unlink()
    engine = TinyDBEngine(store_dir)
    assert await engine.count("accounts") == 4
    await engine.close()
    assert json.loads((store_dir / MANIFEST_NAME).read_text())["records"] == 4  # written again


async def test_deleting_the_manifest_accepts_an_older_copy_on_purpose(store_dir: Path) -> None:
    """The escape the message offers: an operator who restored an older journal on purpose."""
    journal = await filled(store_dir)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:2]))
    refused(store_dir, JournalMissing)
    (store_dir / MANIFEST_NAME).unlink()
    engine = TinyDBEngine(store_dir)
    assert await engine.count("accounts") == 1
    await engine.close()


async def test_an_unreadable_manifest_is_refused(store_dir: Path) -> None:
    """Written atomically, a manifest is whole or absent: garbage is damage, not a crash."""
    await filled(store_dir)
    (store_dir / MANIFEST_NAME).write_text("{garbage")
    with pytest.raises(CorruptStore, match="manifeste illisible"):
        TinyDBEngine(store_dir)


async def test_an_empty_store_beside_candidates_files_is_refused(tmp_path: Path) -> None:
    """No record, yet files in <data_dir>/uploads: refused, until the uploads folder is empty."""
    store_dir, uploads = tmp_path / "store", tmp_path / "uploads"
    (uploads / "acc-1").mkdir(parents=True)
    (uploads / "acc-1" / "abc.pdf").write_bytes(b"%PDF")
    (uploads / "acc-2").mkdir()
    (uploads / "acc-2" / "def.jpg").write_bytes(b"jpeg")
    with pytest.raises(UploadsWithoutRecords) as info:
        TinyDBEngine(store_dir)
    assert str(info.value).startswith(
        f"Le store {store_dir} ne contient aucun enregistrement alors que le dossier des justificatifs "
        f"{uploads} contient 2 fichier(s)"
    )
    assert f"videz {uploads} puis relancez" in str(info.value)
    for folder in ("acc-1", "acc-2"):
        for path in (uploads / folder).iterdir():
            path.unlink()
    await TinyDBEngine(store_dir).close()


async def test_a_store_with_records_beside_files_opens(tmp_path: Path) -> None:
    """The usual case: records and files together."""
    await filled(tmp_path / "store")
    (tmp_path / "uploads" / "acc-1").mkdir(parents=True)
    (tmp_path / "uploads" / "acc-1" / "abc.pdf").write_bytes(b"%PDF")
    await TinyDBEngine(tmp_path / "store").close()


async def test_the_uploads_folder_can_be_named(tmp_path: Path) -> None:
    """``uploads_dir`` overrides the default ``uploads`` next to the store."""
    elsewhere = tmp_path / "files"
    elsewhere.mkdir()
    (elsewhere / "x.pdf").write_bytes(b"%PDF")
    await TinyDBEngine(tmp_path / "store").close()  # the default sibling is empty
    with pytest.raises(UploadsWithoutRecords):
        TinyDBEngine(tmp_path / "store", uploads_dir=elsewhere)


def test_the_engine_finds_the_uploads_where_the_settings_put_them(tmp_path: Path) -> None:
    """The engine is given the store's folder only: its idea of the uploads matches Settings'."""
    settings = Settings(
        notice_path=tmp_path / "notice.yml", data_dir=tmp_path / "var", secret_keys=("k" * 40,)
    )
    assert uploads_dir_of(settings.store_dir) == settings.uploads_dir


# -- store check says the same -------------------------------------------------------------------


async def test_check_reports_a_missing_journal(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1, the same sentence as the refusal, and the verdict."""
    journal = await filled(store_dir, compact=True)
    journal.unlink()
    assert check(store_dir) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"  problème : Le journal {journal} est absent alors que l'instantané")
    assert err[-1] == "1 problème : le service refusera de démarrer sur ce dossier."


async def test_check_reports_an_emptied_journal(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = await filled(store_dir)
    journal.write_bytes(b"")
    assert check(store_dir) == 1
    assert f"Le journal {journal} est vide alors que le manifeste" in capsys.readouterr().err


async def test_check_reports_an_empty_store_beside_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store opens (its tables are printed), but the verdict names the uploads problem."""
    await TinyDBEngine(tmp_path / "store").close()
    (tmp_path / "uploads" / "acc-1").mkdir(parents=True)
    (tmp_path / "uploads" / "acc-1" / "abc.pdf").write_bytes(b"%PDF")
    assert check(tmp_path / "store") == 1
    out, err = capsys.readouterr()
    assert "  accounts : 0 document" in out
    assert "contient 1 fichier(s)" in err
    os.unlink(tmp_path / "uploads" / "acc-1" / "abc.pdf")
    assert check(tmp_path / "store") == 0


def test_check_of_a_missing_store_beside_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No store folder at all, but candidates' files: not « nothing to check » but a problem."""
    (tmp_path / "uploads" / "acc-1").mkdir(parents=True)
    (tmp_path / "uploads" / "acc-1" / "abc.pdf").write_bytes(b"%PDF")
    assert check(tmp_path / "store") == 1
    err = capsys.readouterr().err
    assert f"Le store {tmp_path / 'store'} ne contient aucun enregistrement" in err
    assert not (tmp_path / "store").exists()
