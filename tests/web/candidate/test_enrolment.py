"""The candidate's space over HTTP: « M'inscrire », « Mes documents », « Mes justificatifs »."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from account_helpers import Candidate, Client, Mailbox, log_in, make_client, settle
from enrolment_forms import valid_enrolment_form
from notice_factory import edited_notice_text
from PIL import Image
from starlette.applications import Starlette

from formservice.clock import FrozenClock
from formservice.enrolment.rules import required_documents
from formservice.notice import Notice
from formservice.settings import Settings

pytestmark = pytest.mark.anyio


def enrol_form(notice: Notice, **changes: str) -> dict[str, str]:
    """The shared valid form (tests/enrolment_forms.py) with these changes."""
    return valid_enrolment_form(notice, **changes)


def pdf_bytes() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (0, 0, 145)).save(out, "PNG")
    return out.getvalue()


async def save(client: Client, notice: Notice, **changes: str) -> httpx.Response:
    page = await client.page("/espace/inscription")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version, page.text
    data = enrol_form(notice, **changes) | {"version": version.group(1), "csrf_token": client.csrf()}
    return await client.post("/espace/inscription", data=data)


async def upload(client: Client, document_id: str, name: str, content: bytes) -> httpx.Response:
    page = await client.page("/espace/justificatifs")
    token = client.csrf(page.text)
    return await client.post(
        f"/espace/justificatifs/{document_id}/ajouter",
        data={"csrf_token": token},
        files={"file": (name, content, "application/octet-stream")},
    )


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def stored_files(settings: Settings) -> list[Path]:
    root = uploads_dir(settings)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def logged_in(client: Client, candidate: Candidate) -> None:
    response = await log_in(client, candidate.email)
    assert response.status_code == 303, response.text


async def test_space_requires_login(client: Client) -> None:
    """An anonymous visitor of « M'inscrire » is sent to the login page, and back after."""
    response = await client.get("/espace/inscription")
    assert response.status_code in (302, 303)
    assert "/compte/connexion" in response.headers["location"]


async def test_save_then_change_mails_what_changed(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, mailbox: Mailbox
) -> None:
    """« Enregistrer » saves version 1 and mails a confirmation; a change mails the changed fields."""
    await logged_in(client, candidate)
    response = await save(client, notice)
    assert response.status_code == 303
    page = await client.page(response.headers["location"])
    assert "Votre inscription est enregistrée" in page.text and "version 1" in page.text
    await settle(app)
    assert "enregistrée" in str(mailbox.to(candidate.email)[-1]["Subject"])

    response = await save(client, notice, city="Rochefort", postal_code="17300")
    assert response.status_code == 303
    await settle(app)
    text = mailbox.text(mailbox.to(candidate.email)[-1])
    assert "Commune\u00a0: La Rochelle -> Rochefort" in text and "Code postal\u00a0: 17000 -> 17300" in text
    assert "version 2" in (await client.page("/espace/inscription")).text


async def test_faulty_form_keeps_input_and_says_what_is_wrong(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """A wrong postal code is flagged next to its field; everything typed comes back."""
    await logged_in(client, candidate)
    response = await save(client, notice, postal_code="17", last_name="Lefèvre")
    assert response.status_code == 400
    assert "Le code postal français compte 5 chiffres." in response.text
    assert 'value="Lefèvre"' in response.text


async def test_second_tab_is_told_the_record_changed(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Two tabs: the second save, on a stale version, overwrites nothing and keeps what was typed."""
    await logged_in(client, candidate)
    await save(client, notice)
    page = await client.page("/espace/inscription")
    token = client.csrf()
    first = enrol_form(notice, city="Saintes", postal_code="17100") | {"version": "1", "csrf_token": token}
    second = enrol_form(notice, city="Cognac", postal_code="16100") | {"version": "1", "csrf_token": token}
    assert (await client.post("/espace/inscription", data=first)).status_code == 303
    response = await client.post("/espace/inscription", data=second)
    assert response.status_code == 409
    assert "modifiée entre-temps" in response.text and "Commune" in response.text
    assert 'value="Cognac"' in response.text and 'name="version" value="2"' in response.text
    stored = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert stored["data"]["city"] == "Saintes" and stored["version"] == 2 and page.status_code == 200
    again = second | {"version": "2"}
    assert (await client.post("/espace/inscription", data=again)).status_code == 303


async def test_every_write_refused_from_the_closing_second(
    client: Client, candidate: Candidate, notice: Notice, clock: FrozenClock
) -> None:
    """A form opened at 18:59:59 and sent at 19:00:00 is refused; the space stays readable."""
    clock.set(notice.closes_at - timedelta(minutes=5))
    await logged_in(client, candidate)
    await save(client, notice)
    clock.set(notice.closes_at - timedelta(seconds=1))
    page = await client.page("/espace/inscription")
    data = enrol_form(notice, city="Royan", postal_code="17200") | {
        "version": "1",
        "csrf_token": client.csrf(),
    }
    clock.set(notice.closes_at)
    response = await client.post("/espace/inscription", data=data)
    assert response.status_code == 409
    assert "Les inscriptions sont closes depuis le" in response.text
    assert page.status_code == 200
    readable = await client.page("/espace/documents")
    assert readable.status_code == 200 and "Visualiser / imprimer" in readable.text


async def test_closing_date_edited_in_notice_takes_effect_without_restart(
    client: Client, candidate: Candidate, notice: Notice, notice_path: Path
) -> None:
    """An editor moving the closing date into the past closes the service at once."""
    await logged_in(client, candidate)
    assert (await save(client, notice)).status_code == 303
    notice_path.write_text(
        edited_notice_text(
            opens="2025-10-01 09:00", closes="2025-10-21 10:00", documents_deadline="2025-10-21 10:00"
        ),
        encoding="utf-8",
    )
    response = await save(client, notice, city="Royan", postal_code="17200")
    assert (
        response.status_code == 409
        and "closes depuis le mardi 21 octobre 2025 à 10\xa0h\xa000" in response.text
    )


async def test_uploads_then_final_validation_sends_receipt(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, mailbox: Mailbox, settings: Settings
) -> None:
    """Each required document gets a file; « J'ai fourni toutes mes pièces » then freezes them and mails
    a receipt listing every file with its SHA-256."""
    await logged_in(client, candidate)
    await save(client, notice)
    required = required_documents(notice, enrol_form(notice))
    page = await client.page("/espace/justificatifs")
    assert "Il vous manque encore" in page.text
    for n, document in enumerate(required):
        name, content = ("scan.pdf", pdf_bytes()) if n % 2 == 0 else ("photo.png", png_bytes())
        response = await upload(client, document.id, name, content)
        assert response.status_code == 303, response.text
    page = await client.page("/espace/justificatifs")
    assert "Il vous manque encore" not in page.text
    assert len(stored_files(settings)) == len(required)

    response = await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(page.text)})
    assert response.status_code == 303
    await settle(app)
    receipt = mailbox.to(candidate.email)[-1]
    enrolment = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert enrolment["status"] == "complete"
    for f in enrolment["files"]:
        assert f["sha256"] in mailbox.text(receipt)

    again = await upload(client, required[0].id, "scan.pdf", pdf_bytes())
    assert again.status_code in (403, 409) and "définitive" in again.text
    audit = (settings.data_dir / "audit.log").read_text(encoding="utf-8")
    for event in ("enrolment.saved", "enrolment.file_added", "enrolment.completed"):
        assert f'"event": "{event}"' in audit
    assert "Durand" not in audit and candidate.email not in audit and candidate.account_id not in audit
    form = await client.page("/espace/inscription")
    assert "plus modifiable" in form.text and ">Enregistrer</button>" not in form.text
    accuse = await client.get("/espace/documents/accuse")
    assert accuse.status_code == 200 and enrolment["files"][0]["sha256"] in accuse.text


async def test_hostile_upload_refused_next_to_document_and_nothing_kept(
    client: Client, candidate: Candidate, notice: Notice, settings: Settings
) -> None:
    """HTML named .png is refused with a French message next to its document; no file remains."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    response = await upload(client, document.id, "photo.png", b"<html><script>alert(1)</script></html>")
    assert response.status_code == 415
    assert 'id="error-' + document.id + '"' in response.text
    assert stored_files(settings) == []
    assert settings.tmp_dir.is_dir() and not any(settings.tmp_dir.iterdir())  # received, then removed


async def test_oversized_upload_is_413(
    client: Client, candidate: Candidate, notice: Notice, settings: Settings
) -> None:
    """A file over the size of notice.yml is refused with 413 and leaves nothing behind."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    big = b"%PDF-1.4\n" + b"0" * (notice.uploads.max_file_mb * 1024 * 1024 + 10)
    response = await upload(client, document.id, "big.pdf", big)
    assert response.status_code == 413
    assert stored_files(settings) == []


async def test_upload_without_csrf_token_is_refused(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """An upload that does not carry the page's token is refused before the file is written."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    response = await client.post(
        f"/espace/justificatifs/{document.id}/ajouter",
        files={"file": ("scan.pdf", pdf_bytes(), "application/pdf")},
    )
    assert response.status_code == 403


async def test_other_candidate_gets_404_on_everything_not_theirs(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, settings: Settings, mailbox: Mailbox
) -> None:
    """Candidate B can neither read nor remove candidate A's file: 404, and A's file is intact."""
    from account_helpers import activate_from_mail, sign_up

    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    assert (await upload(client, document.id, "scan.pdf", pdf_bytes())).status_code == 303
    enrolment = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    file_id = enrolment["files"][0]["id"]
    own = await client.get(f"/espace/justificatifs/fichier/{file_id}")
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    assert own.headers["content-disposition"].startswith("attachment")
    assert own.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in own.headers["content-security-policy"]

    async with make_client(app, settings, ip="127.0.0.2") as other:
        await sign_up(other, app, "autre@exemple.fr")
        await activate_from_mail(other, mailbox, "autre@exemple.fr")
        await log_in(other, "autre@exemple.fr")
        assert (await other.get(f"/espace/justificatifs/fichier/{file_id}")).status_code == 404
        page = await other.page("/espace/justificatifs")
        removal = await other.post(
            f"/espace/justificatifs/fichier/{file_id}/supprimer", data={"csrf_token": other.csrf(page.text)}
        )
        assert removal.status_code == 404
    assert len(stored_files(settings)) == 1
    assert (await client.get(f"/espace/justificatifs/fichier/{file_id}")).status_code == 200


async def test_pdf_summary_carries_the_enrolment(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """The downloaded PDF summary's text holds the candidate's data, the speciality and the version."""
    await logged_in(client, candidate)
    await save(client, notice)
    response = await client.get("/espace/documents/recapitulatif/pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    text = re.sub(r"\s+", " ", text)
    exam = notice.exams[-1]
    for expected in ("Durand", "Camille", "La Rochelle", exam.specialities[0].name, "version 1"):
        assert expected in text, expected
    html = await client.get("/espace/documents/recapitulatif")
    assert html.status_code == 200 and "Durand" in html.text


async def test_address_change_after_deadline_reaches_the_pole(
    client: Client, candidate: Candidate, notice: Notice, clock: FrozenClock, app: Starlette, mailbox: Mailbox
) -> None:
    """After the closing, an address change is mailed to the pôle and the candidate, and kept."""
    clock.set(notice.closes_at - timedelta(minutes=5))
    await logged_in(client, candidate)
    await save(client, notice)
    clock.set(notice.closes_at + timedelta(minutes=30))
    response = await client.submit(
        "/espace/changement-adresse",
        {"address": "5 place du Marché", "postal_code": "79000", "city": "Niort", "country": "France"},
    )
    assert response.status_code == 303
    await settle(app)
    exam = notice.exams[-1]
    pole = notice.pole(exam.specialities[0].pole)
    assert pole is not None
    to_pole = mailbox.to(pole.email)
    assert (
        to_pole and "5 place du Marché" in mailbox.text(to_pole[-1]) and "Durand" in mailbox.text(to_pole[-1])
    )
    assert "transmise" in mailbox.text(mailbox.to(candidate.email)[-1])
    page = await client.page("/espace/changement-adresse")
    assert "5 place du Marché" in page.text


async def test_returning_candidate_starts_from_last_session(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """A candidate of the previous session finds last session's identity and address in the form."""
    store = app.state.services.store
    previous: dict[str, Any] = {
        "id": "old",
        "key": f"{candidate.account_id}:ancienne",
        "account_id": candidate.account_id,
        "session": "ancienne",
        "status": "complete",
        "version": 3,
        "data": enrol_form(notice, last_name="Ancien", city="Poitiers", postal_code="86000"),
        "created_at": datetime(2024, 10, 1).isoformat(),
        "updated_at": datetime(2024, 11, 1).isoformat(),
        "history": [],
        "files": [],
    }
    await store.enrolments.create_if_absent(previous)
    await logged_in(client, candidate)
    page = await client.page("/espace/inscription")
    assert 'value="Ancien"' in page.text and 'value="Poitiers"' in page.text
    assert "déjà présenté" in page.text


async def test_after_validation_one_green_message_only(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Right after « J'ai fourni toutes mes pièces », the page says it once (no second green box
    repeating the first); on a later visit, the lasting message is there."""
    await logged_in(client, candidate)
    await save(client, notice)
    for document in required_documents(notice, enrol_form(notice)):
        assert (await upload(client, document.id, "scan.pdf", pdf_bytes())).status_code == 303
    page = await client.page("/espace/justificatifs")
    done = await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(page.text)})
    after = await client.get(done.headers["location"])
    assert after.text.count("alert--success") == 1 and "vous avez fourni toutes vos pièces" in after.text
    later = await client.page("/espace/justificatifs")
    assert later.text.count("alert--success") == 1 and "Vous avez validé" in later.text
