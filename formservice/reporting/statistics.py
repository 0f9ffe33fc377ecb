"""The campaign in numbers (/gestion/statistiques), computed from the store's counts, never by
reading the dossiers: counts by state, exam, speciality and pôle; dossiers saved and déposés
per day over the window; pieces refused now, by reason; days from dépôt to the office's first
decision; accounts pending, active and purged.

Every count is restricted to the pôles the staff member may see (``DossierFilter``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from formservice.notice import Notice
from formservice.review.listing import LONGEST
from formservice.review.rules import reason_label
from formservice.review.service import DossierFilter
from formservice.review.states import LABELS, State
from formservice.store import Store


@dataclass(frozen=True)
class Count:
    label: str
    count: int
    query: str = ""  # the list's filter showing these dossiers, if there is one


@dataclass(frozen=True)
class Day:
    day: date
    saved: int
    deposited: int


@dataclass(frozen=True)
class Statistics:
    total: int
    by_state: list[Count]
    by_exam: list[Count]
    by_speciality: list[Count]
    by_pole: list[Count]
    per_day: list[Day]
    refusals: list[Count]
    decision_days: list[tuple[int, int]]  # (days from dépôt to decision, dossiers); LONGEST = « or more »
    accounts: dict[str, int]

    @property
    def decided(self) -> int:
        return sum(n for _, n in self.decision_days)

    @property
    def median_days(self) -> int | None:
        """The median number of days from dépôt to the first decision, from the histogram."""
        half, seen = self.decided / 2, 0
        for days, n in self.decision_days:
            seen += n
            if seen >= half and n:
                return days
        return None


def window_days(notice: Notice) -> list[date]:
    """Every day (Paris) from the opening to the last deadline for the pieces."""
    first = notice.opens_at.date()
    last = max(notice.closes_at, notice.documents_deadline_at).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def statistics(store: Store, notice: Notice, poles: list[str]) -> Statistics:
    where = DossierFilter(poles=poles).where(notice)
    tally = store.enrolments.tally
    by_state = await tally("state", where)
    by_speciality = await tally("speciality", where)
    saved = await tally("saved_on", where)
    deposited = await tally("deposited_on", where)
    refusals = await tally("refusals", where)
    decided = await tally("decided_in", where)
    accounts = await store.accounts.count_by_status()
    return Statistics(
        total=sum(by_state.values()),
        by_state=[Count(LABELS[s], by_state.get(s.value, 0), f"etat={s.value}") for s in State],
        by_exam=_by_exam(notice, by_speciality),
        by_speciality=[
            Count(f"{exam.id} {spec.name}", by_speciality.get(spec.id, 0), f"specialite={spec.id}")
            for exam in notice.exams
            for spec in exam.specialities
            if spec.pole in poles
        ],
        by_pole=by_pole(notice, poles, by_speciality),
        per_day=[
            Day(d, saved.get(d.isoformat(), 0), deposited.get(d.isoformat(), 0)) for d in window_days(notice)
        ],
        refusals=_refusals(notice, refusals),
        decision_days=sorted((int(k), n) for k, n in decided.items() if k is not None),
        accounts={
            "pending": accounts.get("pending", 0),
            "active": accounts.get("active", 0),
            "purged": await store.counters.value("accounts_purged"),
        },
    )


def by_pole(notice: Notice, poles: list[str], by_speciality: Mapping[Any, int]) -> list[Count]:
    """Dossiers per pôle (of ``poles``, in the notice's order): the sum of its specialities'."""
    return [
        Count(
            pole.name,
            sum(by_speciality.get(s.id, 0) for _, s in notice.specialities_of_pole(pole.id)),
            f"pole={pole.id}",
        )
        for pole in notice.poles
        if pole.id in poles
    ]


def _by_exam(notice: Notice, by_speciality: Mapping[Any, int]) -> list[Count]:
    return [
        Count(exam.name, sum(by_speciality.get(s.id, 0) for s in exam.specialities), f"examen={exam.id}")
        for exam in notice.exams
    ]


def _refusals(notice: Notice, combos: Mapping[Any, int]) -> list[Count]:
    """Pieces refused now, by reason (each dossier's field lists one reason per refused piece);
    every reason of the notice is shown, and a reason editors removed since keeps its id."""
    per_reason: Counter[str] = Counter()
    for combo, n in combos.items():
        for reason in str(combo or "").split(","):
            if reason:
                per_reason[reason] += n
    known = [r.id for r in notice.review.refusal_reasons]
    ordered = known + sorted(set(per_reason) - set(known))
    return [Count(reason_label(notice, r) or r, per_reason.get(r, 0)) for r in ordered]


__all__ = ["LONGEST", "Count", "Day", "Statistics", "by_pole", "statistics", "window_days"]
