"""`formservice store check` and `formservice store compact`: exit codes and French reports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from formservice.cli import main
from formservice.store.tinydb import maintenance, recovery
from formservice.store.tinydb.engine import TinyDBEngine
from formservice.store.tinydb.journal import CorruptStore, journal_generations, journal_path
from formservice.store.tinydb.maintenance import check, compact
from formservice.store.tinydb.snapshot import SNAPSHOT_NAME

from .helpers import account

pytestmark = pytest.mark.anyio


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose store holds three accounts, closed."""

    async def fill() -> None:
        engine = TinyDBEngine(tmp_path / "store")
        for n in range(3):
            await engine.insert("accounts", account(n))
        await engine.close()

    asyncio.run(fill())
    return tmp_path


def append_to_journal(data_dir: Path, text: str) -> Path:
    store = data_dir / "store"
    path = journal_path(store, journal_generations(store)[-1])
    with open(path, "a") as f:
        f.write(text)
    return path


def test_check_of_a_healthy_store_reports_counts(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check exits 0 and prints the count of each table and the schema versions."""
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "accounts : 3 documents" in out
    assert "v1 : 3" in out
    assert "Aucun problème." in out


def test_check_without_a_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check on a directory without a store exits 2 with an explanation."""
    assert check(tmp_path / "store") == 2
    assert "rien à vérifier" in capsys.readouterr().err


async def test_check_reads_while_the_service_runs(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check does not need the lock: it reads a running store and says it is running."""
    engine = TinyDBEngine(data_dir / "store")
    try:
        await engine.insert("accounts", account(9))
        assert check(data_dir / "store") == 0
    finally:
        await engine.close()
    out = capsys.readouterr().out
    assert "Le service tourne" in out
    assert "accounts : 4 documents" in out


def test_check_notes_a_torn_tail_without_repairing_it(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A torn last line is a note, not a problem, and check leaves the file as it is."""
    path = append_to_journal(data_dir, '["p","accounts",{"id":')
    size = path.stat().st_size
    assert check(data_dir / "store") == 0
    assert "jamais confirmés" in capsys.readouterr().out
    assert path.stat().st_size == size


def test_check_finds_a_duplicate_written_by_hand(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two accounts with one e-mail (a hand edit) make check exit 1; the engine refuses them too."""
    append_to_journal(data_dir, '["p","accounts",{"id":"intrus","email":"candidat1@exemple.fr"}]\n["c",1]\n')
    assert check(data_dir / "store") == 1
    err = capsys.readouterr().err
    assert "déjà pris" in err
    assert "refusera de démarrer" in err
    with pytest.raises(CorruptStore):
        TinyDBEngine(data_dir / "store")


def test_check_names_a_damaged_journal(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Damage before the last commit makes check exit 1 and name the file and line."""
    path = append_to_journal(data_dir, "")
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = "garbage\n"
    path.write_text("".join(lines))
    assert check(data_dir / "store") == 1
    err = capsys.readouterr().err
    assert "Store illisible" in err
    assert "ligne 1" in err


def test_compact_folds_the_journal_into_a_snapshot(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compact exits 0, leaves a snapshot and one empty journal, and check still counts 3."""
    assert main(["store", "compact", "--data-dir", str(data_dir)]) == 0
    assert "Compactage terminé : 3 documents" in capsys.readouterr().out
    store = data_dir / "store"
    assert (store / SNAPSHOT_NAME).exists()
    [gen] = journal_generations(store)
    assert journal_path(store, gen).stat().st_size == 0
    assert check(data_dir / "store") == 0


async def test_compact_refuses_while_the_service_runs(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compact on a locked store exits 1 with the lock's French message."""
    engine = TinyDBEngine(data_dir / "store")
    try:
        assert compact(data_dir / "store") == 1
    finally:
        await engine.close()
    err = capsys.readouterr().err
    assert "déjà utilisé" in err
    assert "compacte lui-même" in err


def test_check_of_a_healthy_store_prints_its_report_in_order(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Header, sizes, one line per table, schema versions, then the verdict: nothing on stderr."""
    assert check(data_dir / "store") == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"Store {data_dir / 'store'}"
    assert lines[1].startswith("  instantané : 0.0 Mo ; journaux [")
    assert "  accounts : 3 documents" in lines
    assert lines[-2:] == ["  schémas : v1 : 3", "Aucun problème."]
    assert err == ""


def test_check_counts_older_documents_as_to_migrate(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A document without a schema stamp (version 0) is migrated at the next start: a line, no problem."""
    append_to_journal(data_dir, '["p","accounts",{"id":"ancien","email":"ancien@exemple.fr"}]\n["c",1]\n')
    assert check(data_dir / "store") == 0
    out = capsys.readouterr().out
    assert "  schémas : v0 : 1, v1 : 3" in out
    assert "  1 document(s) à migrer vers le schéma 1 au prochain démarrage" in out


def test_check_refuses_documents_from_a_newer_release(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A document stamped with a future schema is a problem: exit 1, the service would refuse it."""
    append_to_journal(
        data_dir, '["p","accounts",{"id":"futur","email":"futur@exemple.fr","_schema":99}]\n["c",1]\n'
    )
    assert check(data_dir / "store") == 1
    assert capsys.readouterr().err.splitlines() == [
        "  problème : 1 document(s) écrits par une version plus récente (schéma > 1)",
        "1 problème : le service refusera de démarrer sur ce dossier.",
    ]


def test_check_of_a_running_store_retries_a_read_broken_by_compaction(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While the service runs, a load failing because files moved is tried again before it counts."""
    real_load = recovery.load
    failures = iter([OSError("journal.000001.jsonl disparu")])

    def load(directory: Path, *, repair: bool) -> recovery.Loaded:
        for exc in failures:
            raise exc
        return real_load(directory, repair=repair)

    monkeypatch.setattr(maintenance, "is_locked", lambda directory: True)
    monkeypatch.setattr(maintenance, "holder_pid", lambda directory: 4242)
    monkeypatch.setattr(recovery, "load", load)
    assert check(data_dir / "store") == 0
    out, err = capsys.readouterr()
    assert out.startswith(
        "Le service tourne (processus 4242) : vérification en lecture seule "
        "d'un état qui continue d'évoluer.\n"
    )
    assert err == ""


def test_check_of_a_stopped_store_does_not_retry(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a running service nothing moves: the first failure is the verdict, with its advice."""
    calls = []

    def load(directory: Path, *, repair: bool) -> recovery.Loaded:
        calls.append(directory)
        raise OSError("disque illisible")

    monkeypatch.setattr(recovery, "load", load)
    assert check(data_dir / "store") == 1
    assert len(calls) == 1
    assert capsys.readouterr().err.splitlines() == [
        "Store illisible : disque illisible",
        "Restaurez la dernière sauvegarde de ce dossier, ou faites examiner les fichiers.",
    ]


def test_check_keeps_quiet_about_a_tail_while_the_service_runs(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While running, bytes after the last commit are a write in progress, not a crash's note."""
    append_to_journal(data_dir, '["p","accounts",{"id":')
    monkeypatch.setattr(maintenance, "is_locked", lambda directory: True)
    assert check(data_dir / "store") == 0
    assert "note :" not in capsys.readouterr().out


async def test_mail_status_lists_pending_and_failed_mails(tmp_path, capsys):
    """`formservice mail status` reads the outbox from the files (the service may be running)
    and names each mail not delivered, with its last error; exit 1 when one was given up."""
    from formservice.cli import main

    data_dir = tmp_path / "var"
    engine = TinyDBEngine(data_dir / "store")
    base = {"to": "x@exemple.fr", "reply_to": None, "text": "t", "html": None, "message_id": "<m@x>"}
    await engine.insert(
        "outbox",
        base
        | {
            "id": "m1",
            "state": "pending",
            "subject": "Activez",
            "created_at": "2025-10-22T08:00:00+00:00",
            "attempts": 2,
            "next_attempt_at": "2025-10-22T08:05:00+00:00",
            "last_error": "ConnectionRefusedError",
        },
    )
    await engine.insert(
        "outbox",
        base
        | {
            "id": "m2",
            "state": "failed",
            "subject": "Reçu",
            "created_at": "2025-10-22T07:00:00+00:00",
            "attempts": 1,
            "next_attempt_at": "2025-10-22T07:00:00+00:00",
            "last_error": "550 inconnu",
        },
    )
    assert main(["mail", "status", "--data-dir", str(data_dir)]) == 1  # read while the engine runs
    out = capsys.readouterr().out
    assert out.startswith("1 courriel en attente d'envoi, 1 en échec définitif.")
    assert "« Activez » à x@exemple.fr" in out and "550 inconnu" in out
    await engine.close()


async def test_store_check_reports_a_record_whose_file_is_missing(tmp_path, capsys):
    """`store check` compares the candidates' files with the records: a record whose file is
    gone is a problem (exit 1); a file without a record is announced for the next start."""
    from formservice.cli import main

    data_dir = tmp_path / "var"
    engine = TinyDBEngine(data_dir / "store")
    files = [
        {
            "id": "f1",
            "document_id": "piece",
            "stored_name": "a" * 32 + ".pdf",
            "display_name": "x.pdf",
            "size": 1,
            "sha256": "0",
            "media_type": "application/pdf",
            "uploaded_at": "2025-10-22T08:00:00+00:00",
        }
    ]
    await engine.insert(
        "enrolments",
        {
            "id": "e1",
            "key": "acc:session",
            "account_id": "acc",
            "session": "s",
            "status": "saved",
            "version": 1,
            "data": {},
            "files": files,
        },
    )
    await engine.close()
    (data_dir / "uploads" / "acc").mkdir(parents=True)
    (data_dir / "uploads" / "acc" / ("b" * 32 + ".pdf")).write_bytes(b"%PDF")
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert "Justificatifs, problème : l'inscription e1 référence le fichier f1, absent du stockage" in out
    assert "1 fichier sans inscription" in out
    (data_dir / "uploads" / "acc" / ("a" * 32 + ".pdf")).write_bytes(b"%PDF")
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 0
