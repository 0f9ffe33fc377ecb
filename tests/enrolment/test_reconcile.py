"""reconcile_files: what a crash left between the files and the records, on real files and the
contract's reference engine."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from formservice.enrolment.reconcile import ReconcileReport, reconcile_files
from formservice.files.local import LocalFileStore
from formservice.store import Store
from formservice.store.memory import MemoryEngine

pytestmark = pytest.mark.anyio
NOW = datetime(2025, 10, 22, 9, 30, tzinfo=UTC)
KEPT = "K" * 32 + ".pdf"
KEPT_TOO = "k" * 32 + ".jpg"
REMOVED = "R" * 32 + ".pdf"  # its removal was committed, then the process was killed
GONE = "G" * 32 + ".png"  # recorded, but not on disk any more


def enrolment(n: int, account_id: str, *stored_names: str) -> dict[str, Any]:
    return {
        "id": f"enr-{n}",
        "key": f"{account_id}:session",
        "account_id": account_id,
        "session": "session",
        "status": "saved",
        "version": 1,
        "files": [
            {"id": f"file-{n}-{i}", "stored_name": name, "document_id": "id", "size": 4}
            for i, name in enumerate(stored_names)
        ],
    }


def put(path: Path, age: timedelta = timedelta(days=3)) -> Path:
    """A file last modified ``age`` before NOW."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"data")
    when = (NOW - age).timestamp()
    os.utime(path, (when, when))
    return path


@pytest.fixture
async def store() -> Store:
    store = Store(MemoryEngine())
    await store.engine.insert("enrolments", enrolment(1, "acc-1", KEPT, GONE))
    await store.engine.insert("enrolments", enrolment(2, "acc-2", KEPT_TOO))
    return store


async def test_orphans_and_stale_temp_files_go_referenced_files_stay(store: Store, tmp_path: Path) -> None:
    """An unreferenced stored file is removed (also in the folder of an account without
    enrolment), a referenced one stays; temporary files go once older than stale_after; the
    record whose file is gone is reported, not changed."""
    files, tmp = tmp_path / "uploads", tmp_path / "tmp"
    kept = put(files / "acc-1" / KEPT)
    kept_too = put(files / "acc-2" / KEPT_TOO)
    orphan = put(files / "acc-1" / REMOVED)
    purged = put(files / "acc-9" / ("P" * 32 + ".jpg"))  # an account gone with its enrolment
    copy_killed = put(files / "acc-2" / ".abc.part")
    copy_running = put(files / "acc-2" / ".def.part", age=timedelta(minutes=5))
    body_killed = put(tmp / ".upload-x.part", age=timedelta(hours=2))
    other_killed = put(tmp / "leftover")
    body_running = put(tmp / ".upload-y.part", age=timedelta(minutes=59))

    report = await reconcile_files(store, LocalFileStore(files), tmp, now=NOW)

    assert report.removed_orphans == [str(orphan), str(purged)]
    assert sorted(report.removed_temp) == sorted(map(str, [copy_killed, body_killed, other_killed]))
    assert report.missing == [("enr-1", "file-1-1")]
    assert report.unknown == []
    for path in (kept, kept_too, copy_running, body_running):
        assert path.exists()
    for path in (orphan, purged, copy_killed, body_killed, other_killed):
        assert not path.exists()
    doc = await store.engine.get("enrolments", "enr-1")
    assert doc is not None and [f["stored_name"] for f in doc["files"]] == [KEPT, GONE]  # untouched


class RecordingStore(LocalFileStore):
    def __init__(self, root: Path):
        super().__init__(root)
        self.deleted: list[tuple[str, str]] = []

    def delete(self, owner: str, name: str) -> None:
        self.deleted.append((owner, name))
        super().delete(owner, name)


async def test_orphans_are_removed_through_the_file_store(store: Store, tmp_path: Path) -> None:
    """The removal is the file store's own (name checked, folder fsynced afterwards)."""
    files = RecordingStore(tmp_path / "uploads")
    put(tmp_path / "uploads" / "acc-1" / REMOVED)
    await reconcile_files(store, files, tmp_path / "tmp", now=NOW)
    assert files.deleted == [("acc-1", REMOVED)]


async def test_a_young_orphan_is_left_alone(store: Store, tmp_path: Path) -> None:
    """An unreferenced file of a moment ago may be an upload whose record is being written (by
    another worker, on a shared store): only older ones go."""
    young = put(tmp_path / "uploads" / "acc-1" / REMOVED, age=timedelta(minutes=10))
    report = await reconcile_files(store, LocalFileStore(tmp_path / "uploads"), tmp_path / "tmp", now=NOW)
    assert young.exists() and report.removed_orphans == []


async def test_anything_not_named_by_the_service_is_left_and_reported(store: Store, tmp_path: Path) -> None:
    """A file named by hand, a link, a folder inside an account's, a file at the root: left in
    place, listed; nothing followed through a link."""
    files = tmp_path / "uploads"
    outside = put(tmp_path / "outside" / ("O" * 32 + ".pdf"))
    odd = [
        put(files / "acc-1" / "notes.txt"),
        put(files / "README"),
    ]
    (files / "acc-1" / "sub").mkdir()
    (files / "acc-1" / ("L" * 32 + ".pdf")).symlink_to(outside)
    (files / "acc-link").symlink_to(outside.parent)
    put(files / "acc-1" / KEPT)
    (tmp_path / "tmp" / "folder").mkdir(parents=True)

    report = await reconcile_files(store, LocalFileStore(files), tmp_path / "tmp", now=NOW)

    assert sorted(report.unknown) == sorted(
        map(
            str,
            [
                *odd,
                files / "acc-1" / "sub",
                files / "acc-1" / ("L" * 32 + ".pdf"),
                files / "acc-link",
                tmp_path / "tmp" / "folder",
            ],
        )
    )
    assert report.removed_orphans == []
    assert outside.exists() and all(path.exists() for path in odd)


async def test_a_record_with_a_name_not_of_ours_counts_as_missing(tmp_path: Path) -> None:
    """A stored name that could leave the folder is never looked up on disk."""
    store = Store(MemoryEngine())
    await store.engine.insert("enrolments", enrolment(1, "acc-1", "../../secret.pdf"))
    await store.engine.insert("enrolments", enrolment(2, "..", KEPT))
    put(tmp_path / "secret.pdf")
    report = await reconcile_files(store, LocalFileStore(tmp_path / "uploads"), tmp_path / "tmp", now=NOW)
    assert report.missing == [("enr-1", "file-1-0"), ("enr-2", "file-2-0")]


async def test_nothing_on_disk_yet_is_a_clean_report(tmp_path: Path) -> None:
    """A fresh data directory: neither folder exists, nothing to say."""
    report = await reconcile_files(
        Store(MemoryEngine()), LocalFileStore(tmp_path / "uploads"), tmp_path / "tmp", now=NOW
    )
    assert report == ReconcileReport() and report.clean and report.lines() == []


async def test_the_report_speaks_french_to_the_operator(store: Store, tmp_path: Path) -> None:
    put(tmp_path / "uploads" / "acc-1" / KEPT)
    put(tmp_path / "uploads" / "acc-2" / KEPT_TOO)
    put(tmp_path / "uploads" / "acc-1" / REMOVED)
    put(tmp_path / "uploads" / "acc-1" / "notes.txt")
    put(tmp_path / "tmp" / ".upload-x.part")
    report = await reconcile_files(
        store, LocalFileStore(tmp_path / "uploads"), tmp_path / "tmp", now=NOW, stale_after=timedelta(hours=2)
    )
    assert report.lines() == [
        "justificatifs : 1 fichier(s) qu'aucune inscription ne référence supprimé(s) (suppression "
        "confirmée ou envoi non enregistré avant un arrêt brutal)",
        "justificatifs : 1 fichier(s) temporaire(s) d'envois interrompus depuis plus de 2 heures supprimé(s)",
        "justificatifs : fichier inattendu laissé en place (nom que le service ne donne pas) : "
        f"{tmp_path / 'uploads' / 'acc-1' / 'notes.txt'}",
        "justificatifs : l'inscription enr-1 référence le fichier file-1-1, absent du stockage : "
        "l'enregistrement est laissé tel quel, le candidat doit renvoyer la pièce",
    ]
