"""The « M'inscrire » form and the address form, read: every field cleaned, every fault a French
sentence saying what to type, next to its field. Pure: a mapping in, data and errors out."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from formservice.notice import Notice
from formservice.phones import format_phone

STATUSES = {
    "individuel": "Candidat ou candidate individuel",
    "distance": "Inscrit ou inscrite à une formation d'enseignement à distance",
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


# What to say when a required field is left empty: what to type, in the candidate's words.
MISSING = {
    "last_name": "Indiquez votre nom de naissance.",
    "first_names": "Indiquez vos prénoms.",
    "birth_place": "Indiquez votre lieu de naissance.",
    "address": "Indiquez votre adresse (numéro et voie).",
    "city": "Indiquez votre commune.",
}

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
        errors["status"] = (
            "Indiquez votre situation : candidat ou candidate individuel, ou inscrit ou inscrite à "
            "une formation d'enseignement à distance."
        )
    elif data["status"] == "distance" and not data["organisation"]:
        errors["organisation"] = "Indiquez l'organisme de formation à distance."
    if data["status"] != "distance":
        data["organisation"] = ""

    for name in ("last_name", "first_names", "birth_place", "address", "city"):
        if not data[name]:
            errors.setdefault(name, MISSING[name])

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


def read_address(raw: Mapping[str, Any]) -> FormResult:
    data = {name: _clean(raw.get(name)) for name in ADDRESS_FIELDS}
    data["country"] = data["country"] or "France"
    errors = _one_line_errors(raw, ADDRESS_FIELDS)
    for name in ("address", "city"):
        if not data[name]:
            errors[name] = MISSING[name]
    if data["country"].casefold() == "france" and not re.fullmatch(r"\d{5}", data["postal_code"]):
        errors["postal_code"] = "Le code postal français compte 5 chiffres."
    return FormResult(data=data, errors=errors)
