"""Dates written in notice.yml that no calendar has (``2025-13-45``, ``2025-02-30 10:00``): the
sentence that says which part of them is wrong.

Both readers of a date use it: the YAML reader (``yamldoc``), for the unquoted dates YAML reads
itself, and the model (``model.local_datetime``), for the dates with time it reads from a text.
"""

from __future__ import annotations

import calendar
import re

from formservice.frenchdates import MONTHS

# Written like a date, with or without a time: what YAML and local_datetime both take for one.
DATE_LIKE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?)?"
)


def _wrong_part(year: int, month: int, day: int, time: tuple[int, ...]) -> str | None:
    if year == 0:
        return "l'année 0000 n'existe pas"
    if not 1 <= month <= 12:
        return "les mois vont de 01 à 12"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return f"les jours de {MONTHS[month - 1]} {year} vont de 01 à {last}"
    for value, limit, unit in zip(time, (23, 59, 59), ("heures", "minutes", "secondes"), strict=False):
        if value > limit:
            return f"les {unit} vont de 00 à {limit}"
    return None


def impossible_date(text: str) -> str | None:
    """The sentence for `text` if it is written like a date but names a day or a time that does
    not exist (« … n'existe pas : les mois vont de 01 à 12 »); None otherwise."""
    match = DATE_LIKE.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    time = tuple(int(parts[key]) for key in ("hour", "minute", "second") if parts[key] is not None)
    wrong = _wrong_part(int(parts["year"]), int(parts["month"]), int(parts["day"]), time)
    return f"« {text.strip()} » n'existe pas : {wrong}" if wrong else None
