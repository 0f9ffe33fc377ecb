"""« Mes documents »: each document named for what it is at that moment, the récapitulatif on one
tagged (PDF/UA) page, the candidate's name elided as French wants it."""

from __future__ import annotations

import html
import io
import shutil
import subprocess
from pathlib import Path

import pypdf
import pytest
from account_helpers import Candidate, Client
from enrolment_forms import birth_date_for_age
from starlette.applications import Starlette

from formservice.enrolment.rules import required_documents
from formservice.notice import Notice
from web.candidate.test_enrolment import logged_in, save

pytestmark = pytest.mark.anyio

# Every optional field filled and every condition met: the longest récapitulatif a candidate makes.
FULLEST = {
    "status": "distance",
    "organisation": "Centre national d'enseignement à distance (CNED), site de Poitiers-Futuroscope",
    "last_name": "Martin-Delacroix",
    "usage_name": "Bernard",
    "first_names": "Anaïs Marie Josèphe",
    "birth_place": "Châtellerault (Vienne)",
    "address": "14 boulevard de la République, résidence des Tilleuls",
    "address_extra": "Bâtiment C, escalier 2, appartement 31",
    "accommodation": "oui",
    "accommodation_reason": (
        "Tiers temps et salle à part : dyslexie reconnue (avis du médecin de la CDAPH joint). "
        "Besoin d'un sujet en police agrandie et d'un ordinateur sans correcteur orthographique. " * 2
    ),
}


def pdfinfo(pdf: bytes, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils is not installed")
async def test_the_fullest_summary_is_one_tagged_page(
    client: Client, candidate: Candidate, notice: Notice, tmp_path: Path
) -> None:
    """Every field filled, every piece asked: the récapitulatif still fits one page, deadline
    notice included, and pdfinfo says it is tagged; the name is elided (« d'Anaïs »)."""
    await logged_in(client, candidate)
    data = FULLEST | {"birth_date": birth_date_for_age(notice, 20)}
    assert (await save(client, notice, **data)).status_code == 303
    assert len(required_documents(notice, {**data, "exam": notice.exams[-1].id})) == len(
        notice.documents_for_exam(notice.exams[-1].id)
    )
    response = await client.get("/espace/documents/recapitulatif/pdf")
    assert response.status_code == 200
    info = pdfinfo(response.content, tmp_path)
    assert info["Tagged"] == "yes" and info["Pages"] == "1", info
    text = " ".join(
        " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages).split()
    )
    assert "Récapitulatif de pré-inscription" in text and "avant le" in text
    confirmation = html.unescape((await client.get("/espace/documents/confirmation")).text)
    assert "la pré-inscription d'Anaïs Marie Josèphe Martin-Delacroix" in confirmation
    assert "né ou née le" in confirmation


async def test_each_document_is_named_for_what_it_is_now(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Before the dossier is complet: the documents of the pre-registration, no receipt before
    « J'ai fourni toutes mes pièces », no attestation before the office says complet."""
    await logged_in(client, candidate)
    await save(client, notice)
    page = await client.page("/espace/documents")
    for download in notice.downloads:
        assert download.name in page.text
    assert "pré-inscription" in notice.downloads[0].name
    assert "Attestation d'inscription définitive" not in page.text
    for kind in ("accuse", "attestation"):
        assert (await client.get(f"/espace/documents/{kind}")).status_code == 404


async def test_an_address_change_reaches_the_documents(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """« Signaler un changement d'adresse »: the récapitulatif and the confirmation show the new
    address, not the one typed in « M'inscrire »."""
    await logged_in(client, candidate)
    await save(client, notice)
    new = {"address": "3 place du Marché", "postal_code": "79000", "city": "Niort", "country": "France"}
    response = await client.submit("/espace/changement-adresse", new)
    assert response.status_code == 303, response.text
    for kind in ("recapitulatif", "confirmation"):
        page = html.unescape((await client.get(f"/espace/documents/{kind}")).text)
        assert "3 place du Marché" in page and "79000" in page and "12 avenue de la Gare" not in page
