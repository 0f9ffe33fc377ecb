"""``formservice store copy``: a campaign moved from TinyDB to PostgreSQL and back, every table
with its counts checked, the candidates' files checked against their SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from formservice.cli import main
from formservice.store.contract import TABLES, Engine
from formservice.store.postgres.engine import PostgresEngine
from formservice.store.tinydb.engine import TinyDBEngine

from .helpers import account, enrolment


def campaign(data_dir: Path) -> dict[str, list[dict]]:
    """A small campaign in ``data_dir``'s TinyDB store: accounts, sessions, enrolments (one with
    a file on disk), a mail; returns what was written, per table."""
    content = b"%PDF-1.4 une piece"
    meta = {"id": "file-1", "stored_name": "f1.pdf", "sha256": hashlib.sha256(content).hexdigest()}
    docs = {
        "accounts": [account(n) for n in range(1, 4)],
        "sessions": [{"id": "s1", "account_id": "acc-1"}],
        "enrolments": [enrolment(1, files=[meta], words=["durand"], sort_key="durand"), enrolment(2)],
        "outbox": [
            {
                "id": "m1",
                "state": "pending",
                "to": "x@exemple.fr",
                "subject": "Votre inscription est enregistrée",
                "created_at": "2025-10-22T08:00:00Z",
                "attempts": 1,
                "last_error": None,
            }
        ],
    }

    async def write() -> None:
        engine = TinyDBEngine(data_dir / "store")
        for table, rows in docs.items():
            for doc in rows:
                await engine.insert(table, doc)
        await engine.close()

    asyncio.run(write())
    (data_dir / "uploads" / "acc-1").mkdir(parents=True)
    (data_dir / "uploads" / "acc-1" / "f1.pdf").write_bytes(content)
    return docs


def contents(engine: Engine) -> dict[str, list[dict]]:
    async def read() -> dict[str, list[dict]]:
        try:
            return {t: sorted(await engine.scan(t), key=lambda d: d["id"]) for t in TABLES}
        finally:
            await engine.close()

    return asyncio.run(read())


def test_a_campaign_goes_to_postgresql_and_back_unchanged(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "var"
    campaign(data_dir)
    before = contents(TinyDBEngine(data_dir / "store"))
    args = ["store", "copy", "--data-dir", str(data_dir)]
    assert main([*args, "--from", f"tinydb:{data_dir / 'store'}", "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "accounts : 3 documents copiés" in out and "1 fichier vérifié" in out
    assert "Copie terminée et vérifiée" in out
    assert contents(PostgresEngine(pg_url)) == before
    back = tmp_path / "back" / "store"
    assert main([*args, "--from", pg_url, "--to", f"tinydb:{back}"]) == 0
    assert contents(TinyDBEngine(back)) == before


def test_a_destination_not_empty_is_refused_and_a_damaged_file_reported(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "var"
    campaign(data_dir)
    (data_dir / "uploads" / "acc-1" / "f1.pdf").write_bytes(b"autre chose")
    args = [
        "store",
        "copy",
        "--data-dir",
        str(data_dir),
        "--from",
        f"tinydb:{data_dir / 'store'}",
        "--to",
        pg_url,
    ]
    assert main(args) == 1
    assert "empreinte SHA-256 différente" in capsys.readouterr().err
    assert main(args) == 1
    assert "la destination n'est pas vide (accounts : 3" in capsys.readouterr().err


def test_store_check_and_mail_status_read_the_postgresql_store(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With FORMSERVICE_STORE naming the database, the operator's commands read it (the service
    may be running: the database serves both)."""
    data_dir = tmp_path / "var"
    campaign(data_dir)
    assert (
        main(
            [
                "store",
                "copy",
                "--data-dir",
                str(data_dir),
                "--from",
                f"tinydb:{data_dir / 'store'}",
                "--to",
                pg_url,
            ]
        )
        == 0
    )
    capsys.readouterr()
    monkeypatch.setenv("FORMSERVICE_STORE", pg_url)
    assert main(["store", "check", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "Stockage PostgreSQL" in out and "enrolments : 2 document(s)" in out and "Aucun problème." in out
    assert main(["mail", "status"]) == 0
    assert "1 courriel en attente d'envoi" in capsys.readouterr().out
