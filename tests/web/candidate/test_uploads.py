"""« Mes justificatifs » over HTTP: every write answers with a redirect to the piece it is about,
whose message the page shows there (a refusal's, signed); « Supprimer » and « J'ai fourni toutes
mes pièces » ask first; « Modifier mes pièces » reopens the deposit."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from account_helpers import Candidate, Client
from starlette.applications import Starlette
from upload_helpers import PIECE_MESSAGE_RE, piece_message

from formservice.enrolment.rules import required_documents
from formservice.notice import Notice
from formservice.typography import french_text
from web.candidate.test_corrections import deposited
from web.candidate.test_enrolment import enrol_form, first_piece_sent, logged_in, pdf_bytes, save, upload

pytestmark = pytest.mark.anyio


async def stored(app: Starlette, candidate: Candidate) -> dict:
    return (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]


async def test_a_refused_upload_redirects_and_its_message_cannot_be_forged(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """The refusal is a redirect (a reload sends nothing again) to the piece, focused, with its
    message; a tampered or another piece's token shows no message at all."""
    document, response = await first_piece_sent(client, candidate, notice, b"not an image")
    document_id, message = await piece_message(client, response)
    assert document_id == document.id and "photo.png" in message
    page = (await client.page(response.headers["location"])).text  # a reload: the same message
    assert (
        'tabindex="-1" autofocus role="alert"' in page and f'aria-describedby="message-{document.id}"' in page
    )
    token = parse_qs(urlsplit(response.headers["location"]).query)["refus"][0]
    for query in (f"piece={document.id}&refus={token[:-2]}xx", f"piece=autre&refus={token}"):
        assert not PIECE_MESSAGE_RE.search((await client.page(f"/espace/justificatifs?{query}")).text)


async def test_remove_asks_first_then_removes_and_shows_the_piece(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """« Supprimer » opens a confirmation page (no JavaScript needed); « Oui, supprimer » removes
    the file and comes back to its piece with « Le fichier a été supprimé. »."""
    await logged_in(client, candidate)
    await save(client, notice)
    document = required_documents(notice, enrol_form(notice))[0]
    await upload(client, document.id, "scan.pdf", pdf_bytes())
    file_id = (await stored(app, candidate))["files"][0]["id"]
    uploads = html.unescape((await client.page("/espace/justificatifs")).text)
    assert f'href="/espace/justificatifs/fichier/{file_id}/supprimer"' in uploads
    ask = html.unescape((await client.page(f"/espace/justificatifs/fichier/{file_id}/supprimer")).text)
    assert french_text("Supprimer ce fichier ?") in ask and "scan.pdf" in ask and document.name in ask
    assert len((await stored(app, candidate))["files"]) == 1  # looking removes nothing
    removed = await client.post(
        f"/espace/justificatifs/fichier/{file_id}/supprimer", data={"csrf_token": client.csrf(ask)}
    )
    assert await piece_message(client, removed) == (document.id, "Le fichier a été supprimé.")
    assert (await stored(app, candidate))["files"] == []


async def test_the_candidate_reopens_the_deposit_while_the_office_has_not_started(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Déposé: « Modifier mes pièces » puts the files back in the candidate's hands, and « J'ai
    fourni toutes mes pièces » is to be validated again; the office started: no such button."""
    from web.candidate.test_corrections import STAFF

    doc = await deposited(client, candidate, notice, app)
    page = html.unescape((await client.page("/espace/justificatifs")).text)
    assert "Modifier mes pièces" in page and "/ajouter" not in page
    response = await client.post("/espace/justificatifs/rouvrir", data={"csrf_token": client.csrf(page)})
    assert response.status_code == 303
    page = html.unescape((await client.page(response.headers["location"])).text)
    assert "Le dépôt de vos pièces est rouvert" in page and "/ajouter" in page
    assert (await stored(app, candidate))["status"] == "saved"
    again = await client.page("/espace/justificatifs/valider")
    await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(again.text)})
    await app.state.services.review.start(STAFF, doc["id"])
    page = html.unescape((await client.page("/espace/justificatifs")).text)
    assert "Modifier mes pièces" not in page
    refused = await client.post("/espace/justificatifs/rouvrir", data={"csrf_token": client.csrf(page)})
    assert refused.status_code == 409 and "Le pôle vérifie votre dossier" in html.unescape(refused.text)


async def test_files_of_a_piece_no_longer_asked_are_shown_apart(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Accommodation asked, its piece sent, then unticked: the file is listed apart, removable."""
    await logged_in(client, candidate)
    await save(client, notice, accommodation="oui", accommodation_reason="Tiers temps")
    data = (await stored(app, candidate))["data"]
    extra = next(d for d in notice.documents if d.condition and d.condition.accommodation)
    assert extra.id in {d.id for d in required_documents(notice, data)}
    await upload(client, extra.id, "avis.pdf", pdf_bytes())
    await save(client, notice)
    page = html.unescape((await client.page("/espace/justificatifs")).text)
    section = page[page.index('id="pieces-plus-demandees"') :]
    assert "avis.pdf" in section and re.search(r"/fichier/[^/]+/supprimer", section)


async def test_a_refusal_for_a_piece_not_on_the_page_is_said_at_the_top(
    client: Client, candidate: Candidate, notice: Notice
) -> None:
    """A file for a piece this candidate is not asked for: the message is not lost, it is shown
    at the top of the page."""
    await logged_in(client, candidate)
    await save(client, notice)
    response = await upload(client, "piece-inconnue", "scan.pdf", pdf_bytes())
    assert response.status_code == 303
    page = html.unescape((await client.page(response.headers["location"])).text)
    assert '<div class="alert alert--error" role="alert"><p>Cette pièce n\'est pas demandée' in page
