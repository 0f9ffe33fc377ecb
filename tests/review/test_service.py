"""ReviewService, directly, over a real MemoryEngine and a real outbox delivering to .eml files:
each use case is one atomic write with the mail it causes; the mails say what the candidate (or
the pôle) needs — every refused piece with its reason and message, the deadline in French, the
link —; a refused action writes nothing, mails nothing and audits nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from formservice.audit import AuditLog
from formservice.clock import FrozenClock, to_iso
from formservice.files.local import LocalFileStore
from formservice.mail import MailRenderer, OutboxMailer
from formservice.outbox import Outbox
from formservice.review import rules
from formservice.review.service import ReviewService
from formservice.review.states import State, TransitionRefused, state_of
from formservice.store import Store
from formservice.store.memory import MemoryEngine
from formservice.typography import french_text
from formservice.web.rendering import make_env
from review.dossiers import ACCOUNT_ID, NOTICE, OTHER_ACCOUNT, STAFF_ID, deposited, file_meta, piece_ids

pytestmark = pytest.mark.anyio
EMAIL = "camille@exemple.fr"
REQUESTED = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)  # long after registration.closes
DEADLINE_FR = "samedi 4 avril 2026 à 23\u00a0h\u00a059"


class World:
    def __init__(self, tmp_path: Path):
        self.engine = MemoryEngine()
        self.store = Store(self.engine)
        self.clock = FrozenClock(REQUESTED)
        self.mailer = OutboxMailer(tmp_path / "outbox", "ne-pas-repondre@exemple.fr", echo=False)
        renderer = MailRenderer(make_env(), lambda: {"notice": NOTICE, "base_url": "http://x"})
        self.outbox = Outbox(self.store, renderer, self.mailer, self.clock)
        self.audit_path = tmp_path / "audit.log"
        self.files_dir = tmp_path / "uploads"
        self.service = ReviewService(
            store=self.store,
            clock=self.clock,
            notices=lambda: NOTICE,
            audit=AuditLog(self.audit_path, "k" * 40, self.clock),
            mail=self.outbox,
            links=lambda name, **params: f"http://x/{name}",
            files=LocalFileStore(self.files_dir),
        )

    async def add_dossier(self) -> dict[str, Any]:
        now = to_iso(REQUESTED)
        account = {
            "id": ACCOUNT_ID,
            "email": EMAIL,
            "status": "active",
            "password_hash": "x",
            "created_at": now,
            "activated_at": now,
            "password_changed_at": now,
        }
        assert await self.store.accounts.create_if_email_free(account)  # type: ignore[arg-type]
        doc = deposited()
        assert await self.store.enrolments.create_if_absent(doc)
        return doc

    def mails(self) -> list[EmailMessage]:
        return [
            BytesParser(policy=policy.default).parsebytes(p.read_bytes())  # type: ignore[misc]
            for p in sorted(self.mailer.list())
        ]

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


def html_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("html",))
    assert body is not None
    return body.get_content()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def name_of(document_id: str) -> str:
    return next(d.name for d in NOTICE.documents if d.id == document_id)


async def test_the_whole_correction_loop(world: World):
    """Start, refuse two pieces (one with a message), request the correction: the candidate's
    mail lists each refused piece with its reason and message and the deadline. The candidate
    replaces them after registration closes and confirms: the pôle is told, with Reply-To. The
    office re-checks and accepts: « votre inscription est définitive »."""
    doc = await world.add_dossier()
    first, second, third = piece_ids(doc)
    svc, dossier = world.service, doc["id"]
    await svc.start(STAFF_ID, dossier)
    await svc.decide(
        STAFF_ID, dossier, first, rules.NON_CONFORME, reason_id="illisible", comment="Le verso\nmanque."
    )
    await svc.decide(STAFF_ID, dossier, second, rules.CONFORME)
    await svc.decide(STAFF_ID, dossier, third, rules.NON_CONFORME, reason_id="perime")
    assert world.mails() == []  # decisions mail nothing
    stored = await svc.request_correction(STAFF_ID, dossier)
    assert state_of(stored) is State.INCOMPLET

    [mail] = world.mails()
    assert mail["To"] == EMAIL
    assert (
        mail["Subject"]
        == f"Pièces justificatives à corriger avant le samedi 4 avril 2026 — {NOTICE.session.name}"
    )
    text = text_of(mail)
    for document_id, reason in ((first, "Document illisible"), (third, "Document périmé")):
        assert french_text(f"- {name_of(document_id)}\n  Motif : {reason}\n") in text
    assert "Message du pôle\u00a0: Le verso\n    manque." in text
    assert name_of(second) not in text
    assert f"jusqu'au {DEADLINE_FR} (heure de Paris)" in text
    assert "http://x/my_uploads" in text
    html = html_of(mail)
    assert "Document illisible" in html and "Le verso\nmanque." in html and "http://x/my_uploads" in html

    world.clock.advance(days=3)
    for n, document_id in enumerate((first, third), start=2):
        await svc.record_replacement(ACCOUNT_ID, dossier, document_id, file_meta(document_id, n))  # type: ignore[arg-type]
    stored = await svc.confirm_corrections(ACCOUNT_ID, dossier)
    assert state_of(stored) is State.EN_VERIFICATION
    pole = rules.pole_of_enrolment(NOTICE, stored)
    assert pole is not None
    pole_mail = world.mails()[-1]
    assert pole_mail["To"] == pole.email and pole_mail["Reply-To"] == EMAIL
    assert pole_mail["Subject"].startswith("Corrections reçues — Camille Durand")
    pole_text = text_of(pole_mail)
    assert french_text(f"- {name_of(first)} : 2 fichiers ; refusée pour : Document illisible") in pole_text
    assert french_text(f"- {name_of(third)} : 2 fichiers ; refusée pour : Document périmé") in pole_text
    assert stored["id"] in pole_text and EMAIL in pole_text

    await svc.decide(STAFF_ID, dossier, first, rules.CONFORME)
    await svc.decide(STAFF_ID, dossier, third, rules.CONFORME)
    stored = await svc.accept(STAFF_ID, dossier)
    assert state_of(stored) is State.COMPLET
    final = world.mails()[-1]
    assert final["To"] == EMAIL
    assert final["Subject"] == f"Votre inscription est définitive — {NOTICE.session.name}"
    assert "est définitive" in text_of(final) and "http://x/my_documents" in text_of(final)
    assert len(world.mails()) == 3
    assert rules.history_intact(stored)

    events = [(e["event"], e.get("staff_id"), e["enrolment_id"]) for e in world.audit()]
    staff_events = [e for e in events if e[1] is not None]
    assert [e[0] for e in staff_events] == [
        "review.started",
        "review.piece_decided",
        "review.piece_decided",
        "review.piece_decided",
        "review.correction_requested",
        "review.piece_decided",
        "review.piece_decided",
        "review.accepted",
    ]
    assert all(e[1] == STAFF_ID and e[2] == dossier for e in staff_events)
    candidate = [e for e in world.audit() if "account" in e]
    assert [e["event"] for e in candidate] == [
        "review.piece_replaced",
        "review.piece_replaced",
        "review.corrections_confirmed",
    ]
    assert ACCOUNT_ID not in world.audit_path.read_text() and EMAIL not in world.audit_path.read_text()


async def test_a_refused_transition_writes_nothing_and_mails_nothing(world: World):
    doc = await world.add_dossier()
    before = await world.store.enrolments.get(doc["id"])
    with pytest.raises(TransitionRefused) as caught:
        await world.service.accept(STAFF_ID, doc["id"])
    assert caught.value.status == 409
    assert caught.value.message == (
        "Impossible d'accepter le dossier (inscription définitive) : le dossier est déposé. "
        "Ce n'est possible que pour un dossier en vérification ou incomplet."
    )
    with pytest.raises(TransitionRefused):
        await world.service.confirm_corrections(ACCOUNT_ID, doc["id"])
    await world.service.start(STAFF_ID, doc["id"])
    started = await world.store.enrolments.get(doc["id"])
    with pytest.raises(rules.ReviewError) as refused:
        await world.service.request_correction(STAFF_ID, doc["id"])  # no piece non conforme
    assert refused.value.message.startswith("Aucune pièce n'est non conforme")
    assert await world.store.enrolments.get(doc["id"]) == started != before
    assert world.mails() == [] and await world.store.outbox.with_state("pending") == []
    assert [e["event"] for e in world.audit()] == ["review.started"]


async def test_a_missing_or_foreign_dossier_is_not_found(world: World):
    doc = await world.add_dossier()
    with pytest.raises(rules.ReviewError) as missing:
        await world.service.start(STAFF_ID, "inconnu")
    assert missing.value.status == 404 and missing.value.message == "Ce dossier n'existe pas."
    with pytest.raises(rules.ReviewError) as foreign:
        await world.service.withdraw(OTHER_ACCOUNT, doc["id"])
    assert foreign.value.status == 404
    assert state_of(await world.store.enrolments.get(doc["id"])) is State.DEPOSE
    assert world.mails() == []


async def test_irrecevable_tells_the_candidate_why(world: World):
    doc = await world.add_dossier()
    stored = await world.service.declare_ineligible(STAFF_ID, doc["id"], "autre_academie")
    assert state_of(stored) is State.IRRECEVABLE
    [mail] = world.mails()
    assert mail["To"] == EMAIL and mail["Subject"].startswith("Votre inscription n'a pas été retenue")
    pole = rules.pole_of_enrolment(NOTICE, stored)
    assert pole is not None
    text = text_of(mail)
    assert "Motif\u00a0: Candidature relevant d'une autre académie" in text and pole.email in text
    assert world.audit()[-1]["reason_id"] == "autre_academie"


async def test_a_withdrawal_is_acknowledged(world: World):
    doc = await world.add_dossier()
    stored = await world.service.withdraw(ACCOUNT_ID, doc["id"])
    assert state_of(stored) is State.DESISTE
    [mail] = world.mails()
    assert mail["To"] == EMAIL and "Votre dossier est clos" in text_of(mail)
    with pytest.raises(TransitionRefused):
        await world.service.start(STAFF_ID, doc["id"])
    assert len(world.mails()) == 1


async def test_a_removed_replacement_is_deleted_from_disk(world: World):
    doc = await world.add_dossier()
    first = piece_ids(doc)[0]
    await world.service.start(STAFF_ID, doc["id"])
    await world.service.decide(STAFF_ID, doc["id"], first, rules.NON_CONFORME, reason_id="incomplet")
    await world.service.request_correction(STAFF_ID, doc["id"])
    refused_file = next(f for f in doc["files"] if f["document_id"] == first)
    folder = world.files_dir / ACCOUNT_ID
    folder.mkdir(parents=True)
    (folder / refused_file["stored_name"]).write_bytes(b"%PDF-1.7")
    stored = await world.service.remove_replacement(ACCOUNT_ID, doc["id"], refused_file["id"])
    assert refused_file["id"] not in {f["id"] for f in stored["files"]}
    assert not (folder / refused_file["stored_name"]).exists()
    world.clock.set(datetime(2026, 4, 4, 22, 0, tzinfo=UTC))  # past the deadline
    with pytest.raises(rules.ReviewError) as late:
        await world.service.record_replacement(ACCOUNT_ID, doc["id"], first, file_meta(first, 2))  # type: ignore[arg-type]
    assert late.value.message.startswith("Le délai de correction a pris fin le " + DEADLINE_FR)


async def test_notes_stay_out_of_mails_and_the_audit_log(world: World):
    doc = await world.add_dossier()
    stored = await world.service.add_note(STAFF_ID, doc["id"], "Diplôme étranger : vérifier l'équivalence.")
    assert stored["review"]["notes"][0]["text"] == "Diplôme étranger : vérifier l'équivalence."
    assert world.mails() == []
    assert "équivalence" not in world.audit_path.read_text()
    assert world.audit()[-1]["event"] == "review.note_added"
    assert [e["action"] for e in stored["review"]["history"]] == ["deposit", "note"]
