"""The enrolment: what « M'inscrire » records, and the rules of each change.

Plain functions over plain data (the stored document is a dict). The mutators (`save`,
`add_file`, `remove_file`, `complete`) are meant to run inside the store's atomic update, so
the version check and the deadline are checked in the same step as the write.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from formservice.clock import from_iso, to_iso
from formservice.enrolment.deadlines import ensure_documents_open, ensure_registration_open
from formservice.enrolment.records import Enrolment, EnrolmentFile
from formservice.errors import Conflict
from formservice.frenchdates import date_fr
from formservice.notice import Document, Notice, Pole
from formservice.phones import format_phone

STATUS_SAVED = "saved"
STATUS_COMPLETE = "complete"

STATUSES = {
    "individuel": "Candidat individuel",
    "distance": "Inscrit à une formation d'enseignement à distance",
}

# Field -> French label, in the order of the form. Also used to list what changed.
LABELS: dict[str, str] = {
    "exam": "Examen",
    "speciality": "Spécialité",
    "status": "Situation",
    "organisation": "Organisme de formation à distance",
    "last_name": "Nom de naissance",
    "usage_name": "Nom d'usage",
    "first_names": "Prénoms",
    "birth_date": "Date de naissance",
    "birth_place": "Lieu de naissance",
    "address": "Adresse",
    "address_extra": "Complément d'adresse",
    "postal_code": "Code postal",
    "city": "Commune",
    "country": "Pays",
    "phone": "Téléphone",
    "accommodation": "Demande d'aménagements d'épreuves",
    "accommodation_reason": "Motif de la demande d'aménagements",
}
IDENTITY_FIELDS = (
    "last_name",
    "usage_name",
    "first_names",
    "birth_date",
    "birth_place",
    "address",
    "address_extra",
    "postal_code",
    "city",
    "country",
    "phone",
)
ADDRESS_FIELDS = ("address", "address_extra", "postal_code", "city", "country")
MAX_TEXT = 200
MAX_REASON = 2000


class EnrolmentError(Conflict):
    """A change refused by a rule; `message` is shown to the candidate as is (409, or 404 when
    the thing to change does not exist)."""


class VersionConflict(EnrolmentError):
    """The form was based on another version; ``current`` is the stored one (None if unknown)."""

    def __init__(self, current: Mapping[str, Any] | None = None) -> None:
        self.current = current
        super().__init__(
            "Votre inscription a été modifiée entre-temps (dans un autre onglet ou sur un autre appareil) : "
            "rien n'a été enregistré. Vos saisies sont conservées ci-dessous ; vérifiez-les, puis cliquez "
            "de nouveau sur « Enregistrer » pour qu'elles remplacent la version enregistrée."
        )


# ---------------------------------------------------------------------------------------------
# Reading the form


def _clean(value: Any, limit: int = MAX_TEXT) -> str:
    """Trim, normalise and drop control characters; keep the candidate's accents."""
    text = unicodedata.normalize("NFC", str(value or ""))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return text.strip()[: limit + 1]


def _phone(value: str) -> str | None:
    """The candidate's number in its display form; international numbers are accepted too."""
    return format_phone(value, international=True)


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass
class FormResult:
    data: dict[str, Any]
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


ONE_LINE = "Ce champ tient sur une seule ligne : retirez les retours à la ligne et les caractères invisibles."
MULTI_LINE_FIELDS = frozenset({"accommodation_reason"})
INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})  # controls, formats, line separators


def _one_line_errors(raw: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """Single-line fields (names, places, address...) refuse control characters: a line feed in a
    name would end up in a mail's Subject, where it cannot be encoded, and on printed documents."""
    errors = {}
    for name in names:
        value = str(raw.get(name) or "")
        if name not in MULTI_LINE_FIELDS and any(unicodedata.category(c) in INVISIBLE for c in value):
            errors[name] = ONE_LINE
    return errors


def read_form(raw: Mapping[str, Any], notice: Notice) -> FormResult:
    """Validate the « M'inscrire » form. Every faulty field gets its own French message; the
    cleaned input is returned either way so the form re-renders with what was typed."""
    data: dict[str, Any] = {name: _clean(raw.get(name)) for name in LABELS if name != "accommodation"}
    data["accommodation_reason"] = _clean(raw.get("accommodation_reason"), MAX_REASON)
    data["accommodation"] = str(raw.get("accommodation", "")).lower() in ("1", "on", "oui", "true")
    data["country"] = data["country"] or "France"
    errors: dict[str, str] = _one_line_errors(raw, LABELS)

    for name, value in data.items():
        if isinstance(value, str) and len(value) > (
            MAX_REASON if name == "accommodation_reason" else MAX_TEXT
        ):
            errors[name] = "Ce texte est trop long."

    exam = notice.exam(data["exam"])
    if exam is None:
        errors["exam"] = "Choisissez l'examen (" + " ou ".join(e.id for e in notice.exams) + ")."
    found = notice.speciality(data["speciality"])
    if found is None:
        errors["speciality"] = "Choisissez une spécialité dans la liste."
    elif exam is not None and found[0].id != exam.id:
        errors["speciality"] = (
            f"Cette spécialité n'existe pas pour l'examen {exam.id} : choisissez-en une de la liste."
        )

    if data["status"] not in STATUSES:
        errors["status"] = "Indiquez si vous êtes candidat individuel ou inscrit à une formation à distance."
    elif data["status"] == "distance" and not data["organisation"]:
        errors["organisation"] = "Indiquez l'organisme de formation à distance."
    if data["status"] != "distance":
        data["organisation"] = ""

    for name in ("last_name", "first_names", "birth_place", "address", "city"):
        if not data[name]:
            errors.setdefault(name, f"Ce champ est obligatoire : {LABELS[name].lower()}.")

    try:
        birth = date.fromisoformat(data["birth_date"])
    except ValueError:
        errors["birth_date"] = "Indiquez votre date de naissance (jour, mois, année)."
    else:
        age = age_on(birth, notice.registration.age_reference_date)
        if not 14 <= age <= 100:
            errors["birth_date"] = "Cette date de naissance n'est pas plausible : vérifiez l'année."

    if data["country"].casefold() == "france" and not re.fullmatch(r"\d{5}", data["postal_code"]):
        errors["postal_code"] = "Le code postal français compte 5 chiffres."
    elif not data["postal_code"]:
        errors["postal_code"] = "Indiquez le code postal."

    phone = _phone(data["phone"])
    if phone is None:
        errors["phone"] = "Indiquez un numéro de téléphone à 10 chiffres (ou au format international +…)."
    else:
        data["phone"] = phone

    if data["accommodation"] and not data["accommodation_reason"]:
        errors["accommodation_reason"] = "Expliquez brièvement les aménagements demandés."
    if not data["accommodation"]:
        data["accommodation_reason"] = ""
    return FormResult(data=data, errors=errors)


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


def _ensure_not_final(doc: Mapping[str, Any], notice: Notice) -> None:
    if doc.get("status") == STATUS_COMPLETE:
        pole = pole_of(notice, doc.get("data", {}))
        contact = f"le {pole.name} ({pole.email})" if pole else "le pôle qui gère votre examen"
        raise EnrolmentError(
            "Vous avez déjà validé « J'ai fourni toutes mes pièces » : votre inscription est définitive. "
            f"Pour un changement, contactez {contact}."
        )


def save(
    doc: Enrolment, data: dict[str, Any], expected_version: int, notice: Notice, now: datetime
) -> Enrolment:
    """« Enregistrer »: refused outside the window, after the final validation, or when the record
    changed since the form was displayed. Returns the new document."""
    return save_with_changes(doc, data, expected_version, notice, now)[0]


def save_with_changes(
    doc: Enrolment, data: dict[str, Any], expected_version: int, notice: Notice, now: datetime
) -> tuple[Enrolment, list[tuple[str, str, str]]]:
    """``save``, also returning what changed (for the confirmation mail): computed once."""
    ensure_registration_open(notice, now, pole_of(notice, doc.get("data") or data))
    if doc["version"] != expected_version:
        raise VersionConflict(doc)
    _ensure_not_final(doc, notice)
    diff = changes(doc.get("data", {}), data, notice)
    if not diff and doc["version"] > 0:
        return doc, diff
    doc["data"] = data
    doc["version"] += 1
    doc["updated_at"] = _stamp(now)
    doc["history"].append({"version": doc["version"], "at": _stamp(now), "changes": [c[0] for c in diff]})
    return doc, diff


@dataclass(frozen=True)
class FileLimits:
    max_files_per_document: int
    max_files_total: int
    max_total_bytes: int


def limits_of(notice: Notice) -> FileLimits:
    u = notice.uploads
    return FileLimits(u.max_files_per_document, u.max_files_total, u.max_total_mb * 1024 * 1024)


def check_can_add(doc: Mapping[str, Any], document_id: str, size: int, notice: Notice, now: datetime) -> None:
    """Everything that would refuse an upload, checked before the file is received and again
    inside the atomic write."""
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    _ensure_not_final(doc, notice)
    if doc.get("version", 0) == 0:
        raise EnrolmentError("Enregistrez d'abord votre inscription dans « M'inscrire ».")
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


def check_quotas(
    doc: Mapping[str, Any],
    piece_files: int,
    size: int,
    notice: Notice,
    *,
    refuse: Callable[[str], Exception],
    piece_remedy: str,
    total_remedy: str,
) -> None:
    """The notice's upload limits for one more file of ``size`` bytes on a piece that already has
    ``piece_files``: per piece, in number, in total size. ``refuse`` builds the feature's error;
    the remedies say what to do in the words of the page the candidate is on."""
    limits = limits_of(notice)
    files = doc.get("files", [])
    if piece_files >= limits.max_files_per_document:
        raise refuse(
            f"Vous avez déjà déposé {limits.max_files_per_document} fichier(s) pour cette pièce, "
            f"le maximum : {piece_remedy}."
        )
    if len(files) >= limits.max_files_total:
        raise refuse(f"Vous avez atteint le nombre maximal de fichiers ({limits.max_files_total}).")
    if sum(f["size"] for f in files) + size > limits.max_total_bytes:
        raise refuse(
            f"L'ensemble de vos fichiers dépasserait {notice.uploads.max_total_mb} Mo : {total_remedy}."
        )


def with_reserved(doc: Enrolment, document_ids: Iterable[str]) -> Enrolment:
    """A copy of ``doc`` counting one more (empty) file for each of ``document_ids``: uploads in
    flight take their place in the quotas before they are decoded."""
    placeholders = [
        cast(EnrolmentFile, {"id": f"en-cours-{i}", "document_id": d, "size": 0})
        for i, d in enumerate(document_ids)
    ]
    return cast(Enrolment, {**doc, "files": [*doc.get("files", []), *placeholders]})


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


def complete(doc: Enrolment, notice: Notice, now: datetime) -> Enrolment:
    """« J'ai fourni toutes mes pièces »: every required document has a file; freezes them."""
    ensure_documents_open(notice, now, pole_of(notice, doc.get("data", {})))
    _ensure_not_final(doc, notice)
    if doc.get("version", 0) == 0:
        raise EnrolmentError("Enregistrez d'abord votre inscription dans « M'inscrire ».")
    missing = missing_documents(notice, doc)
    if missing:
        raise EnrolmentError("Il manque encore : " + " ; ".join(d.name for d in missing) + ".")
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
        ],
    }
    return doc


ADDRESS_CHANGES_PER_DAY = 3  # each one mails the pôle: a few a day is plenty for a real move
ADDRESS_CHANGES_KEPT = 20  # the record keeps the latest ones (the pôle has the mails)


def request_address_change(doc: Enrolment, address: dict[str, str], now: datetime) -> Enrolment:
    """« Signaler un changement d'adresse », allowed at any time: it is kept in the record and
    mailed to the pôle, which updates the file. At most ADDRESS_CHANGES_PER_DAY in 24 hours."""
    changes = doc.setdefault("address_changes", [])
    recent = [c for c in changes if now - from_iso(c["at"]) < timedelta(days=1)]
    if len(recent) >= ADDRESS_CHANGES_PER_DAY:
        raise EnrolmentError(
            f"Vous avez déjà signalé {len(recent)} changements d'adresse en 24 heures : le pôle les a "
            "bien reçus. Pour une autre correction, attendez demain ou contactez directement le pôle.",
            status=429,
        )
    changes.append({"at": _stamp(now), "address": address})
    del changes[:-ADDRESS_CHANGES_KEPT]
    return doc


def read_address(raw: Mapping[str, Any]) -> FormResult:
    data = {name: _clean(raw.get(name)) for name in ADDRESS_FIELDS}
    data["country"] = data["country"] or "France"
    errors = _one_line_errors(raw, ADDRESS_FIELDS)
    for name in ("address", "city"):
        if not data[name]:
            errors[name] = f"Ce champ est obligatoire : {LABELS[name].lower()}."
    if data["country"].casefold() == "france" and not re.fullmatch(r"\d{5}", data["postal_code"]):
        errors["postal_code"] = "Le code postal français compte 5 chiffres."
    return FormResult(data=data, errors=errors)


def starting_point(previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A returning candidate (last session) gets last session's identity and address."""
    if not previous:
        return {}
    return {k: v for k, v in previous.get("data", {}).items() if k in IDENTITY_FIELDS}
