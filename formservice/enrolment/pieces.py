"""Which rules a file of « Mes justificatifs » obeys, from the dossier's state with the office.

Until the office asks for corrections, a file is the enrolment's (``enrolment.rules``:
``check_can_add``, ``add_file``, ``remove_file``); while it asks (``incomplet``), the review's
(``review.rules``: ``check_can_replace``, ``add_replacement``, ``remove_replacement``); a dossier
``irrecevable`` or ``désisté`` takes no file and no validation any more. Pure, like both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from formservice.enrolment import rules
from formservice.enrolment.deadlines import contact_sentence
from formservice.enrolment.records import Enrolment
from formservice.errors import AppError
from formservice.notice import Notice
from formservice.review import rules as review_rules
from formservice.review.states import State, described, state_of

CLOSED_WHY = {
    State.IRRECEVABLE: f"Votre dossier a été déclaré {described(State.IRRECEVABLE)}",
    State.DESISTE: "Vous vous êtes désisté ou désistée et votre dossier est clos",
}
CLOSED_STATES = tuple(CLOSED_WHY)


def ensure_not_closed(doc: Mapping[str, Any], notice: Notice) -> None:
    """A dossier irrecevable or désisté is closed: no file is added or removed, nothing validated."""
    state = state_of(doc)
    if state in CLOSED_STATES:
        pole = rules.pole_of(notice, doc.get("data", {}))
        why = CLOSED_WHY[state]
        raise rules.EnrolmentError(
            f"{why} : vos pièces justificatives ne peuvent plus être ajoutées, supprimées ni "
            f"validées. Pour toute question, {contact_sentence(pole, notice)}."
        )


def in_correction(doc: Mapping[str, Any]) -> bool:
    """The office asked for corrections: files go through the review's rules."""
    return state_of(doc) is State.INCOMPLET


def check_upload(doc: Mapping[str, Any], document_id: str, size: int, notice: Notice, now: datetime) -> None:
    """Everything that refuses a file for ``document_id``, before it is received and again inside
    the write: the dossier's state, then the enrolment's rules or, in correction, the review's."""
    ensure_not_closed(doc, notice)
    if in_correction(doc):
        review_rules.check_can_replace(doc, notice, document_id, size, now)
    else:
        rules.check_can_add(doc, document_id, size, notice, now)


def completion_refusal(doc: Enrolment, notice: Notice, now: datetime) -> str | None:
    """Why « J'ai fourni toutes mes pièces » would be refused now, or None: the very checks of
    the click, run on a copy, so that the confirmation page never promises what the click refuses."""
    try:
        ensure_not_closed(doc, notice)
        rules.complete(copy.deepcopy(doc), notice, now)
    except AppError as exc:
        return exc.message
    return None
