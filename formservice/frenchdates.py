"""French wording of dates and durations.

Weekdays and month names are computed here so that no page ever types one: an editor who
moves a date in notice.yml gets the right weekday for free.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def day_fr(d: date) -> str:
    """'1er' for the first of the month, as French typography wants."""
    return "1er" if d.day == 1 else str(d.day)


def date_fr(d: date, weekday: bool = True) -> str:
    """'jeudi 13 novembre 2025'."""
    text = f"{day_fr(d)} {MONTHS[d.month - 1]} {d.year}"
    return f"{WEEKDAYS[d.weekday()]} {text}" if weekday else text


NBSP = "\u00a0"


def time_fr(dt: datetime) -> str:
    """'19 h 00', with no-break spaces: a phone never splits '19 h' from '00'."""
    return f"{dt.hour}{NBSP}h{NBSP}{dt.minute:02d}"


def datetime_fr(dt: datetime, weekday: bool = True) -> str:
    """'jeudi 13 novembre 2025 à 19 h 00'."""
    return f"{date_fr(dt.date(), weekday)} à {time_fr(dt)}"


def duration_fr(delta: timedelta) -> str:
    """A coarse, reassuring remaining time: '3 jours et 4 heures', '2 heures et 5 minutes'."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n > 1 else ''}"

    if days:
        return unit(days, "jour") + (f" et {unit(hours, 'heure')}" if hours else "")
    if hours:
        return unit(hours, "heure") + (f" et {unit(minutes, 'minute')}" if minutes else "")
    if minutes:
        return unit(minutes, "minute")
    return "moins d'une minute"
