"""The candidate's space over HTTP: « M'inscrire », « Mes documents », « Mes justificatifs »."""

from __future__ import annotations

import html
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from account_helpers import Candidate, Client, Mailbox, log_in, make_client, settle
from enrolment_forms import birth_date_for_age, valid_enrolment_form
from notice_factory import edited_notice_text
from PIL import Image
from starlette.applications import Starlette
from upload_helpers import piece_message

from formservice.clock import FrozenClock
from formservice.enrolment.rules import required_documents
from formservice.notice import Document, Notice
from formservice.settings import Settings
from formservice.typography import french_text

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


async def first_piece_sent(
    client: Client, candidate: Candidate, notice: Notice, content: bytes
) -> tuple[Document, httpx.Response]:
    """Logged in, « Enregistrer », then ``content`` sent as « photo.png » for the first piece."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    return document, await upload(client, document.id, "photo.png", content)


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
    assert "Votre pré-inscription est enregistrée" in page.text and "version 1" in page.text
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

    confirm = await client.page("/espace/justificatifs/valider")  # what is sent, what can still change
    for name in ("scan.pdf", "photo.png", "Vous ne pourrez plus", "Vous pourrez encore"):
        assert name in html.unescape(confirm.text)
    enrolment = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert enrolment["status"] == "saved"  # nothing validated by looking
    response = await client.post(
        "/espace/justificatifs/valider", data={"csrf_token": client.csrf(confirm.text)}
    )
    assert response.status_code == 303
    await settle(app)
    receipt = mailbox.to(candidate.email)[-1]
    enrolment = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert enrolment["status"] == "complete"
    for f in enrolment["files"]:
        assert f["sha256"] in mailbox.text(receipt)

    document_id, refusal = await piece_message(
        client, await upload(client, required[0].id, "scan.pdf", pdf_bytes())
    )
    assert document_id == required[0].id and french_text("« Modifier mes pièces »") in refusal
    audit = (settings.data_dir / "audit.log").read_text(encoding="utf-8")
    for event in ("enrolment.saved", "enrolment.file_added", "enrolment.completed"):
        assert f'"event": "{event}"' in audit
    assert "Durand" not in audit and candidate.email not in audit and candidate.account_id not in audit
    form = await client.page("/espace/inscription")  # still editable until the closing
    assert "plus modifiable" not in form.text and ">Enregistrer</button>" in form.text
    accuse = await client.get("/espace/documents/accuse")
    assert accuse.status_code == 200 and enrolment["files"][0]["sha256"] in accuse.text


async def test_hostile_upload_refused_next_to_document_and_nothing_kept(
    client: Client, candidate: Candidate, notice: Notice, settings: Settings
) -> None:
    """HTML named .png is refused with a French message next to its document; no file remains."""
    document, response = await first_piece_sent(client, candidate, notice, b"<html><script>1</script></html>")
    document_id, message = await piece_message(client, response)
    assert document_id == document.id and "photo.png" in message
    assert stored_files(settings) == []
    assert settings.tmp_dir.is_dir() and not any(settings.tmp_dir.iterdir())  # received, then removed


async def test_oversized_upload_is_refused_in_its_piece(
    client: Client, candidate: Candidate, notice: Notice, settings: Settings
) -> None:
    """A file over the size of notice.yml is refused, said in its piece, and leaves nothing behind."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    big = b"%PDF-1.4\n" + b"0" * (notice.uploads.max_file_mb * 1024 * 1024 + 10)
    response = await upload(client, document.id, "big.pdf", big)
    assert french_text(f"{notice.uploads.max_file_mb} Mo") in (await piece_message(client, response))[1]
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


# -- after « Enregistrer », after « J'ai fourni toutes mes pièces », under the office's eyes -------


async def test_after_saving_the_page_says_the_next_step_with_its_link(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """« Étape suivante : déposez vos pièces », with the link to « Mes justificatifs »."""
    await logged_in(client, candidate)
    response = await save(client, notice)
    page = html.unescape((await client.page(response.headers["location"])).text)
    assert french_text("Étape suivante : déposez vos pièces.") in page
    assert 'href="/espace/justificatifs">Déposer mes pièces</a>' in page
    assert "Étape suivante" not in html.unescape((await client.page("/espace/inscription")).text)


async def test_the_form_errors_link_to_their_fields_and_tie_the_radios(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """The summary links each error to its field (the first radio for the situation), in the
    form's order; the radios carry aria-invalid and point to their message; messages say what
    to type."""
    await logged_in(client, candidate)
    response = await save(client, notice, last_name="", status="", postal_code="86")
    assert response.status_code == 400
    page = html.unescape(response.text)
    summary = page[page.index('class="alert alert--error error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert "Le formulaire contient 3 erreurs" in summary and "autofocus" in summary
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert [anchor for anchor, _ in links] == ["status-individuel", "last_name", "postal_code"]
    assert french_text("Nom de naissance : Indiquez votre nom de naissance.") in summary
    radios = re.findall(r'<input type="radio"[^>]*>', page)
    assert radios and all(
        'aria-invalid="true"' in r and 'aria-describedby="status-error"' in r for r in radios
    )
    assert 'id="status-error"' in page
    assert re.search(r'<input id="postal_code"[^>]*inputmode="numeric"', page)
    assert french_text("Facultatif : bâtiment") in page


async def test_the_enrolment_stays_editable_after_the_final_click_and_a_change_of_pieces_reopens_them(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Déposé, within the window: « M'inscrire » still saves; a birth date that asks one more
    piece puts the dossier back to brouillon and the page says the deposit is reopened."""
    from web.candidate.test_corrections import deposited

    await deposited(client, candidate, notice, app)
    form = html.unescape((await client.page("/espace/inscription")).text)
    assert "plus modifiable" not in form and ">Enregistrer</button>" in form
    response = await save(client, notice, birth_date=birth_date_for_age(notice, 20))
    assert response.status_code == 303 and "info=rouverte" in response.headers["location"]
    page = html.unescape((await client.page(response.headers["location"])).text)
    assert (
        "le dépôt de vos pièces est rouvert" in page
        and french_text("Étape suivante : déposez vos pièces.") in page
    )
    stored = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert stored["status"] == "saved" and "receipt" not in stored


async def test_once_the_office_started_the_form_is_read_only_and_says_whom_to_call(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """En vérification: the form is disabled with the reason and the pôle's contact; a save sent
    anyway is refused and changes nothing."""
    from web.candidate.test_corrections import STAFF, deposited

    doc = await deposited(client, candidate, notice, app)
    await app.state.services.review.start(STAFF, doc["id"])
    pole = notice.pole(notice.speciality(doc["data"]["speciality"])[1].pole)  # type: ignore[index]
    assert pole is not None
    page = html.unescape((await client.page("/espace/inscription")).text)
    assert "Le formulaire n'est plus modifiable." in page and "Le pôle vérifie votre dossier" in page
    assert pole.email in page and ">Enregistrer</button>" not in page
    response = await save(client, notice, city="Royan", postal_code="17200")
    assert response.status_code == 409 and "ne peut plus être modifiée en ligne" in html.unescape(
        response.text
    )
    stored = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    assert stored["data"]["city"] == doc["data"]["city"]
