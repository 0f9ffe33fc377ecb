"""The candidate's side of the correction loop over HTTP: the office's decisions on « Mes
justificatifs » and « Mon espace », a refused piece replaced after registration.closes (and only
it), « J'ai effectué les corrections demandées », the attestation d'inscription définitive, and a
dossier irrecevable that takes no file. The office acts through ReviewService, as its pages do."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdf
import pytest
from account_helpers import Candidate, Client, Mailbox, settle
from starlette.applications import Starlette
from upload_helpers import piece_message

from formservice.clock import FrozenClock, from_iso
from formservice.enrolment.rules import required_documents
from formservice.notice import Notice
from formservice.review import rules as review_rules
from formservice.review.states import State, state_of
from web.candidate.test_enrolment import logged_in, pdf_bytes, save, upload

pytestmark = pytest.mark.anyio
STAFF = "staff-sah-1"
CHECKING = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)  # after registration.closes and documents_deadline
DEADLINE_FR = "dimanche 30 novembre 2025 à 23\u00a0h\u00a059"  # CHECKING + 10 days, Paris time
COMMENT = "Le recto manque."


def text_of(page: str) -> str:
    return html.unescape(page)


async def deposited(client: Client, candidate: Candidate, notice: Notice, app: Starlette) -> dict[str, Any]:
    """Through the pages: « M'inscrire », a file for every piece, « J'ai fourni toutes mes pièces »."""
    await logged_in(client, candidate)
    assert (await save(client, notice)).status_code == 303
    doc = (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]
    for document in required_documents(notice, doc["data"]):
        assert (await upload(client, document.id, "scan.pdf", pdf_bytes())).status_code == 303
    page = await client.page("/espace/justificatifs")
    done = await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(page.text)})
    assert done.status_code == 303
    await settle(app)
    return (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]


async def later(client: Client, candidate: Candidate, clock: FrozenClock, when: datetime) -> None:
    """The clock moved on (the session's idle timeout passed with it): the candidate logs in again."""
    clock.set(when)
    await logged_in(client, candidate)


async def refused_first(
    client: Client, candidate: Candidate, app: Starlette, clock: FrozenClock, doc: dict[str, Any]
) -> tuple[str, str]:
    """The office, after the closing: the first piece non conforme (the others conformes), the
    correction requested; the candidate comes back. Returns (refused piece, another piece)."""
    await later(client, candidate, clock, CHECKING)
    review = app.state.services.review
    notice = app.state.services.notice()
    first, *others = [d.id for d in required_documents(notice, doc["data"])]
    await review.start(STAFF, doc["id"])
    await review.decide(
        STAFF, doc["id"], first, review_rules.NON_CONFORME, reason_id="illisible", comment=COMMENT
    )
    for other in others:
        await review.decide(STAFF, doc["id"], other, review_rules.CONFORME)
    await review.request_correction(STAFF, doc["id"])
    await settle(app)
    return first, others[0]


async def current(app: Starlette, candidate: Candidate) -> dict[str, Any]:
    return (await app.state.services.store.enrolments.for_account(candidate.account_id))[0]


def add_path(document_id: str) -> str:
    return f"/espace/justificatifs/{document_id}/ajouter"


def remove_path(file_id: str) -> str:
    return f"/espace/justificatifs/fichier/{file_id}/supprimer"


async def test_a_refused_piece_is_shown_with_its_reason_message_and_deadline(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, clock: FrozenClock
) -> None:
    """« Mes justificatifs » and « Mon espace » put the request at the top (role="alert"): the
    piece, the reason, the office's message, the deadline in French (Paris time); the other
    pieces are conformes; only the refused piece has « Ajouter » and « Supprimer »."""
    doc = await deposited(client, candidate, notice, app)
    refused, other = await refused_first(client, candidate, app, clock, doc)
    names = {d.id: d.name for d in notice.documents}
    page = await client.page("/espace/justificatifs")
    assert page.status_code == 200
    text = text_of(page.text)
    alert = text[text.index('role="alert"') : text.index("</div>", text.index('role="alert"'))]
    for expected in (
        names[refused],
        "Document illisible",
        COMMENT,
        DEADLINE_FR,
        "incomplet (corrections demandées)",
    ):
        assert expected in alert, expected
    assert "à corriger" in text and "conforme" in text
    assert add_path(refused) in text and add_path(other) not in text
    refused_file = next(f for f in doc["files"] if f["document_id"] == refused)
    other_file = next(f for f in doc["files"] if f["document_id"] == other)
    assert remove_path(refused_file["id"]) in text and remove_path(other_file["id"]) not in text
    assert "J'ai effectué les corrections demandées</button>" in text
    assert 'action="/espace/justificatifs/corrections-effectuees"' not in text  # not yet: disabled
    assert "J'ai fourni toutes mes pièces</button>" not in text

    home = text_of((await client.page("/espace")).text)
    assert 'role="alert"' in home
    for expected in (
        names[refused],
        "Document illisible",
        COMMENT,
        DEADLINE_FR,
        "Décision du pôle\u00a0: conforme",
    ):
        assert expected in home, expected


async def test_a_replacement_after_the_closing_then_the_corrections_confirmed(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, clock: FrozenClock, mailbox: Mailbox
) -> None:
    """After registration.closes: another piece takes no file; the refused one does, its refused
    file goes; « J'ai effectué les corrections demandées » puts the dossier back en vérification,
    mails the pôle, and the page says the office will check again."""
    doc = await deposited(client, candidate, notice, app)
    refused, other = await refused_first(client, candidate, app, clock, doc)
    assert clock.now() > notice.closes_at and clock.now() > notice.documents_deadline_at

    wrong = await upload(client, other, "scan.pdf", pdf_bytes())
    assert "Seules les pièces refusées" in (await piece_message(client, wrong))[1]
    page = await client.page("/espace/justificatifs")
    other_file = next(f for f in doc["files"] if f["document_id"] == other)
    kept = await client.post(remove_path(other_file["id"]), data={"csrf_token": client.csrf(page.text)})
    assert (await piece_message(client, kept))[0] == other
    assert len((await current(app, candidate))["files"]) == len(doc["files"])

    added = await upload(client, refused, "nouveau.pdf", pdf_bytes())
    assert added.status_code == 303, added.text
    old = next(f for f in doc["files"] if f["document_id"] == refused)
    page = await client.page("/espace/justificatifs")
    removed = await client.post(remove_path(old["id"]), data={"csrf_token": client.csrf(page.text)})
    assert removed.status_code == 303
    stored = await current(app, candidate)
    assert [f["display_name"] for f in stored["files"] if f["document_id"] == refused] == ["nouveau.pdf"]

    page = await client.page("/espace/justificatifs")
    assert 'action="/espace/justificatifs/corrections-effectuees"' in page.text
    mailbox.clear()
    done = await client.post(
        "/espace/justificatifs/corrections-effectuees", data={"csrf_token": client.csrf(page.text)}
    )
    assert done.status_code == 303
    assert state_of(await current(app, candidate)) is State.EN_VERIFICATION
    after = text_of((await client.page(done.headers["location"])).text)
    assert "vérifier de nouveau" in after and "en vérification" in after
    assert add_path(refused) not in after
    await settle(app)
    pole = notice.pole(notice.speciality(stored["data"]["speciality"])[1].pole)
    assert pole is not None
    to_pole = mailbox.to(pole.email)
    assert to_pole and to_pole[-1]["Reply-To"] == candidate.email
    assert {d.id: d.name for d in notice.documents}[refused] in mailbox.text(to_pole[-1])


async def test_the_confirmation_needs_a_token_and_every_refused_piece_replaced(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, clock: FrozenClock
) -> None:
    """Without the form's token: 403; before the refused piece is replaced: refused, in French."""
    doc = await deposited(client, candidate, notice, app)
    await refused_first(client, candidate, app, clock, doc)
    assert (await client.post("/espace/justificatifs/corrections-effectuees")).status_code == 403
    page = await client.page("/espace/justificatifs")
    early = await client.post(
        "/espace/justificatifs/corrections-effectuees", data={"csrf_token": client.csrf(page.text)}
    )
    assert early.status_code == 409 and "Il reste à remplacer" in text_of(early.text)
    assert state_of(await current(app, candidate)) is State.INCOMPLET


async def test_after_the_correction_deadline_the_refusal_names_the_pole(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, clock: FrozenClock
) -> None:
    """The day after the deadline: no « Ajouter », and a file sent anyway is refused with the
    pôle's contact."""
    doc = await deposited(client, candidate, notice, app)
    refused, _other = await refused_first(client, candidate, app, clock, doc)
    deadline = from_iso((await current(app, candidate))["review"]["corrections"][-1]["deadline"])
    await later(client, candidate, clock, deadline + timedelta(seconds=1))
    page = text_of((await client.page("/espace/justificatifs")).text)
    assert "Le délai de correction a pris fin" in page and add_path(refused) not in page
    late = await upload(client, refused, "nouveau.pdf", pdf_bytes())
    pole = notice.pole(notice.speciality(doc["data"]["speciality"])[1].pole)
    assert pole is not None
    shown = (await piece_message(client, late))[1]
    assert "Le délai de correction a pris fin" in shown and pole.email in shown
    assert len((await current(app, candidate))["files"]) == len(doc["files"])


async def test_the_attestation_is_offered_once_the_dossier_is_complet(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette, clock: FrozenClock
) -> None:
    """404 before complet; then « Mes documents » offers it, in HTML (the candidate's name,
    « inscription définitive », the date of the decision) and in PDF."""
    doc = await deposited(client, candidate, notice, app)
    assert (await client.get("/espace/documents/attestation")).status_code == 404
    assert (await client.get("/espace/documents/attestation/pdf")).status_code == 404
    await later(client, candidate, clock, CHECKING)
    review = app.state.services.review
    await review.start(STAFF, doc["id"])
    for document in required_documents(notice, doc["data"]):
        await review.decide(STAFF, doc["id"], document.id, review_rules.CONFORME)
    assert (await client.get("/espace/documents/attestation")).status_code == 404  # en vérification
    await review.accept(STAFF, doc["id"])

    documents = text_of((await client.page("/espace/documents")).text)
    assert (
        "Attestation d'inscription définitive" in documents and "/espace/documents/attestation" in documents
    )
    attestation = await client.get("/espace/documents/attestation")
    assert attestation.status_code == 200
    body = re.sub(r"\s+", " ", text_of(attestation.text))
    data = doc["data"]
    for expected in (
        f"{data['first_names']} {data['last_name']}",
        "inscription définitive",
        "jeudi 20 novembre 2025",
    ):
        assert expected in body, expected
    pdf = await client.get("/espace/documents/attestation/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert data["last_name"] in text
    home = text_of((await client.page("/espace")).text)
    assert "complet (inscription définitive)" in home


async def test_an_irrecevable_dossier_takes_no_file(
    client: Client, candidate: Candidate, notice: Notice, app: Starlette
) -> None:
    """Irrecevable, still within the window: « Ajouter » and « Supprimer » refused in French, and
    not offered; the page says the dossier is irrecevable."""
    await logged_in(client, candidate)
    assert (await save(client, notice)).status_code == 303
    doc = await current(app, candidate)
    first, second = [d.id for d in required_documents(notice, doc["data"])][:2]
    assert (await upload(client, first, "scan.pdf", pdf_bytes())).status_code == 303
    page = await client.page("/espace/justificatifs/valider")
    assert "Il manque encore" in page.text
    assert (
        await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(page.text)})
    ).status_code == 409
    for document in required_documents(notice, doc["data"])[1:]:
        assert (await upload(client, document.id, "scan.pdf", pdf_bytes())).status_code == 303
    page = await client.page("/espace/justificatifs")
    assert (
        await client.post("/espace/justificatifs/valider", data={"csrf_token": client.csrf(page.text)})
    ).status_code == 303
    doc = await current(app, candidate)
    await app.state.services.review.declare_ineligible(STAFF, doc["id"], "doublon")

    refused = await upload(client, second, "autre.pdf", pdf_bytes())
    assert "irrecevable" in (await piece_message(client, refused))[1]
    page = await client.page("/espace/justificatifs")
    text = text_of(page.text)
    assert "irrecevable" in text and "/ajouter" not in text and "/supprimer" not in text
    removal = await client.post(
        remove_path(doc["files"][0]["id"]), data={"csrf_token": client.csrf(page.text)}
    )
    assert "irrecevable" in (await piece_message(client, removal))[1]
    assert (await current(app, candidate))["files"] == doc["files"]
