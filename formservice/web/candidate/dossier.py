"""Where the dossier stands with the office, as the candidate's pages show it (``DossierView``:
the state in words, the decisions on the pieces, the correction requested and its deadline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from formservice.clock import from_iso
from formservice.enrolment.deadlines import contact_sentence
from formservice.enrolment.records import Enrolment
from formservice.notice import Notice, Pole
from formservice.review import rules as review_rules
from formservice.review.states import CANDIDATE_SIDE, Action, State, described, state_of

CLOSED = (State.IRRECEVABLE, State.DESISTE)


@dataclass(frozen=True)
class DossierView:
    """Where the dossier stands with the office, as the candidate's pages show it."""

    state: State
    state_text: str  # « le dossier est … »
    acted: bool  # the office has taken the dossier in hand: its decisions are shown
    pieces: dict[str, review_rules.Piece]  # by document id (empty until the office acted)
    correction_deadline: str  # the deadline of the request in force, in French ("" if none)
    correction_open: bool  # a request in force and its deadline not passed
    late_message: str  # the deadline passed: whom to contact ("" otherwise)
    refused: list[review_rules.Piece]  # the pieces of the request in force
    replaceable: frozenset[str]  # the document ids whose files the candidate may change now
    ready: bool  # every refused piece has a new file: « J'ai effectué les corrections » enabled
    corrections_confirmed: bool  # back en vérification after « J'ai effectué les corrections »
    decided_at: datetime | None  # when the dossier became complet
    ineligibility_reason: str  # the reason's label, when irrecevable

    @property
    def closed(self) -> bool:
        return self.state in CLOSED


def _last_event(enrolment: Enrolment, action: Action) -> datetime | None:
    review = enrolment.get("review")
    for event in reversed(review["history"] if review else []):
        if event["action"] == action.value:
            return from_iso(event["at"])
    return None


def dossier_view(notice: Notice, enrolment: Enrolment, now: datetime, pole: Pole | None) -> DossierView:
    state = state_of(enrolment)
    acted = state not in CANDIDATE_SIDE
    pieces = {p.document.id: p for p in review_rules.pieces(enrolment, notice)} if acted else {}
    correction = review_rules.current_correction(enrolment)
    refused = [pieces[i] for i in correction["pieces"] if i in pieces] if correction else []
    is_open = correction is not None and review_rules.before_deadline(correction, now)
    deadline = review_rules.deadline_text(notice, correction["deadline"]) if correction else ""
    late = ""
    if correction is not None and not is_open:
        late = (
            f"Le délai de correction a pris fin le {deadline} (heure de Paris) : les pièces ne peuvent "
            f"plus être remplacées en ligne. Pour toute question, {contact_sentence(pole, notice)}."
        )
    changeable = (review_rules.PieceStatus.NON_CONFORME, review_rules.PieceStatus.REMPLACEE)
    replaceable = frozenset(p.document.id for p in refused if is_open and p.status in changeable)
    review = enrolment.get("review")
    corrections = review["corrections"] if review else []
    reason = ""
    if state is State.IRRECEVABLE and review and review.get("ineligibility_reason"):
        found = notice.review.ineligibility_reason(review["ineligibility_reason"] or "")
        reason = found.label if found else ""
    return DossierView(
        state=state,
        state_text=described(state),
        acted=acted,
        pieces=pieces,
        correction_deadline=deadline,
        correction_open=is_open,
        late_message=late,
        refused=refused,
        replaceable=replaceable,
        ready=is_open and not any(p.status is review_rules.PieceStatus.NON_CONFORME for p in refused),
        corrections_confirmed=state is State.EN_VERIFICATION
        and bool(corrections)
        and corrections[-1].get("confirmed_at") is not None,
        decided_at=_last_event(enrolment, Action.ACCEPT) if state is State.COMPLET else None,
        ineligibility_reason=reason,
    )
