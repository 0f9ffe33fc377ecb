"""The office's check of a dossier: a decision on every piece, the correction loop, the outcome.

Plain functions over the stored enrolment (a dict), like ``enrolment.rules``: the mutators run
inside the store's atomic update, so every check (the state, the deadline, the pieces) is made
in the same step as the write, and a refusal writes nothing. Each mutator first asks the state
machine (``states.next_state``) whether the action is allowed, then checks its own conditions,
and only then changes the document and appends one event to the dossier's history.

- A piece of a dossier is one of the documents ``enrolment.rules.required_documents`` asks of
  this candidate. Its decision is ``conforme``, ``non_conforme`` (a reason of the notice's
  ``review.refusal_reasons`` and an optional message to the candidate) or ``non_concerne``
  (the office decides the piece is not needed). A decision is made on the files present at
  that moment (``PieceDecision.files``): a file added or removed since makes it stale
  (``PieceStatus``), so that a replaced piece is looked at again.
- The correction loop: ``request_correction`` (at least one piece non conforme) puts the dossier
  in ``incomplet`` with a deadline (``correction_deadline``); until it, and even after
  ``registration.closes``, the candidate may replace exactly the refused pieces
  (``add_replacement``, ``remove_replacement``), then ``confirm_corrections`` puts the dossier
  back ``en_verification``.
- The history (``Review.history``) records every change: when, who (the kind of actor and its
  id: the staff id, or the candidate's account id), the action and its details (ids and states,
  never free text), each event chained to the previous one by a SHA-256 (``history_intact``).
  Private notes (``add_note``) are the office's only: never shown to the candidate.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, cast

from formservice.clock import from_iso, to_iso
from formservice.enrolment.deadlines import contact_sentence
from formservice.enrolment.quotas import check_quotas
from formservice.enrolment.records import EnrolmentFile
from formservice.enrolment.rules import files_for, pole_of, required_documents
from formservice.frenchdates import datetime_fr
from formservice.notice import Document, Notice, Pole
from formservice.notice.model import Reason
from formservice.review.records import Correction, Enrolment, HistoryEvent, PieceDecision, Review
from formservice.review.states import (
    CANDIDATE_SIDE,
    Action,
    Actor,
    ReviewError,
    State,
    TransitionRefused,
    described,
    next_state,
    state_of,
)

__all__ = ["ReviewError", "TransitionRefused"]

CONFORME = "conforme"
NON_CONFORME = "non_conforme"
NON_CONCERNE = "non_concerne"
DECISIONS: Mapping[str, str] = {
    CONFORME: "Conforme",
    NON_CONFORME: "Non conforme",
    NON_CONCERNE: "Non concerné",
}
MAX_COMMENT = 1000  # the message to the candidate with a decision
MAX_NOTE = 2000  # a private note of the office

DECIDE, NOTE, REPLACE_FILE, REMOVE_FILE = "decide", "note", "replace_file", "remove_file"

# What each event of the history says, for the dossier's page.
HISTORY_LABELS: Mapping[str, str] = {
    Action.DEPOSIT: "Pièces déposées (« J'ai fourni toutes mes pièces »)",
    Action.REOPEN: "Dépôt des pièces rouvert par une modification de l'inscription",
    Action.START: "Vérification commencée",
    Action.REQUEST_CORRECTION: "Corrections demandées",
    Action.CONFIRM_CORRECTIONS: "Corrections effectuées (« J'ai effectué les corrections demandées »)",
    Action.ACCEPT: "Dossier complet : inscription définitive",
    Action.DECLARE_INELIGIBLE: "Dossier déclaré irrecevable",
    Action.RESUME: "Vérification reprise",
    Action.WITHDRAW: "Désistement du candidat",
    DECIDE: "Décision sur une pièce",
    NOTE: "Note interne ajoutée",
    REPLACE_FILE: "Fichier ajouté en correction",
    REMOVE_FILE: "Fichier retiré en correction",
}


class PieceStatus(StrEnum):
    """Where a piece stands, from its files and its decision."""

    MANQUANTE = "manquante"  # no file, no decision
    A_VERIFIER = "a_verifier"  # files no decision covers (none yet, or they changed since)
    CONFORME = "conforme"
    NON_CONFORME = "non_conforme"  # refused, not replaced yet
    REMPLACEE = "remplacee"  # refused, then its files changed: to look at again
    NON_CONCERNE = "non_concerne"


STATUS_TEXT: Mapping[PieceStatus, str] = {
    PieceStatus.MANQUANTE: "aucun fichier",
    PieceStatus.A_VERIFIER: "à vérifier",
    PieceStatus.CONFORME: "conforme",
    PieceStatus.NON_CONFORME: "non conforme",
    PieceStatus.REMPLACEE: "remplacée, à revoir",
    PieceStatus.NON_CONCERNE: "non concerné",
}


@dataclass(frozen=True)
class Piece:
    """One required piece of a dossier, as a page or a mail shows it."""

    document: Document
    files: list[EnrolmentFile]
    decision: PieceDecision | None
    status: PieceStatus
    reason_label: str | None  # the refusal reason's label in the notice in force
    comment: str  # the office's message to the candidate ("" if none)


# ---------------------------------------------------------------------------------------------
# Reading


def review_of(doc: Mapping[str, Any]) -> Review | None:
    return cast(Review | None, doc.get("review"))


def pole_of_enrolment(notice: Notice, enrolment: Mapping[str, Any]) -> Pole | None:
    """The pôle that handles this dossier (its speciality's), or None if the notice has no such
    speciality any more. The web layer checks that the staff member may see this pôle."""
    return pole_of(notice, enrolment.get("data", {}))


def _status(files: list[EnrolmentFile], decision: PieceDecision | None) -> PieceStatus:
    if decision is None:
        return PieceStatus.A_VERIFIER if files else PieceStatus.MANQUANTE
    if decision["decision"] == NON_CONCERNE:
        return PieceStatus.NON_CONCERNE
    changed = {f["id"] for f in files} != set(decision["files"])
    if decision["decision"] == CONFORME:
        if not changed:
            return PieceStatus.CONFORME
        return PieceStatus.A_VERIFIER if files else PieceStatus.MANQUANTE
    return PieceStatus.REMPLACEE if changed and files else PieceStatus.NON_CONFORME


def reason_label(notice: Notice, reason_id: str | None) -> str | None:
    """A refusal reason's label; a reason the editors removed since keeps its id."""
    if not reason_id:
        return None
    reason = notice.review.refusal_reason(reason_id)
    return reason.label if reason else f"motif « {reason_id} »"


def pieces(doc: Mapping[str, Any], notice: Notice) -> list[Piece]:
    """Every piece this candidate must provide, in the notice's order, with its status."""
    review = review_of(doc)
    decisions = review["pieces"] if review else {}
    out = []
    for document in required_documents(notice, doc.get("data", {})):
        files = cast(list[EnrolmentFile], files_for(doc, document.id))
        decision = decisions.get(document.id)
        out.append(
            Piece(
                document=document,
                files=files,
                decision=decision,
                status=_status(files, decision),
                reason_label=reason_label(notice, decision["reason_id"]) if decision else None,
                comment=decision["comment"] if decision else "",
            )
        )
    return out


def piece(doc: Mapping[str, Any], notice: Notice, document_id: str) -> Piece:
    for p in pieces(doc, notice):
        if p.document.id == document_id:
            return p
    raise ReviewError("Cette pièce n'est pas demandée pour ce dossier.", status=404)


def current_correction(doc: Mapping[str, Any]) -> Correction | None:
    """The correction request in force: the latest one, while the dossier is incomplet."""
    review = review_of(doc)
    if review is None or not review["corrections"] or state_of(doc) is not State.INCOMPLET:
        return None
    return review["corrections"][-1]


# ---------------------------------------------------------------------------------------------
# The correction deadline


def correction_deadline(now: datetime, notice: Notice) -> datetime:
    """The rule: ``review.correction_days`` days counted from the day of the request in the
    notice's time zone (Europe/Paris), the deadline being the end of the last day, 23:59:59 in
    that zone, whatever the changes of time in between (a request on 25 March 2026 with 10 days
    ends on 4 April 2026 at 23:59:59 summer time, 21:59:59 UTC). It is fixed when the request is
    made: a later edit of ``correction_days`` does not move it. The candidate may replace pieces
    up to the last second of that day (``before_deadline``)."""
    last_day = now.astimezone(notice.tz).date() + timedelta(days=notice.review.correction_days)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=notice.tz)


def before_deadline(correction: Correction, now: datetime) -> bool:
    """Still within the deadline: up to 23:59:59.999… of its last day."""
    return now < from_iso(correction["deadline"]) + timedelta(seconds=1)


def deadline_text(notice: Notice, deadline: str | datetime) -> str:
    """« samedi 4 avril 2026 à 23 h 59 », in the notice's time zone."""
    when = from_iso(deadline) if isinstance(deadline, str) else deadline
    return datetime_fr(when.astimezone(notice.tz))


def _deadline_passed(doc: Mapping[str, Any], notice: Notice, correction: Correction) -> ReviewError:
    return ReviewError(
        f"Le délai de correction a pris fin le {deadline_text(notice, correction['deadline'])} "
        f"(heure de Paris) : les pièces ne peuvent plus être remplacées en ligne. Pour toute "
        f"question, {contact_sentence(pole_of_enrolment(notice, doc), notice)}."
    )


# ---------------------------------------------------------------------------------------------
# Texts typed by the office


LINE_BREAKS = ("\r\n", "\r", "\x85", "\u2028", "\u2029")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(value: Any, limit: int, what: str, *, feminine: bool = False) -> str:
    """A text typed by the office (``what``: « Le message au candidat »), normalised (NFC, line
    breaks as ``\\n``, trimmed); refused (400) if it holds a control character other than a line
    break (a tab, a bell, a direction override…) or is longer than ``limit`` characters
    (``feminine``: « La note est trop longue »)."""
    text = str(value or "")
    for brk in LINE_BREAKS:
        text = text.replace(brk, "\n")
    text = unicodedata.normalize("NFC", text).strip()
    for c in text:
        if c != "\n" and (unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") or c in BIDI_CONTROLS):
            raise ReviewError(
                f"{what} contient un caractère de contrôle ou invisible (U+{ord(c):04X}) : "
                "retirez-le ; seuls les retours à la ligne sont acceptés.",
                status=400,
            )
    if len(text) > limit:
        long = "longue" if feminine else "long"
        raise ReviewError(f"{what} est trop {long} : {len(text)} caractères, {limit} au plus.", status=400)
    return text


# ---------------------------------------------------------------------------------------------
# The review part and its history


def _chain(previous: str, event: Mapping[str, Any]) -> str:
    body = [event["at"], event["actor"], event["actor_id"], event["action"], event["details"]]
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()


def history_intact(doc: Mapping[str, Any]) -> bool:
    """No event of the history was changed, removed or reordered since it was written (each
    event's hash covers the previous one's). Tamper-evident against an edit of one event, not a
    signature: whoever can rewrite the whole store can rewrite the chain."""
    review = review_of(doc)
    previous = ""
    for event in review["history"] if review else []:
        if event.get("hash") != _chain(previous, event):
            return False
        previous = event["hash"]
    return True


def _record(
    review: Review, now: datetime, actor: Actor, actor_id: str, action: str, details: dict[str, Any]
) -> None:
    history = review["history"]
    event: dict[str, Any] = {
        "at": to_iso(now),
        "actor": actor.value,
        "actor_id": actor_id,
        "action": str(action),
        "details": details,
    }
    event["hash"] = _chain(history[-1]["hash"] if history else "", event)
    history.append(cast(HistoryEvent, event))
    review["updated_at"] = to_iso(now)


def _last_state(review: Review) -> State:
    for event in reversed(review["history"]):
        if "to" in event["details"]:
            return State(event["details"]["to"])
    return State.BROUILLON


def _ensure_review(doc: Enrolment, now: datetime) -> Review:
    """The review part, created at the office's first action, with the candidate's side of the
    history brought up to date: a deposit (or a reopening) made by the enrolment feature since
    the last event is recorded first, as the candidate's, at the time it happened."""
    state = state_of(doc)
    review = doc.get("review")
    if review is None:
        review = {
            "state": state.value,
            "pieces": {},
            "corrections": [],
            "ineligibility_reason": None,
            "history": [],
            "notes": [],
            "updated_at": to_iso(now),
        }
        doc["review"] = review
    if state in CANDIDATE_SIDE:
        last = _last_state(review)
        if last is not state:
            action = Action.DEPOSIT if state is State.DEPOSE else Action.REOPEN
            at = from_iso(doc["completed_at"]) if action is Action.DEPOSIT and "completed_at" in doc else now
            details = {"from": last.value, "to": state.value}
            _record(review, at, Actor.CANDIDATE, doc["account_id"], action, details)
        review["state"] = state.value
    return review


def _transition(
    doc: Enrolment, action: Action, actor: Actor, actor_id: str, now: datetime, **details: Any
) -> Review:
    """Move the dossier (the checks are done), recording from where to where and ``details``."""
    before = state_of(doc)
    after = next_state(before, action, actor)
    review = _ensure_review(doc, now)
    review["state"] = after.value
    _record(review, now, actor, actor_id, action, {"from": before.value, "to": after.value, **details})
    return review


def _own(doc: Mapping[str, Any], account_id: str) -> None:
    """A candidate acts on their own dossier only: anybody else's does not exist (404)."""
    if doc.get("account_id") != account_id:
        raise ReviewError("Ce dossier n'existe pas.", status=404)


def _names(items: list[Piece]) -> str:
    return " ; ".join(f"« {p.document.name} »" for p in items)


# ---------------------------------------------------------------------------------------------
# The office's actions


def start(doc: Enrolment, staff_id: str, now: datetime) -> Enrolment:
    """A staff member starts checking a dossier déposé."""
    _transition(doc, Action.START, Actor.STAFF, staff_id, now)
    return doc


def _decidable(doc: Mapping[str, Any], notice: Notice, document_id: str, decision: str) -> Piece:
    """The piece to decide on, if the dossier's state and the piece's files allow ``decision``."""
    state = state_of(doc)
    if state not in (State.EN_VERIFICATION, State.INCOMPLET):
        hint = " Commencez d'abord la vérification." if state is State.DEPOSE else ""
        raise ReviewError(
            "Une pièce ne se décide que sur un dossier en vérification (ou incomplet, pour revoir une "
            f"pièce remplacée) : ce dossier est {described(state)}.{hint}"
        )
    if decision not in DECISIONS:
        raise ReviewError(
            "Décision inconnue : choisissez conforme, non conforme ou non concerné.", status=400
        )
    target = piece(doc, notice, document_id)
    if state is State.INCOMPLET and target.status is not PieceStatus.REMPLACEE:
        raise ReviewError(
            "Le dossier attend les corrections du candidat : seule une pièce refusée puis remplacée "
            f"peut être revue maintenant, ce que « {target.document.name} » n'est pas. Pour décider "
            "d'une autre pièce, reprenez d'abord la vérification."
        )
    if decision != NON_CONCERNE and not target.files:
        raise ReviewError(
            f"Aucun fichier n'a été déposé pour « {target.document.name} » : cette pièce ne peut être "
            "que « non concernée »."
        )
    return target


def _reason_and_text(
    notice: Notice, decision: str, reason_id: str | None, comment: str
) -> tuple[Reason | None, str]:
    """The refusal reason (non conforme only, from the notice's list) and the cleaned message
    to the candidate (not with conforme)."""
    reason = None
    if decision == NON_CONFORME:
        reason = notice.review.refusal_reason(reason_id or "")
        if reason is None:
            choices = " ; ".join(r.label for r in notice.review.refusal_reasons)
            raise ReviewError(f"Choisissez le motif du refus dans la liste : {choices}.", status=400)
    elif reason_id:
        raise ReviewError("Un motif de refus ne s'indique que pour une pièce non conforme.", status=400)
    text = clean_text(comment, MAX_COMMENT, "Le message au candidat")
    if text and decision == CONFORME:
        raise ReviewError(
            "Le message au candidat accompagne une pièce non conforme ou non concernée : pour une pièce "
            "conforme, laissez-le vide.",
            status=400,
        )
    return reason, text


def decide(
    doc: Enrolment,
    notice: Notice,
    staff_id: str,
    now: datetime,
    document_id: str,
    decision: str,
    *,
    reason_id: str | None = None,
    comment: str = "",
) -> Enrolment:
    """A decision on one required piece: only in ``en_verification``, or in ``incomplet`` on a
    refused piece the candidate has replaced since. ``conforme`` and ``non_conforme`` need a
    file; ``non_conforme`` a reason of the notice's list; the message to the candidate
    (``comment``, at most MAX_COMMENT characters) goes with non_conforme or non_concerne."""
    target = _decidable(doc, notice, document_id, decision)
    reason, text = _reason_and_text(notice, decision, reason_id, comment)
    review = _ensure_review(doc, now)
    review["pieces"][document_id] = {
        "document_id": document_id,
        "decision": decision,
        "reason_id": reason.id if reason else None,
        "comment": text,
        "files": [f["id"] for f in target.files],
        "at": to_iso(now),
        "staff_id": staff_id,
    }
    details: dict[str, Any] = {"document_id": document_id, "decision": decision}
    if reason is not None:
        details["reason_id"] = reason.id
    _record(review, now, Actor.STAFF, staff_id, DECIDE, details)
    return doc


def request_correction(doc: Enrolment, notice: Notice, staff_id: str, now: datetime) -> Enrolment:
    """Ask the candidate to replace the pieces non conformes (at least one): the dossier becomes
    ``incomplet`` until the deadline of ``correction_deadline``. Asked again while incomplet, it
    is a new request with a new deadline, for the pieces non conformes at that moment."""
    next_state(state_of(doc), Action.REQUEST_CORRECTION, Actor.STAFF)
    refused = [p for p in pieces(doc, notice) if p.status is PieceStatus.NON_CONFORME]
    if not refused:
        raise ReviewError(
            "Aucune pièce n'est non conforme : il n'y a rien à faire corriger. Refusez d'abord la ou "
            "les pièces à remplacer, avec leur motif."
        )
    deadline = to_iso(correction_deadline(now, notice))
    ids = [p.document.id for p in refused]
    review = _transition(
        doc, Action.REQUEST_CORRECTION, Actor.STAFF, staff_id, now, pieces=ids, deadline=deadline
    )
    review["corrections"].append(
        {
            "requested_at": to_iso(now),
            "staff_id": staff_id,
            "deadline": deadline,
            "pieces": ids,
            "confirmed_at": None,
        }
    )
    return doc


def accept(doc: Enrolment, notice: Notice, staff_id: str, now: datetime) -> Enrolment:
    """« Inscription définitive »: only when every required piece is conforme or non concerné
    (a decision on the files present now)."""
    next_state(state_of(doc), Action.ACCEPT, Actor.STAFF)
    pending = [
        p for p in pieces(doc, notice) if p.status not in (PieceStatus.CONFORME, PieceStatus.NON_CONCERNE)
    ]
    if pending:
        listed = " ; ".join(f"« {p.document.name} » ({STATUS_TEXT[p.status]})" for p in pending)
        raise ReviewError(
            "Le dossier ne peut pas être accepté : chaque pièce doit être conforme ou non concernée. "
            f"Reste : {listed}."
        )
    _transition(doc, Action.ACCEPT, Actor.STAFF, staff_id, now)
    return doc


def declare_ineligible(
    doc: Enrolment, notice: Notice, staff_id: str, now: datetime, reason_id: str
) -> Enrolment:
    """« Irrecevable », with a reason of the notice's ``review.ineligibility_reasons``."""
    next_state(state_of(doc), Action.DECLARE_INELIGIBLE, Actor.STAFF)
    reason = notice.review.ineligibility_reason(reason_id)
    if reason is None:
        choices = " ; ".join(r.label for r in notice.review.ineligibility_reasons)
        raise ReviewError(f"Choisissez le motif d'irrecevabilité dans la liste : {choices}.", status=400)
    review = _transition(doc, Action.DECLARE_INELIGIBLE, Actor.STAFF, staff_id, now, reason_id=reason.id)
    review["ineligibility_reason"] = reason.id
    return doc


def resume(doc: Enrolment, staff_id: str, now: datetime) -> Enrolment:
    """The office takes a dossier back in hand (incomplet after its deadline, or a decision
    to correct on a complet or irrecevable one): it is ``en_verification`` again."""
    review = _transition(doc, Action.RESUME, Actor.STAFF, staff_id, now)
    review["ineligibility_reason"] = None
    return doc


def add_note(doc: Enrolment, staff_id: str, text: str, now: datetime) -> Enrolment:
    """A private note of the office (at most MAX_NOTE characters), in any state. The history
    records that a note was added, not its text."""
    body = clean_text(text, MAX_NOTE, "La note", feminine=True)
    if not body:
        raise ReviewError("La note est vide : écrivez-la avant de l'enregistrer.", status=400)
    review = _ensure_review(doc, now)
    note_id = f"n{len(review['notes']) + 1}"  # notes are never removed: the rank is unique
    review["notes"].append({"id": note_id, "at": to_iso(now), "staff_id": staff_id, "text": body})
    _record(review, now, Actor.STAFF, staff_id, NOTE, {"note_id": note_id})
    return doc


# ---------------------------------------------------------------------------------------------
# The candidate's actions


def confirm_corrections(doc: Enrolment, notice: Notice, account_id: str, now: datetime) -> Enrolment:
    """« J'ai effectué les corrections demandées »: before the deadline, once every refused
    piece of the request has been replaced; the dossier goes back to ``en_verification``."""
    _own(doc, account_id)
    next_state(state_of(doc), Action.CONFIRM_CORRECTIONS, Actor.CANDIDATE)
    correction = current_correction(doc)
    assert correction is not None  # incomplet always follows a request
    if not before_deadline(correction, now):
        raise _deadline_passed(doc, notice, correction)
    left = [
        p
        for p in pieces(doc, notice)
        if p.document.id in correction["pieces"] and p.status is PieceStatus.NON_CONFORME
    ]
    if left:
        raise ReviewError(
            f"Il reste à remplacer : {_names(left)}. Déposez un nouveau fichier pour chacune, puis "
            "validez de nouveau."
        )
    replaced = [
        p.document.id
        for p in pieces(doc, notice)
        if p.document.id in correction["pieces"] and p.status is PieceStatus.REMPLACEE
    ]
    _transition(doc, Action.CONFIRM_CORRECTIONS, Actor.CANDIDATE, account_id, now, pieces=replaced)
    correction["confirmed_at"] = to_iso(now)
    return doc


def withdraw(doc: Enrolment, account_id: str, now: datetime) -> Enrolment:
    """The candidate withdraws: the dossier is closed (``desiste``), for good."""
    _own(doc, account_id)
    _transition(doc, Action.WITHDRAW, Actor.CANDIDATE, account_id, now)
    return doc


def _correctable(doc: Mapping[str, Any], notice: Notice, document_id: str, now: datetime) -> Piece:
    """The piece, if the candidate may change its files in answer to the correction request."""
    correction = current_correction(doc)
    if correction is None:
        raise ReviewError(
            "Aucune correction n'est demandée sur votre dossier : il n'y a pas de pièce à remplacer."
        )
    if not before_deadline(correction, now):
        raise _deadline_passed(doc, notice, correction)
    target = piece(doc, notice, document_id)
    if document_id not in correction["pieces"]:
        raise ReviewError(
            "Seules les pièces refusées par le pôle peuvent être remplacées : "
            f"« {target.document.name} » n'en fait pas partie."
        )
    if target.status not in (PieceStatus.NON_CONFORME, PieceStatus.REMPLACEE):
        raise ReviewError(
            f"Le pôle a revu « {target.document.name} » depuis la demande ({STATUS_TEXT[target.status]}) : "
            "cette pièce ne se remplace plus."
        )
    return target


def check_can_replace(
    doc: Mapping[str, Any], notice: Notice, document_id: str, size: int, now: datetime
) -> None:
    """Everything that refuses a file sent in answer to a correction request, checked before the
    file is received and again inside the atomic write: the dossier is incomplet, the deadline
    has not passed (``registration.closes`` and ``documents_deadline`` do not apply here), the
    piece is one the request refused and the office has not accepted since, and the notice's
    upload limits hold."""
    target = _correctable(doc, notice, document_id, now)
    check_quotas(
        doc,
        len(target.files),
        size,
        notice,
        refuse=ReviewError,
        piece_remedy="retirez le fichier refusé pour en ajouter un autre",
        total_remedy="retirez le fichier refusé ou réduisez la taille du nouveau",
    )


def add_replacement(
    doc: Enrolment, notice: Notice, account_id: str, now: datetime, document_id: str, file: Mapping[str, Any]
) -> Enrolment:
    """A new file for a refused piece (``file``: id, display_name, stored_name, size, sha256,
    media_type, as ``EnrolmentService.upload`` stores it)."""
    _own(doc, account_id)
    check_can_replace(doc, notice, document_id, int(file["size"]), now)
    doc["files"].append(cast(EnrolmentFile, {**file, "document_id": document_id, "uploaded_at": to_iso(now)}))
    review = _ensure_review(doc, now)
    details = {"document_id": document_id, "file_id": file["id"]}
    _record(review, now, Actor.CANDIDATE, account_id, REPLACE_FILE, details)
    return doc


def remove_replacement(
    doc: Enrolment, notice: Notice, account_id: str, now: datetime, file_id: str
) -> Enrolment:
    """Remove a file of a refused piece (the refused one, or a replacement sent by mistake),
    under the rules of ``check_can_replace`` but its limits. The caller deletes the file itself
    once the write is done."""
    _own(doc, account_id)
    found = next((f for f in doc.get("files", []) if f["id"] == file_id), None)
    if found is None:
        raise ReviewError("Ce fichier n'existe pas (il a peut-être déjà été retiré).", status=404)
    _correctable(doc, notice, found["document_id"], now)
    doc["files"] = [f for f in doc["files"] if f["id"] != file_id]
    review = _ensure_review(doc, now)
    details = {"document_id": found["document_id"], "file_id": file_id}
    _record(review, now, Actor.CANDIDATE, account_id, REMOVE_FILE, details)
    return doc


# ---------------------------------------------------------------------------------------------
# A reminder from the office (« Relancer » on a selection of the list)


@dataclass(frozen=True)
class Reminder:
    """What a candidate is reminded of: the pieces to provide (missing, or refused and not
    replaced), or only the final click; and by when."""

    pieces: list[Piece]
    confirm: str  # the button still to click, « J'ai fourni toutes mes pièces » or the corrections'
    deadline: str  # in French, Paris time


def reminder(doc: Mapping[str, Any], notice: Notice, now: datetime) -> Reminder:
    """What to remind this candidate of now; ReviewError when there is nothing they can do (the
    dossier is with the office, or its deadline passed): the office sends no pointless mail."""
    state = state_of(doc)
    if state is State.BROUILLON:
        if now > notice.documents_deadline_at:
            raise ReviewError(
                "La date limite de dépôt des pièces est passée : "
                "le candidat ne peut plus compléter ce dossier."
            )
        missing = [p for p in pieces(doc, notice) if p.status is PieceStatus.MANQUANTE]
        deadline = deadline_text(notice, notice.documents_deadline_at)
        return Reminder(missing, "J'ai fourni toutes mes pièces", deadline)
    correction = current_correction(doc)
    if state is State.INCOMPLET and correction is not None:
        if not before_deadline(correction, now):
            raise ReviewError(
                "Le délai de correction est passé : le candidat ne peut plus remplacer ses pièces."
            )
        refused = [p for p in pieces(doc, notice) if p.status is PieceStatus.NON_CONFORME]
        deadline = deadline_text(notice, correction["deadline"])
        return Reminder(refused, "J'ai effectué les corrections demandées", deadline)
    raise ReviewError(f"Rien à relancer : le dossier est {described(state)}.")
