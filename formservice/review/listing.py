"""What the office's list filters, sorts and searches on, derived from each dossier on every
write (the store indexes these top-level fields: ``store.contract.TABLES["enrolments"]``).

- ``speciality``, ``state`` (the dossier's state, ``states.state_of``) and ``pieces_state``
  (where its pieces stand, below): the list's filters and the statistics' counts. A pôle or an
  exam is a set of specialities in the notice, so editors moving a speciality to another pôle
  need no rewrite of the dossiers.
- ``sort_key``: the list's order, as it shows names (« DURAND Camille »): surname, first names.
- ``words``: what a search finds by prefix: the names (and their parts: « Jean-Pierre » is found
  by « pierre »), the e-mail address, the registration number; without case or accents.

A dossier never saved (version 0: a blank made by a first visit) has none of the filters and
so appears in no list. The derived fields depend on the notice only through the required
pieces; ``stale`` tells the start which dossiers a notice change made out of date.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from formservice.clock import from_iso
from formservice.notice import Notice
from formservice.review import rules
from formservice.review.records import Enrolment
from formservice.review.states import State, state_of

DERIVED = (
    "speciality",
    "state",
    "pieces_state",
    "waiting",
    "sort_key",
    "words",
    "saved_on",
    "deposited_on",
    "decided_in",
    "refusals",
)
# The office's decisions on a whole dossier: the first one ends « the time from dépôt to decision ».
# Bumped whenever ``derived`` changes: the stored fields of every dossier are then recomputed.
VERSION = 2
DECISIONS = ("accept", "request_correction", "declare_ineligible")
LONGEST = 60  # days from dépôt to decision counted one by one; longer ones are counted as 60


class PiecesState(StrEnum):
    """Where a dossier's pieces stand, all together (the list's « Pièces » filter)."""

    MANQUANTES = "manquantes"  # a required piece has no file
    NON_CONFORMES = "non_conformes"  # a piece is refused and not replaced yet
    A_VERIFIER = "a_verifier"  # every piece has files, some not decided (or replaced since)
    CONFORMES = "conformes"  # every piece conforme or non concerné


PIECES_LABELS: Mapping[PiecesState, str] = {
    PiecesState.MANQUANTES: "Pièces manquantes",
    PiecesState.NON_CONFORMES: "Pièces non conformes",
    PiecesState.A_VERIFIER: "Pièces à vérifier",
    PiecesState.CONFORMES: "Pièces toutes conformes",
}


class Waiting(StrEnum):
    """What waits for the office (the home's « à traiter »)."""

    DEPOSE = "depose"  # déposé, the check not started
    CORRECTIONS = "corrections"  # the candidate confirmed the corrections: to check again


WAITING_LABELS: Mapping[Waiting, str] = {
    Waiting.DEPOSE: "Dossiers déposés, vérification non commencée",
    Waiting.CORRECTIONS: "Corrections reçues, à vérifier",
}

_PARTS = re.compile(r"[\s'\-]+")


def normalized(text: str) -> str:
    """For search and order: no accents, no case, single spaces (« Lefèvre » finds « LEFEVRE »)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def query_words(query: str) -> list[str]:
    """A search as the prefixes it asks for (every one must match)."""
    return normalized(query).split()


def pieces_state(doc: Mapping[str, Any], notice: Notice) -> PiecesState:
    statuses = {piece.status for piece in rules.pieces(doc, notice)}
    if rules.PieceStatus.MANQUANTE in statuses:
        return PiecesState.MANQUANTES
    if rules.PieceStatus.NON_CONFORME in statuses:
        return PiecesState.NON_CONFORMES
    if statuses & {rules.PieceStatus.A_VERIFIER, rules.PieceStatus.REMPLACEE}:
        return PiecesState.A_VERIFIER
    return PiecesState.CONFORMES


def waiting(doc: Mapping[str, Any], state: State, pieces: PiecesState) -> Waiting | None:
    if state is State.DEPOSE:
        return Waiting.DEPOSE
    corrections = (doc.get("review") or {}).get("corrections") or []
    if state is State.EN_VERIFICATION and corrections and corrections[-1].get("confirmed_at"):
        return Waiting.CORRECTIONS if pieces is PiecesState.A_VERIFIER else None
    return None


def sort_key(doc: Mapping[str, Any]) -> str:
    data = doc.get("data", {})
    return f"{normalized(str(data.get('last_name', '')))}\x1f{normalized(str(data.get('first_names', '')))}"


def words(doc: Mapping[str, Any]) -> list[str]:
    data = doc.get("data", {})
    found: set[str] = set()
    for name in (data.get("last_name"), data.get("usage_name"), data.get("first_names"), doc.get("email")):
        text = normalized(str(name or ""))
        for word in text.split():
            found.add(word)
            found.update(part for part in _PARTS.split(word) if part)
    found.add(str(doc["id"]).casefold())
    if doc.get("number"):
        found.add(normalized(str(doc["number"])))
    return sorted(found)


def _day(instant: str | None, notice: Notice) -> str | None:
    return from_iso(instant).astimezone(notice.tz).date().isoformat() if instant else None


def statistics_fields(doc: Mapping[str, Any], state: State, notice: Notice) -> dict[str, Any]:
    """What the statistics count: the day (Paris) of the first save and of the dépôt, the days
    from dépôt to the office's first decision, the reasons of the pieces refused now."""
    deposited = doc.get("completed_at") if state is not State.BROUILLON else None
    review = doc.get("review") or {}
    decided = next((e["at"] for e in review.get("history", []) if e.get("action") in DECISIONS), None)
    days = None
    if deposited and decided:
        days = min(LONGEST, max(0, (from_iso(decided) - from_iso(deposited)).days))
    reasons = sorted(  # one entry per piece refused now: the statistics count pieces
        str(d.get("reason_id"))
        for d in review.get("pieces", {}).values()
        if d.get("decision") == rules.NON_CONFORME
    )
    return {
        "saved_on": _day(doc.get("created_at"), notice),
        "deposited_on": _day(deposited, notice),
        "decided_in": days,
        "refusals": ",".join(reasons) or None,
    }


def derived(doc: Mapping[str, Any], notice: Notice) -> dict[str, Any]:
    """The list's and the statistics' fields of ``doc`` under ``notice``."""
    fields: dict[str, Any] = {"sort_key": sort_key(doc), "words": words(doc)}
    if not doc.get("version"):
        return fields | dict.fromkeys(set(DERIVED) - set(fields))
    state, pieces = state_of(doc), pieces_state(doc, notice)
    found = waiting(doc, state, pieces)
    return (
        fields
        | statistics_fields(doc, state, notice)
        | {
            "speciality": doc.get("data", {}).get("speciality"),
            "state": state.value,
            "pieces_state": pieces.value,
            "waiting": found.value if found else None,
        }
    )


def with_listing(doc: Enrolment, notice: Notice) -> Enrolment:
    """``doc`` with its list fields up to date (the enrolment repository's ``derive``)."""
    doc.update(derived(doc, notice))  # type: ignore[typeddict-item]
    return doc


def fingerprint(notice: Notice) -> str:
    """What the stored fields were computed under: this module's version and the notice. The
    same fingerprint as the last full pass means no dossier can be stale (every write since
    derived its fields under the notice in force)."""
    digest = hashlib.sha256(notice.model_dump_json().encode()).hexdigest()[:32]
    return f"{VERSION}:{digest}"


def stale(doc: Mapping[str, Any], notice: Notice) -> bool:
    """Whether ``doc``'s stored list fields differ from what ``notice`` gives (a notice change)."""
    return any(doc.get(name) != value for name, value in derived(doc, notice).items())
