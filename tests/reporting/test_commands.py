"""The reporting commands, as cron runs them against a data directory: ``formservice export``
writes its file (0600) while the service is stopped, and refuses in French while it runs."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import zipfile

import anyio
import pytest
from review.dossiers import ACCOUNT_ID, IN_WINDOW, NOTICE, deposited, saved

from formservice.accounts.rules import ACTIVE, new_account
from formservice.cli import main
from formservice.store.tinydb.engine import TinyDBEngine

SAH, INDUSTRY = "bp-coiffure", "bp-electricien"


@pytest.fixture
def data_dir(monkeypatch, tmp_path, notice_path, mailbox):
    """A data directory holding a SAH dossier déposé (with its files) and an industrial brouillon."""
    var = tmp_path / "var"
    monkeypatch.setenv("FORMSERVICE_DATA_DIR", str(var))
    monkeypatch.setenv("FORMSERVICE_NOTICE", str(notice_path))
    monkeypatch.setenv("FORMSERVICE_SMTP", f"127.0.0.1:{mailbox.port}")
    sah = deposited(speciality=SAH, exam="BP") | {"id": "dossier-sah"}
    industry = saved(NOTICE, "dossier-indus", speciality=INDUSTRY, exam="BP")
    industry |= {"account_id": "b" * 32, "key": f"{'b' * 32}:{NOTICE.session.name}"}

    async def fill() -> None:
        engine = TinyDBEngine(var / "store")
        try:
            for account_id, email in ((ACCOUNT_ID, "sah@exemple.fr"), ("b" * 32, "indus@exemple.fr")):
                account = new_account(account_id, email, "x", IN_WINDOW)
                await engine.insert("accounts", account | {"status": ACTIVE})
            await engine.insert("enrolments", sah)
            await engine.insert("enrolments", industry)
        finally:
            await engine.close()

    anyio.run(fill)
    for meta in sah["files"]:  # after the records: a store without records refuses files beside it
        folder = var / "uploads" / ACCOUNT_ID
        folder.mkdir(parents=True, exist_ok=True)
        (folder / meta["stored_name"]).write_bytes(b"%PDF-1.4 " + meta["id"].encode())
    return var


def test_export_writes_a_private_csv_of_one_pole(data_dir, tmp_path, capsys):
    """``export --format csv --pole sah`` writes the SAH dossier only, readable by its owner only,
    and the audit log says the command line made it."""
    output = tmp_path / "sah.csv"
    assert main(["export", "--format", "csv", "--pole", "sah", "--output", str(output)]) == 0
    assert "1 dossier exporté" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [r["N° d'inscription"] for r in rows] == ["dossier-sah"]
    assert rows[0]["Adresse électronique"] == "sah@exemple.fr"
    events = [json.loads(line) for line in (data_dir / "audit.log").read_text().splitlines()]
    (made,) = [e for e in events if e["event"] == "export.made"]
    assert made["actor"] == "ligne de commande" and made["rows"] == 1 and made["complete"]


def test_export_of_pieces_and_by_state(data_dir, tmp_path, capsys):
    """``--format zip`` holds the files of every pôle; ``--state brouillon`` only the brouillon."""
    output = tmp_path / "pieces.zip"
    assert main(["export", "--format", "zip", "--output", str(output)]) == 0
    names = zipfile.ZipFile(output).namelist()
    assert "manifeste.csv" in names and any(n.startswith("dossier-sah_DURAND_Camille/") for n in names)
    drafts = tmp_path / "brouillons.xlsx"
    assert main(["export", "--format", "xlsx", "--state", "brouillon", "--output", str(drafts)]) == 0
    assert "1 dossier exporté" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.part"))


def test_export_refuses_unknown_values_and_a_running_service(data_dir, tmp_path, capsys):
    """An unknown pôle or state is named in French, and nothing is written; while the service
    holds the store, the command says how to get the export instead."""
    output = tmp_path / "x.csv"
    assert main(["export", "--format", "csv", "--pole", "nulle-part", "--output", str(output)]) == 1
    assert "Pôle inconnu" in capsys.readouterr().err
    assert main(["export", "--format", "csv", "--state", "perdu", "--output", str(output)]) == 1
    assert "État inconnu" in capsys.readouterr().err
    assert not output.exists()

    async def hold() -> int:
        engine = TinyDBEngine(data_dir / "store")
        try:
            return main(["export", "--format", "csv", "--output", str(output)])
        finally:
            await engine.close()

    assert anyio.run(hold) == 1
    err = capsys.readouterr().err
    assert "Le service est en marche" in err and "« Exports »" in err
    assert not output.exists()


def test_reminders_command_lists_and_refuses_while_the_service_runs(data_dir, capsys):
    """``reminders --dry-run`` reports its count (the repository's window is over: none due);
    while the service holds the store, it says the service sends them itself."""
    assert main(["reminders", "--dry-run"]) == 0
    assert "0 relance à envoyer." in capsys.readouterr().out

    async def hold() -> int:
        engine = TinyDBEngine(data_dir / "store")
        try:
            return main(["reminders"])
        finally:
            await engine.close()

    assert anyio.run(hold) == 1
    assert "il envoie lui-même les relances" in capsys.readouterr().err


def test_retention_command_dry_run_keeps_everything(data_dir, capsys):
    """``retention --dry-run`` lists (here: nothing due) and deletes nothing."""
    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0 compte(s) à supprimer" in out and "0 compte(s) inutilisé(s) à avertir" in out
    assert len(list((data_dir / "uploads" / ACCOUNT_ID).iterdir())) == 3
