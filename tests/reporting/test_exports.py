"""Exports through /gestion/exports, parsed back as a spreadsheet or an archiver would read them:
the CSV with « ; » (accents, leading zeros, formulas neutralised), the XLSX with openpyxl
(typed dates, frozen header), the ZIP with its manifest's hashes checked against the stored
files; a gestionnaire gets their pôle only, an administrateur everything; every export is audited."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime

import openpyxl
import pytest
from account_helpers import make_client
from review.dossiers import NOTICE, deposited
from s3_helpers import FILE_STORES, SeaweedFS, stored_bytes, stored_keys
from staff_helpers import dossier, enrol_staff, staff_login

from formservice.enrolment.rules import number_of
from formservice.files.contract import WHOLE
from formservice.reporting.archive import ExportCut
from reporting.world import World

pytestmark = pytest.mark.anyio
SAH, INDUSTRY = "bp-coiffure", "bp-electricien"  # the SAH pôle's and the industrial pôle's


@contextlib.asynccontextmanager
async def office(app, settings, mailbox, clock, role: str, poles: list[str]):
    """A client logged in as a member of the office (``role``, ``poles``)."""
    async with make_client(app, settings) as client:
        email = f"{role}.{'-'.join(poles) or 'tous'}@ac-poitiers.fr"
        secret = await enrol_staff(app, client, mailbox, clock, email, role, poles)
        await staff_login(client, clock, email, secret)
        yield client


async def download(client, **form: str):
    page = await client.page("/gestion/exports")
    assert page.status_code == 200
    return await client.post("/gestion/exports", data={"csrf_token": client.csrf(), **form})


def parsed_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would read the accents wrong"
    text = body.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def cell_text(cell: str) -> str:
    """The text of a CSV cell before its neutralisation: a registration number (random) may start
    with « - », which the CSV prefixes with « ' » so that no spreadsheet computes it."""
    return cell.removeprefix("'")


def audit_events(settings, name: str) -> list[dict]:
    lines = settings.audit_path.read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == name]


@pytest.fixture
async def two_poles(app, settings):
    """A SAH dossier with hostile and fragile values, deposited with its pieces; an industrial one."""
    async with make_client(app, settings) as other:
        sah = await dossier(
            app,
            other,
            "sah@exemple.fr",
            SAH,
            deposit=True,
            last_name="Lefèvre",
            first_names="Zoé",
            birth_place="=1+1",
            address="@SOMME(A1)",
            city="-2+3",
            postal_code="01000",
        )
        industry = await dossier(app, other, "indus@exemple.fr", INDUSTRY)
    return sah, industry


async def number(app, dossier_id: str) -> str:
    """The registration number the exports show for a dossier."""
    return number_of(await app.state.services.review.get(dossier_id))


async def test_a_gestionnaire_csv_holds_their_pole_readable_and_harmless(
    app, settings, mailbox, clock, two_poles
):
    """The SAH gestionnaire's CSV: their dossier only, accents and the leading zero intact, every
    cell that a spreadsheet would run as a formula prefixed, dates in Paris time."""
    sah, industry = two_poles
    async with office(app, settings, mailbox, clock, "gestionnaire", ["sah"]) as client:
        response = await download(client, format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = parsed_csv(response.content)
    assert [cell_text(r["N° d'inscription"]) for r in rows] == [await number(app, sah)]
    (row,) = rows
    assert row["Nom de naissance"] == "Lefèvre" and row["Prénoms"] == "Zoé"
    assert row["Code postal"] == '="01000"'
    assert row["Lieu de naissance"] == "'=1+1" and row["Adresse"] == "'@SOMME(A1)"
    assert row["Commune"] == "'-2+3"
    assert row["Adresse électronique"] == "sah@exemple.fr"
    assert row["État"] == "Déposé" and row["Pôle"] == "Pôle services, alimentation, hôtellerie"
    doc = await app.state.services.review.get(sah)
    deposited = datetime.fromisoformat(doc["completed_at"]).astimezone(app.state.services.notice().tz)
    assert row["Dépôt des pièces"] == deposited.strftime("%d/%m/%Y %H:%M")
    assert row["Pièce : Copie recto verso d'une pièce d'identité en cours de validité"] == "à vérifier"
    (event,) = audit_events(settings, "export.made")
    assert event["format"] == "csv" and event["rows"] == 1 and event["complete"] is True
    assert event["scope"]["poles"] == ["sah"] and "Lefèvre" not in json.dumps(event)
    assert industry not in response.text


async def test_an_administrateur_xlsx_holds_every_pole_typed(app, settings, mailbox, clock, two_poles):
    """The administrateur's XLSX: both pôles' dossiers, the header frozen, dates as dates,
    hostile texts stored as texts (never formulas)."""
    sah, industry = two_poles
    async with office(app, settings, mailbox, clock, "administrateur", []) as client:
        response = await download(client, format="xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)]
    sah_number, industry_number = await number(app, sah), await number(app, industry)
    assert sorted(r["N° d'inscription"] for r in rows) == sorted([sah_number, industry_number])
    zoe = next(r for r in rows if r["N° d'inscription"] == sah_number)
    assert zoe["Lieu de naissance"] == "=1+1" and zoe["Code postal"] == "01000"
    assert isinstance(zoe["Dépôt des pièces"], datetime) and isinstance(zoe["Date de naissance"], datetime)
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    assert not list(settings.tmp_dir.glob("export-*")), "the export's temporary files are left behind"
    (event,) = audit_events(settings, "export.made")
    assert event["rows"] == 2 and event["format"] == "xlsx"


@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)
async def test_the_zip_holds_each_piece_and_a_manifest_of_their_hashes(
    app, settings, mailbox, clock, two_poles
):
    """One folder per dossier (number and name), each file named after its piece, and a manifest
    whose SHA-256 match the files in the archive and the stored ones (on the disk, or in the
    bucket)."""
    sah, _industry = two_poles
    async with office(app, settings, mailbox, clock, "gestionnaire", ["sah"]) as client:
        response = await download(client, format="zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    manifest = parsed_csv(archive.read("manifeste.csv"))
    doc = await app.state.services.review.get(sah)
    assert len(manifest) == len(doc["files"]) > 0
    for line in manifest:
        assert cell_text(line["Fichier"]).startswith(f"{sah}_LEFEVRE_Zoe/")
        content = archive.read(cell_text(line["Fichier"]))
        assert hashlib.sha256(content).hexdigest() == line["SHA-256"]
        meta = next(f for f in doc["files"] if f["sha256"] == line["SHA-256"])
        assert stored_bytes(settings, doc["account_id"], meta["stored_name"]) == content
        assert line["Taille (octets)"] == str(len(content)) and line["Remarque"] == ""
    assert f"{sah}_LEFEVRE_Zoe/piece-identite-1.pdf" in archive.namelist()
    (event,) = audit_events(settings, "export.made")
    assert event["format"] == "zip" and event["files"] == len(doc["files"])


@pytest.mark.parametrize("settings", FILE_STORES, indirect=True)
async def test_a_file_gone_from_the_store_is_said_so_in_the_manifest(
    app, settings, mailbox, clock, two_poles
):
    """A piece whose file is no longer in the store: left out of the archive, its manifest line
    says so, the others are there whole; the audit counts it missing."""
    sah, _industry = two_poles
    doc = await app.state.services.review.get(sah)
    gone, *kept = doc["files"]
    app.state.services.files.delete(doc["account_id"], gone["stored_name"])
    assert len(stored_keys(settings)) == len(kept) > 0
    async with office(app, settings, mailbox, clock, "gestionnaire", ["sah"]) as client:
        response = await download(client, format="zip")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    first, *others = parsed_csv(archive.read("manifeste.csv"))  # in the dossier's order
    assert first["Remarque"] == "absent du stockage : non inclus" and first["SHA-256"] == gone["sha256"]
    assert cell_text(first["Fichier"]) not in archive.namelist()
    assert len(archive.namelist()) == len(kept) + 1  # and the manifest
    assert len(others) == len(kept)
    for line, meta in zip(others, kept, strict=True):
        assert line["Remarque"] == ""
        assert archive.read(cell_text(line["Fichier"])) == stored_bytes(
            settings, doc["account_id"], meta["stored_name"]
        )
    (event,) = audit_events(settings, "export.made")
    assert (event["files"], event["files_missing"], event["complete"]) == (len(kept), 1, True)


async def test_filters_apply_and_another_pole_does_not_exist(app, settings, mailbox, clock, two_poles):
    """The list's filters narrow the export; a gestionnaire asking for another pôle gets 404, an
    unknown state a French message on the form, and nothing is exported either way."""
    sah, _industry = two_poles
    async with office(app, settings, mailbox, clock, "gestionnaire", ["sah"]) as client:
        assert parsed_csv((await download(client, format="csv", etat="brouillon")).content) == []
        rows = parsed_csv((await download(client, format="csv", etat="depose", specialite=SAH)).content)
        assert [cell_text(r["N° d'inscription"]) for r in rows] == [await number(app, sah)]
        assert (await download(client, format="csv", pole="industriel-tertiaire")).status_code == 404
        refused = await download(client, format="csv", etat="perdu")
        assert refused.status_code == 400 and "État inconnu" in refused.text
        assert "Lefèvre" not in refused.text
    assert [e["rows"] for e in audit_events(settings, "export.made")] == [0, 1]


async def test_exports_need_a_staff_session(app, client, candidate):
    """No export for a visitor or a candidate: the login page of the office."""
    page = await client.get("/gestion/exports")
    assert page.status_code in (303, 302) and "/gestion/connexion" in page.headers["location"]


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["s3"], indirect=True)
async def test_a_zip_while_the_store_is_frozen_is_a_french_503(
    app, settings, mailbox, clock, two_poles, seaweedfs: SeaweedFS
):
    """SeaweedFS stopped (SIGSTOP) before the export: the office reads, on a page of the
    service, that the pieces are momentarily out of reach; no archive is sent; the audit says
    the export did not complete."""
    async with office(app, settings, mailbox, clock, "gestionnaire", ["sah"]) as client:
        seaweedfs.freeze()
        try:
            response = await download(client, format="zip")
        finally:
            seaweedfs.thaw()
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert "momentanément inaccessibles" in response.text and response.headers["retry-after"] == "60"
    (event,) = audit_events(settings, "export.made")
    assert event["complete"] is False


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["s3"], indirect=True)
async def test_a_zip_cut_by_the_store_ends_in_an_error_never_a_short_archive(
    settings, clock, seaweedfs: SeaweedFS, caplog
):
    """The store stops answering once the archive has begun: the rest of it is never made to
    look complete (ExportCut is raised: the server drops the connection), the log says the
    download was cut, and the audit records an incomplete export."""
    world = World(settings, clock)
    svc = await world.open()
    try:
        account_id = await world.candidate("gros")
        await world.enrolment(account_id, deposited(), NOTICE.session.name, size=WHOLE + 1)
        await svc.review.refresh_listing()
        export = svc.exports.export("zip", svc.exports.selection([p.id for p in NOTICE.poles]), staff_id=None)
        export = await export.ready()  # the first chunk is made: the answer has started
        received = 0
        seaweedfs.freeze()
        try:
            with pytest.raises(ExportCut):
                async for chunk in export.chunks:
                    received += len(chunk)
        finally:
            seaweedfs.thaw()
    finally:
        await world.close()
    assert received < len(deposited()["files"]) * WHOLE
    assert any("interrompu" in r.getMessage() and "incomplet" in r.getMessage() for r in caplog.records)
    (event,) = audit_events(settings, "export.made")
    assert event["complete"] is False
