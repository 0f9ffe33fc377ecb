"""The columns of an export, defined once: the CSV, the XLSX and the exports page (which documents
them) read this list, so a column cannot exist in one format and not in another.

A row is computed from one stored dossier (``Dossier``: the enrolment, its candidate's e-mail
and what ``review.rules`` says of it), with the notice in force: the pieces' columns follow the
notice's ``documents``, in its order, so every row has the same columns whatever it requires.
Values are typed (``Kind``): a writer formats dates its own way (« 13/11/2025 19:00 » in Paris
time for the CSV, a date cell for the XLSX).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from formservice.clock import from_iso
from formservice.enrolment.rules import STATUSES, number_of
from formservice.notice import Document, Notice
from formservice.review import rules
from formservice.review.states import LABELS, State, state_of


class Kind(StrEnum):
    TEXT = "text"
    DATE = "date"  # a calendar day (birth date)
    DATETIME = "datetime"  # an instant, shown in the notice's time zone


Value = str | date | datetime | None


@dataclass(frozen=True)
class Dossier:
    """What a row is computed from: computed once per dossier, read by every column."""

    doc: Mapping[str, Any]
    email: str
    notice: Notice
    state: State = field(init=False)
    pieces: dict[str, rules.Piece] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", state_of(self.doc))
        pieces = {p.document.id: p for p in rules.pieces(self.doc, self.notice)}
        object.__setattr__(self, "pieces", pieces)

    def field(self, name: str) -> str:
        return str(self.doc.get("data", {}).get(name) or "")


@dataclass(frozen=True)
class Column:
    header: str
    about: str  # what it holds, for the exports page
    value: Callable[[Dossier], Value]
    kind: Kind = Kind.TEXT


def _instant(text: Any) -> datetime | None:
    return from_iso(str(text)) if text else None


def _number(d: Dossier) -> str:
    return number_of(d.doc)


def _birth_date(d: Dossier) -> date | None:
    try:
        return date.fromisoformat(d.field("birth_date"))
    except ValueError:
        return None


def _speciality_name(d: Dossier) -> str:
    found = d.notice.speciality(d.field("speciality"))
    return found[1].name if found else d.field("speciality")


def _pole_name(d: Dossier) -> str:
    pole = rules.pole_of_enrolment(d.notice, d.doc)
    return pole.name if pole else ""


def _decided_at(d: Dossier) -> datetime | None:
    """When the dossier was declared complet or irrecevable (the last move into its state)."""
    if d.state not in (State.COMPLET, State.IRRECEVABLE):
        return None
    review = rules.review_of(d.doc)
    for event in reversed(review["history"] if review else []):
        if event["details"].get("to") == d.state.value:
            return from_iso(event["at"])
    return None


def piece_text(piece: rules.Piece | None) -> str:
    """« conforme », « non conforme : Document illisible », « non demandée »…"""
    if piece is None:
        return "non demandée"
    text = rules.STATUS_TEXT[piece.status]
    if piece.status is rules.PieceStatus.NON_CONFORME and piece.reason_label:
        return f"{text} : {piece.reason_label}"
    return text


def _piece_column(document: Document) -> Column:
    return Column(
        f"Pièce : {document.name}",
        "« conforme », « non conforme : motif », « à vérifier », « aucun fichier », « non concerné » "
        "ou « non demandée » (pièce que ce candidat n'a pas à fournir)",
        lambda d: piece_text(d.pieces.get(document.id)),
    )


def _data(name: str, header: str, about: str) -> Column:
    return Column(header, about, lambda d: d.field(name))


CANDIDATE = (
    Column(
        "N° d'inscription",
        "numéro donné au premier enregistrement (« 2026-000123 »)",
        _number,
    ),
    Column("État", "état du dossier (brouillon, déposé, en vérification…)", lambda d: LABELS[d.state]),
    _data("exam", "Examen", "code de l'examen (CS, BP)"),
    _data("speciality", "Code spécialité", "identifiant de la spécialité dans notice.yml"),
    Column("Spécialité", "nom de la spécialité", _speciality_name),
    Column("Pôle", "pôle qui gère la spécialité", _pole_name),
    _data("last_name", "Nom de naissance", "tel que saisi par le candidat"),
    _data("usage_name", "Nom d'usage", "vide si aucun"),
    _data("first_names", "Prénoms", "tels que saisis"),
    Column("Date de naissance", "date (jour/mois/année)", _birth_date, Kind.DATE),
    _data("birth_place", "Lieu de naissance", "commune ou pays"),
    _data("address", "Adresse", "numéro et voie"),
    _data("address_extra", "Complément d'adresse", "vide si aucun"),
    _data("postal_code", "Code postal", "texte : les zéros en tête sont gardés"),
    _data("city", "Commune", ""),
    _data("country", "Pays", ""),
    _data("phone", "Téléphone", "texte, tel que saisi (format français ou international)"),
    Column("Adresse électronique", "celle du compte du candidat", lambda d: d.email),
    Column(
        "Situation",
        "candidat individuel ou formation à distance",
        lambda d: STATUSES.get(d.field("status"), d.field("status")),
    ),
    _data("organisation", "Organisme de formation à distance", "vide pour un candidat individuel"),
    Column(
        "Aménagements demandés",
        "« oui » ou « non » (le motif, donnée de santé, reste dans le dossier)",
        lambda d: "oui" if d.doc.get("data", {}).get("accommodation") else "non",
    ),
)
DATES = (
    Column(
        "Dernier enregistrement",
        "date et heure (heure de Paris) du dernier « Enregistrer »",
        lambda d: _instant(d.doc.get("updated_at")),
        Kind.DATETIME,
    ),
    Column(
        "Dépôt des pièces",
        "date et heure de « J'ai fourni toutes mes pièces » (vide si pas encore)",
        lambda d: _instant(d.doc.get("completed_at")),
        Kind.DATETIME,
    ),
    Column(
        "Décision",
        "date et heure où le dossier a été déclaré complet ou irrecevable (vide sinon)",
        _decided_at,
        Kind.DATETIME,
    ),
)


def columns(notice: Notice) -> list[Column]:
    """Every column, in order: the dossier and the candidate, each piece, the dates."""
    return [*CANDIDATE, *(_piece_column(document) for document in notice.documents), *DATES]


def row(cols: list[Column], dossier: Dossier) -> list[Value]:
    return [c.value(dossier) for c in cols]


@dataclass(frozen=True)
class Selection:
    """Which dossiers an export holds: the pôles in scope (the member's, or one of them) and the
    list's filters (``""``: any)."""

    poles: tuple[str, ...]
    exam: str = ""
    speciality: str = ""
    state: str = ""

    def matches(self, doc: Mapping[str, Any], notice: Notice) -> bool:
        if not doc.get("version"):
            return False  # never saved: nothing to export (the list does not show it either)
        pole = rules.pole_of_enrolment(notice, doc)
        if pole is None or pole.id not in self.poles:
            return False
        data = doc.get("data", {})
        if self.exam and data.get("exam") != self.exam:
            return False
        if self.speciality and data.get("speciality") != self.speciality:
            return False
        return not self.state or state_of(doc).value == self.state

    def described(self) -> dict[str, Any]:
        """For the audit log: ids only."""
        return {
            "poles": list(self.poles),
            "exam": self.exam or None,
            "speciality": self.speciality or None,
            "state": self.state or None,
        }
