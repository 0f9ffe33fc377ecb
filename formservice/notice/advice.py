"""Warnings about a valid notice: what notice.yml allows but is probably a mistake.

``formservice check`` prints them after the problems and never fails on them: a documents'
deadline before the closing (a late candidate could deposit nothing) or months after it (a
mistyped year?), every supporting document still marked ``example: true`` (the site then says
« exemple, à confirmer » on all of them), a speciality that candidates enrolled in and that has
disappeared from the notice (their dossiers then name nothing). Each warning is ``(path,
sentence)``, as the rules of ``validation`` are, so that it is shown on its line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from formservice.frenchdates import datetime_fr
from formservice.notice.model import Notice
from formservice.notice.wording import field_name
from formservice.notice.yamldoc import compose
from formservice.typography import plural

Finding = tuple[tuple[Any, ...], str]

# Beyond this after the closing, a documents' deadline is more likely a typo than a choice.
FAR_AFTER = timedelta(days=60)


def deadline_vs_closing(notice: Notice) -> Iterator[Finding]:
    registration = notice.registration
    where = ("registration", "documents_deadline")
    deadline, closes = datetime_fr(registration.documents_deadline), datetime_fr(registration.closes)
    if registration.documents_deadline < registration.closes:
        yield (
            where,
            f"la date limite des pièces ({deadline}) est avant la clôture des inscriptions ({closes}) : "
            "un candidat inscrit entre les deux ne pourra déposer aucune pièce ; est-ce voulu ?",
        )
    elif registration.documents_deadline - registration.closes > FAR_AFTER:
        days = (registration.documents_deadline - registration.closes).days
        yield (
            where,
            f"la date limite des pièces ({deadline}) est {plural(days, 'jour')} après la clôture "
            f"({closes}) : vérifiez le mois et l'année",
        )


def examples_left(notice: Notice) -> Iterator[Finding]:
    if notice.documents and all(document.example for document in notice.documents):
        every = (
            "la seule pièce est encore marquée"
            if len(notice.documents) == 1
            else f"les {len(notice.documents)} pièces sont toutes encore marquées"
        )
        yield (
            ("documents",),
            f"{every} « example: true » : le site affiche « exemple, à confirmer » à côté de chacune ; "
            "retirez la marque des pièces confirmées par le service des examens",
        )


def vanished_specialities(notice: Notice, enrolled: Mapping[str, int]) -> Iterator[Finding]:
    """``enrolled``: how many candidates of the notice's session are enrolled, by speciality id."""
    for speciality_id, count in sorted(enrolled.items()):
        if count and notice.speciality(speciality_id) is None:
            who = plural(count, "candidat inscrit", "candidats inscrits")
            yield (
                ("exams",),
                f"la spécialité « {speciality_id} » n'est plus dans la notice alors que {who} y "
                f"{'sont' if count > 1 else 'est'} ({notice.session.name}) : leur dossier ne la "
                "retrouve plus ; remettez-la, ou prévenez-les avant de la retirer",
            )


def located(filename: str, text: str, findings: list[Finding]) -> list[str]:
    """Each warning as the problems are reported: ``notice.yml, ligne N : où : attention, …``."""
    doc = compose(text)
    lines = sorted((doc.line(path), field_name(path), sentence) for path, sentence in findings)
    return [f"{filename}, ligne {line} : {where} : attention, {sentence}" for line, where, sentence in lines]


def notice_advice(notice: Notice, enrolled: Mapping[str, int] | None = None) -> list[Finding]:
    """Every warning about `notice`; ``enrolled`` (from the store) when it could be read."""
    found = [*deadline_vs_closing(notice), *examples_left(notice)]
    return found + list(vanished_specialities(notice, enrolled or {}))
