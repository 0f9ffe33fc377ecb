"""Dossiers in every state, built with the real rules (``enrolment.rules`` for the candidate's
side, ``review.rules`` for the office's) from the repository's notice.yml: the tests never write
a stored document by hand, so they follow the rules as they evolve."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from enrolment_forms import valid_enrolment_form

from formservice.enrolment import rules as erules
from formservice.notice import Notice, load_notice
from formservice.review import rules
from formservice.review.records import Enrolment
from formservice.review.states import Action, State

REPO = Path(__file__).resolve().parents[2]
NOTICE: Notice = load_notice(REPO / "notice.yml")
ACCOUNT_ID = "a" * 32
OTHER_ACCOUNT = "b" * 32
STAFF_ID = "staff-sah-1"
IN_WINDOW = datetime(2025, 10, 22, 8, 0, tzinfo=UTC)
# After registration.closes: the office checks the dossiers then.
CHECKING = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)


def file_meta(document_id: str, n: int, size: int = 1000) -> dict[str, Any]:
    digest = hashlib.sha256(f"{document_id}-{n}".encode()).hexdigest()
    return {
        "id": f"f-{document_id}-{n}",
        "stored_name": f"s{digest[:20]}.pdf",
        "display_name": f"{document_id}-{n}.pdf",
        "size": size,
        "sha256": digest,
        "media_type": "application/pdf",
    }


def saved(notice: Notice = NOTICE, enrolment_id: str = "dossier-1", **form: str) -> Enrolment:
    """Brouillon: saved, a file for every required piece, not confirmed."""
    doc = erules.new_enrolment(
        enrolment_id, f"{ACCOUNT_ID}:{notice.session.name}", ACCOUNT_ID, notice, IN_WINDOW
    )
    data = erules.read_form(valid_enrolment_form(notice, **form), notice)
    assert data.ok, data.errors
    erules.save(doc, data.data, 0, notice, IN_WINDOW)
    for document in erules.required_documents(notice, data.data):
        erules.add_file(doc, document.id, file_meta(document.id, 1), notice, IN_WINDOW)
    return doc


def deposited(notice: Notice = NOTICE, **form: str) -> Enrolment:
    """Déposé: « J'ai fourni toutes mes pièces »."""
    return erules.complete(saved(notice, **form), notice, IN_WINDOW + timedelta(hours=1))


def piece_ids(doc: Enrolment, notice: Notice = NOTICE) -> list[str]:
    return [p.document.id for p in rules.pieces(doc, notice)]


def refuse_first(doc: Enrolment, now: datetime = CHECKING, notice: Notice = NOTICE) -> str:
    """The first piece non conforme (the rest conformes), the correction requested: its id."""
    first, *others = piece_ids(doc, notice)
    rules.decide(doc, notice, STAFF_ID, now, first, rules.NON_CONFORME, reason_id="illisible")
    for other in others:
        rules.decide(doc, notice, STAFF_ID, now, other, rules.CONFORME)
    rules.request_correction(doc, notice, STAFF_ID, now)
    return first


def replace(doc: Enrolment, document_id: str, now: datetime, n: int = 2) -> Enrolment:
    return rules.add_replacement(doc, NOTICE, ACCOUNT_ID, now, document_id, file_meta(document_id, n))


def in_state(state: State, ready_for: Action | None = None) -> Enrolment:
    """A dossier in ``state``, its pieces prepared so that ``ready_for`` meets its own
    conditions: what remains to refuse it is the state machine alone."""
    now = CHECKING
    if state is State.BROUILLON:
        return saved()
    doc = deposited()
    if state is State.DEPOSE:
        return doc
    if state is State.IRRECEVABLE:
        return rules.declare_ineligible(doc, NOTICE, STAFF_ID, now, "doublon")
    if state is State.DESISTE:
        return rules.withdraw(doc, ACCOUNT_ID, now)
    rules.start(doc, STAFF_ID, now)
    ids = piece_ids(doc)
    if state is State.EN_VERIFICATION:
        if ready_for is Action.ACCEPT:
            for document_id in ids:
                rules.decide(doc, NOTICE, STAFF_ID, now, document_id, rules.CONFORME)
        if ready_for is Action.REQUEST_CORRECTION:
            rules.decide(doc, NOTICE, STAFF_ID, now, ids[0], rules.NON_CONFORME, reason_id="perime")
        return doc
    if state is State.COMPLET:
        for document_id in ids:
            rules.decide(doc, NOTICE, STAFF_ID, now, document_id, rules.CONFORME)
        return rules.accept(doc, NOTICE, STAFF_ID, now)
    assert state is State.INCOMPLET
    first = refuse_first(doc, now)
    if ready_for in (Action.CONFIRM_CORRECTIONS, Action.ACCEPT):
        replace(doc, first, now + timedelta(days=1))
    if ready_for is Action.ACCEPT:
        rules.decide(doc, NOTICE, STAFF_ID, now + timedelta(days=2), first, rules.CONFORME)
    return doc


def snapshot(doc: Enrolment) -> Enrolment:
    return copy.deepcopy(doc)
