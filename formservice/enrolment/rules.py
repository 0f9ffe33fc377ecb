"""The enrolment: what « M'inscrire » records, and the rules of each change.

Plain functions over plain data (the stored document is a dict). The form itself is read by
``enrolment.form``. The mutators (`save`, `add_file`, `remove_file`, `complete`, `reopen`,
`request_address_change`) are meant to run inside the store's atomic update, so
the version check and the deadline are checked in the same step as the write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from formservice.clock import from_iso, to_iso
from formservice.enrolment.deadlines import (
    Phase,
    contact_sentence,
    documents_window,
    ensure_documents_open,
    ensure_registration_open,
)
from formservice.enrolment.form import (
    ADDRESS_FIELDS,
    IDENTITY_FIELDS,
    LABELS,
    STATUSES,
    FormResult,
    age_on,
    read_address,
    read_form,
)
from formservice.enrolment.quotas import check_quotas
from formservice.enrolment.records import STATUS_COMPLETE, STATUS_SAVED, Enrolment, EnrolmentFile
from formservice.errors import Conflict
from formservice.frenchdates import date_fr, datetime_fr
from formservice.notice import Document, Notice, Pole
from formservice.review.states import Action, Actor, State, candidate_may_edit, next_state, state_of

# Read the forms with ``enrolment.form``; these names are the rules' vocabulary too.
__all__ = [
    "ADDRESS_FIELDS",
    "IDENTITY_FIELDS",
    "LABELS",
    "STATUSES",
    "STATUS_COMPLETE",
    "STATUS_SAVED",
    "FormResult",
    "age_on",
    "read_address",
    "read_form",
]


class EnrolmentError(Conflict):
    """A change refused by a rule; `message` is shown to the candidate as is (409, or 404 when
    the thing to change does not exist)."""


class VersionConflict(EnrolmentError):
    """The form was based on another version; ``current`` is the stored one (None if unknown)."""

    def __init__(self, current: Mapping[str, Any] | None = None) -> None:
        self.current = current
        super().__init__(
            "Votre pré-inscription a été modifiée entre-temps (dans un autre onglet ou sur un autre "
            "appareil) : rien n'a été enregistré. Vos saisies sont conservées ci-dessous ; "
            "vérifiez-les, puis cliquez de nouveau sur « Enregistrer » pour qu'elles remplacent la "
            "version enregistrée."
        )


# ---------------------------------------------------------------------------------------------
# What the candidate must provide


def required_documents(notice: Notice, data: Mapping[str, Any]) -> list[Document]:
    """The supporting documents this candidate needs: per exam, then each condition computed
    from what the form already says (age from the birth date, status, accommodation)."""
    out = []
    for doc in notice.documents_for_exam(str(data.get("exam", ""))):
        cond = doc.condition
        if cond is not None:
            if cond.age_below is not None:
                try:
                    birth = date.fromisoformat(str(data.get("birth_date", "")))
                except ValueError:
                    continue
                if age_on(birth, notice.registration.age_reference_date) >= cond.age_below:
                    continue
            if cond.status is not None and data.get("status") != cond.status:
                continue
            if cond.accommodation is not None and bool(data.get("accommodation")) != cond.accommodation:
                continue
        out.append(doc)
    return out


def files_for(doc: Mapping[str, Any], document_id: str) -> list[dict[str, Any]]:
    return [f for f in doc.get("files", []) if f["document_id"] == document_id]


def missing_documents(notice: Notice, doc: Mapping[str, Any]) -> list[Document]:
    return [d for d in required_documents(notice, doc.get("data", {})) if not files_for(doc, d.id)]


def pole_of(notice: Notice, data: Mapping[str, Any]) -> Pole | None:
    found = notice.speciality(str(data.get("speciality", "")))
    return notice.pole(found[1].pole) if found else None


# ---------------------------------------------------------------------------------------------
# Changes (mutators for the store's atomic update)


_stamp = to_iso


def display_value(name: str, value: Any, notice: Notice) -> str:
    """A field as the candidate reads it: names rather than ids, dates in French, oui/non."""
    if name == "accommodation":
        return "oui" if value else "non"
    if name == "status":
        return STATUSES.get(str(value), str(value or ""))
    if name == "exam":
        exam = notice.exam(str(value))
        return f"{exam.id} — {exam.name}" if exam else str(value or "")
    if name == "speciality":
        found = notice.speciality(str(value))
        return found[1].name if found else str(value or "")
    if name == "birth_date" and value:
        try:
            return date_fr(date.fromisoformat(str(value)), weekday=False)
        except ValueError:
            return str(value)
    return str(value or "")


def changes(old: Mapping[str, Any], new: Mapping[str, Any], notice: Notice) -> list[tuple[str, str, str]]:
    """(label, before, after) for every field that changed, for the confirmation mail."""
    return [
        (
            LABELS[name],
            display_value(name, old.get(name), notice) or "—",
            display_value(name, new.get(name), notice) or "—",
        )
        for name in LABELS
        if (old.get(name) or "") != (new.get(name) or "")
    ]


def new_enrolment(enrolment_id: str, key: str, account_id: str, notice: Notice, now: datetime) -> Enrolment:
    return {
        "id": enrolment_id,
        "key": key,
        "account_id": account_id,
        "session": notice.session.name,
        "status": STATUS_SAVED,
        "version": 0,
        "data": {},
        "created_at": _stamp(now),
        "updated_at": _stamp(now),
        "history": [],
        "files": [],
        "address_changes": [],
    }


# What the candidate reads once the office has taken the dossier in hand (« … : votre
# pré-inscription ne peut plus être modifiée en ligne »).
TAKEN_IN_HAND: dict[State, str] = {
    State.EN_VERIFICATION: "Le pôle vérifie votre dossier",
    State.INCOMPLET: "Le pôle a vérifié votre dossier et vous demande des corrections",
    State.COMPLET: "Votre dossier est complet : votre inscription est définitive",
    State.IRRECEVABLE: "Votre dossier a été déclaré irrecevable",
    State.DESISTE: "Vous vous êtes désisté ou désistée : votre dossier est clos",
}
ADDRESS_STILL_OPEN = "Un changement d'adresse se signale toujours en ligne, dans « Mes documents »."


def edit_refusal(doc: Mapping[str, Any], notice: Notice) -> str | None:
    """Why the candidate may no longer change the enrolment (« M'inscrire »), or None while they
    may: the dossier is theirs (brouillon or déposé) until the office starts checking it
    (``review.states.candidate_may_edit``); from then on they ask the pôle."""
    state = state_of(doc)
    if candidate_may_edit(state):
        return None
    contact = contact_sentence(pole_of(notice, doc.get("data", {})), notice)
    return (
        f"{TAKEN_IN_HAND[state]} : votre pré-inscription ne peut plus être modifiée en ligne. Pour "
        f"corriger une information, {contact}. {ADDRESS_STILL_OPEN}"
    )


def _ensure_not_final(doc: Mapping[str, Any], notice: Notice) -> None:
    """Files are frozen once « J'ai fourni toutes mes pièces » is validated: déposé, the
    candidate may reopen them (``reopen``); once the office started, only the pôle can help."""
    if doc.get("status") != STATUS_COMPLETE:
        return
    state = state_of(doc)
    if state is State.DEPOSE:
        raise EnrolmentError(
            "Vous avez validé « J'ai fourni toutes mes pièces » : vos fichiers sont transmis. Pour en "
            "changer un, cliquez d'abord sur « Modifier mes pièces » (possible tant que le pôle n'a "
            "pas commencé la vérification), puis validez de nouveau."
        )
    contact = contact_sentence(pole_of(notice, doc.get("data", {})), notice)
    raise EnrolmentError(
        f"{TAKEN_IN_HAND[state]} : vos pièces justificatives ne peuvent plus être modifiées en ligne. "
        f"Pour toute question, {contact}."
    )


def required_ids(notice: Notice, data: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(d.id for d in required_documents(notice, data))


@dataclass(frozen=True)
class Saved:
    """What « Enregistrer » did."""

    enrolment: Enrolment
    changes: list[tuple[str, str, str]]  # (label, before, after), for the mail
    pieces_changed: bool  # the pieces asked of the candidate are not the same as before
    reopened: bool  # the dossier was déposé: it is back to brouillon, to validate again


def save(
    doc: Enrolment, data: dict[str, Any], expected_version: int, notice: Notice, now: datetime
) -> Enrolment:
    """« Enregistrer »: refused outside the window, once the office has taken the dossier in hand,
    or when the record changed since the form was displayed. Returns the new document."""
    return save_with_changes(doc, data, expected_version, notice, now).enrolment


def save_with_changes(
    doc: Enrolment, data: dict[str, Any], expected_version: int, notice: Notice, now: datetime
) -> Saved:
    """``save``, also saying what changed (computed once). The enrolment stays editable after
    « J'ai fourni toutes mes pièces », until ``registration.closes``: a change that alters the
    pieces asked reopens their deposit (déposé → brouillon), refused once ``documents_deadline``
    has passed, since the candidate could not validate them again."""
    pole = pole_of(notice, doc.get("data") or data)
    ensure_registration_open(notice, now, pole)
    if doc["version"] != expected_version:
        raise VersionConflict(doc)
    refusal = edit_refusal(doc, notice)
    if refusal is not None:
        raise EnrolmentError(refusal)
    diff = changes(current_data(doc), data, notice)  # an address reported since is no change
    if not diff and doc["version"] > 0:
        return Saved(doc, diff, pieces_changed=False, reopened=False)
    pieces_changed = doc["version"] > 0 and required_ids(notice, doc["data"]) != required_ids(notice, data)
    reopened = pieces_changed and doc.get("status") == STATUS_COMPLETE
    if reopened:
        if documents_window(notice, now) is not Phase.OPEN:
            raise EnrolmentError(_too_late_to_reopen(notice, pole))
        _reopen(doc)
    doc["data"] = data
    doc["version"] += 1
    doc["updated_at"] = _stamp(now)
    doc["history"].append({"version": doc["version"], "at": _stamp(now), "changes": [c[0] for c in diff]})
    return Saved(doc, diff, pieces_changed=pieces_changed, reopened=reopened)


def _too_late_to_reopen(notice: Notice, pole: Pole | None) -> str:
    deadline = datetime_fr(notice.registration.documents_deadline)
    return (
        "Cette modification changerait la liste de vos pièces justificatives, dont le dépôt est clos "
        f"depuis le {deadline} (heure de Paris) : elle n'est pas enregistrée. Pour toute question, "
        f"{contact_sentence(pole, notice)}."
    )


def _reopen(doc: Enrolment) -> None:
    """Déposé → brouillon (the state machine's ``reopen``): the receipt no longer holds."""
    next_state(State.DEPOSE, Action.REOPEN, Actor.CANDIDATE)
    doc["status"] = STATUS_SAVED
    doc.pop("completed_at", None)
    doc.pop("receipt", None)


def reopen(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
    """« Modifier mes pièces » after « J'ai fourni toutes mes pièces »: until
    ``documents_deadline``, while the office has not started checking (déposé only)."""
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    state = state_of(doc)
    if state is State.BROUILLON:
        raise EnrolmentError(
            "Vos pièces ne sont pas encore validées : vous pouvez déjà ajouter ou supprimer des fichiers."
        )
    if state is not State.DEPOSE:
        contact = contact_sentence(pole_of(notice, doc.get("data", {})), notice)
        raise EnrolmentError(
            f"{TAKEN_IN_HAND[state]} : vos pièces justificatives ne peuvent plus être modifiées en "
            f"ligne. Pour toute question, {contact}."
        )
    _reopen(doc)
    return doc


def check_can_add(doc: Mapping[str, Any], document_id: str, size: int, notice: Notice, now: datetime) -> None:
    """Everything that would refuse an upload, checked before the file is received and again
    inside the atomic write."""
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    _ensure_not_final(doc, notice)
    if doc.get("version", 0) == 0:
        raise EnrolmentError("Enregistrez d'abord votre pré-inscription dans « M'inscrire ».")
    if document_id not in {d.id for d in required_documents(notice, doc.get("data", {}))}:
        raise EnrolmentError("Cette pièce n'est pas demandée pour votre inscription.", status=404)
    check_quotas(
        doc,
        len(files_for(doc, document_id)),
        size,
        notice,
        refuse=EnrolmentError,
        piece_remedy="supprimez-en un pour en ajouter un autre",
        total_remedy="supprimez un fichier ou réduisez sa taille",
    )


def add_file(
    doc: Enrolment, document_id: str, file: Mapping[str, Any], notice: Notice, now: datetime
) -> Enrolment:
    """« Ajouter »: `file` holds id, display_name, stored_name, size, sha256, media_type."""
    check_can_add(doc, document_id, int(file["size"]), notice, now)
    doc["files"].append(cast(EnrolmentFile, {**file, "document_id": document_id, "uploaded_at": _stamp(now)}))
    return doc


def remove_file(doc: Enrolment, file_id: str, notice: Notice, now: datetime) -> Enrolment:
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    _ensure_not_final(doc, notice)
    if not any(f["id"] == file_id for f in doc["files"]):
        raise EnrolmentError("Ce fichier n'existe pas (il a peut-être déjà été supprimé).", status=404)
    doc["files"] = [f for f in doc["files"] if f["id"] != file_id]
    return doc


def stray_files(notice: Notice, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Files of pieces no longer asked (the enrolment changed since they were sent): kept, in
    case the change is undone, shown apart, left out of the receipt."""
    asked = required_ids(notice, doc.get("data", {}))
    return [f for f in doc.get("files", []) if f["document_id"] not in asked]


def complete(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
    """« J'ai fourni toutes mes pièces »: every required document has a file; freezes them. The
    receipt lists the files of the pieces asked."""
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    _ensure_not_final(doc, notice)
    if doc.get("version", 0) == 0:
        raise EnrolmentError("Enregistrez d'abord votre pré-inscription dans « M'inscrire ».")
    missing = missing_documents(notice, doc)
    if missing:
        raise EnrolmentError("Il manque encore : " + " ; ".join(d.name for d in missing) + ".")
    asked = required_ids(notice, doc.get("data", {}))
    doc["status"] = STATUS_COMPLETE
    doc["completed_at"] = _stamp(now)
    doc["receipt"] = {
        "at": _stamp(now),
        "version": doc["version"],
        "files": [
            {
                "document_id": f["document_id"],
                "display_name": f["display_name"],
                "size": f["size"],
                "sha256": f["sha256"],
            }
            for f in doc["files"]
            if f["document_id"] in asked
        ],
    }
    return doc


ADDRESS_CHANGES_PER_DAY = 3  # each one mails the pôle: a few a day is plenty for a real move
ADDRESS_CHANGES_KEPT = 20  # the record keeps the latest ones (the pôle has the mails)


def address_of(data: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(data.get(name) or "") for name in ADDRESS_FIELDS}


def current_address(doc: Mapping[str, Any]) -> dict[str, str]:
    """The address in force: the last change reported since the last « Enregistrer » (the pôle
    has it by mail), else the enrolment's own. A save made since carries it: « M'inscrire » is
    filled with ``current_data``."""
    changes = doc.get("address_changes") or []
    if changes and changes[-1].get("version") == doc.get("version"):
        return address_of(changes[-1]["address"])
    return address_of(doc.get("data", {}))


def current_data(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The enrolment as every page and document shows it: its data, with the address in force."""
    return {**doc.get("data", {}), **current_address(doc)}


def request_address_change(doc: Enrolment, address: dict[str, str], now: datetime) -> Enrolment:
    """« Signaler un changement d'adresse », allowed at any time (even once the office has the
    dossier: the pôle is mailed the change). The change is kept with the address it replaced and
    is the address in force (``current_address``) on every page and document; the enrolment's
    own data and version are left as they are, for « Enregistrer » alone writes them. At most
    ADDRESS_CHANGES_PER_DAY in 24 hours; the address in force itself is not a change."""
    previous = current_address(doc)
    if previous == address_of(address):
        raise EnrolmentError(
            "Cette adresse est déjà celle de votre pré-inscription : rien n'a été transmis.", status=400
        )
    changes = doc.setdefault("address_changes", [])
    recent = [c for c in changes if now - from_iso(c["at"]) < timedelta(days=1)]
    if len(recent) >= ADDRESS_CHANGES_PER_DAY:
        raise EnrolmentError(
            f"Vous avez déjà signalé {len(recent)} changements d'adresse en 24 heures : le pôle les a "
            "bien reçus. Pour une autre correction, attendez demain ou contactez directement le pôle.",
            status=429,
        )
    changes.append({"at": _stamp(now), "address": address, "previous": previous, "version": doc["version"]})
    del changes[:-ADDRESS_CHANGES_KEPT]
    return doc


def starting_point(previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A returning candidate (last session) gets last session's identity and address."""
    if not previous:
        return {}
    return {k: v for k, v in previous.get("data", {}).items() if k in IDENTITY_FIELDS}


def registration_number(notice: Notice, n: int) -> str:
    """The registration number given at the first save: the session's year and a sequence
    number, short enough to dictate on the phone (« 2026-000123 »)."""
    year = re.search(r"\b(20\d\d)\b", str(notice.session.name))
    return f"{year.group(1) if year else notice.closes_at.year}-{n:06d}"


def number_of(doc: Mapping[str, Any]) -> str:
    """How a dossier is named to people: its registration number (the id of a dossier saved
    before numbers were given)."""
    return str(doc.get("number") or doc["id"])
