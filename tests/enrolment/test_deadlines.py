"""The registration window, enforced to the second, in Paris time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from notice_factory import notice_with

from formservice.enrolment.deadlines import (
    DeadlineError,
    Phase,
    ensure_documents_open,
    ensure_registration_open,
    registration_window,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_open_at_185959_and_closed_at_190000_local() -> None:
    """A save at 18:59:59 Paris time passes; at 19:00:00 it is refused with the closing date."""
    notice = notice_with(opens="2025-10-21 09:00", closes="2025-11-13 19:00")
    ensure_registration_open(notice, paris(2025, 11, 13, 18, 59, 59))
    with pytest.raises(DeadlineError) as exc:
        ensure_registration_open(notice, paris(2025, 11, 13, 19, 0, 0))
    assert "closes depuis le jeudi 13 novembre 2025 à 19\xa0h\xa000" in exc.value.message
    assert exc.value.phase is Phase.CLOSED


def test_before_opening_says_when_it_opens() -> None:
    """A write before the opening is refused with the opening date and time in words."""
    notice = notice_with(opens="2025-10-21 09:00")
    with pytest.raises(DeadlineError) as exc:
        ensure_registration_open(notice, paris(2025, 10, 21, 8, 59, 59))
    assert exc.value.message.startswith("Les inscriptions ouvriront le mardi 21 octobre 2025 à 9\xa0h\xa000")
    ensure_registration_open(notice, paris(2025, 10, 21, 9, 0, 0))


def test_deadline_across_daylight_saving_change() -> None:
    """Closing at 19:00 on the day clocks go back means 18:00 UTC, not 17:00 UTC."""
    notice = notice_with(
        opens="2025-10-21 09:00", closes="2025-10-26 19:00", documents_deadline="2025-10-26 19:00"
    )
    ensure_registration_open(notice, datetime(2025, 10, 26, 17, 59, 59, tzinfo=UTC))
    with pytest.raises(DeadlineError):
        ensure_registration_open(notice, datetime(2025, 10, 26, 18, 0, 0, tzinfo=UTC))
    # The opening, before the change, was at 07:00 UTC (summer time).
    assert notice.opens_at.astimezone(UTC).hour == 7


def test_refusal_names_the_candidates_pole() -> None:
    """After the deadline the message tells whom to contact, with the pôle's phone and e-mail."""
    notice = notice_with(closes="2025-11-13 19:00")
    pole = notice.poles[0]
    with pytest.raises(DeadlineError) as exc:
        ensure_documents_open(notice, paris(2025, 12, 1, 10, 0), pole)
    assert pole.email in exc.value.message and pole.phones[0] in exc.value.message


def test_window_states() -> None:
    """The window is not yet open, open, then closed."""
    notice = notice_with(opens="2025-10-21 09:00", closes="2025-11-13 19:00")
    assert registration_window(notice, paris(2025, 10, 1, 0, 0)) is Phase.NOT_YET_OPEN
    assert registration_window(notice, paris(2025, 11, 1, 0, 0)) is Phase.OPEN
    assert registration_window(notice, paris(2025, 11, 14, 0, 0)) is Phase.CLOSED
