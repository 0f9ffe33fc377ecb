"""When may a candidate write? The registration window, in the notice's time zone.

Pure rules over the Notice and an instant: the service calls `ensure_open` inside the store's
atomic update, so a form opened at 18:59 and submitted at 19:00:01 is refused.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from formservice.errors import Conflict
from formservice.frenchdates import datetime_fr
from formservice.notice import Notice, Pole


class Phase(Enum):
    """Values are what templates test (`phase == "open"`)."""

    NOT_YET_OPEN = "before"
    OPEN = "open"
    CLOSED = "closed"


class DeadlineError(Conflict):
    """A write refused because of the calendar; `message` is shown to the candidate as is."""

    def __init__(self, message: str, phase: Phase):
        super().__init__(message)
        self.phase = phase


def window_at(opens: datetime, closes: datetime, now: datetime) -> Phase:
    """Open from `opens` included to `closes` excluded (19:00:00 is already closed)."""
    if now < opens:
        return Phase.NOT_YET_OPEN
    if now < closes:
        return Phase.OPEN
    return Phase.CLOSED


def registration_window(notice: Notice, now: datetime) -> Phase:
    return window_at(notice.opens_at, notice.closes_at, now)


def documents_window(notice: Notice, now: datetime) -> Phase:
    return window_at(notice.opens_at, notice.documents_deadline_at, now)


def contact_sentence(pole: Pole | None, notice: Notice) -> str:
    if pole is None:
        return "contactez le pôle qui gère votre examen (voir les contacts en bas de page)"
    return f"contactez le {pole.name} : {' / '.join(pole.phones)} ou {pole.email}"


def _refusal(notice: Notice, closes: datetime, window: Phase, pole: Pole | None) -> DeadlineError:
    if window is Phase.NOT_YET_OPEN:
        return DeadlineError(
            f"Les inscriptions ouvriront le {datetime_fr(notice.registration.opens)} (heure de Paris).",
            window,
        )
    local = closes.astimezone(notice.tz).replace(tzinfo=None)
    return DeadlineError(
        f"Les inscriptions sont closes depuis le {datetime_fr(local)} (heure de Paris) : "
        f"aucune modification n'est plus possible. Pour toute question, {contact_sentence(pole, notice)}.",
        window,
    )


def ensure_registration_open(notice: Notice, now: datetime, pole: Pole | None = None) -> None:
    """Saving the enrolment: allowed from `registration.opens` to `registration.closes`."""
    window = registration_window(notice, now)
    if window is not Phase.OPEN:
        raise _refusal(notice, notice.closes_at, window, pole)


def ensure_documents_open(notice: Notice, now: datetime, pole: Pole | None = None) -> None:
    """Uploads, removals and « J'ai fourni toutes mes pièces »: until `documents_deadline`."""
    window = documents_window(notice, now)
    if window is not Phase.OPEN:
        raise _refusal(notice, notice.documents_deadline_at, window, pole)
