"""/gestion/statistiques: the campaign in numbers for the member's pôles, with server-drawn
SVG charts and their data tables (reporting.statistics; no dossier is read)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.frenchdates import date_fr
from formservice.reporting.charts import Series, bar_chart
from formservice.reporting.statistics import LONGEST, statistics
from formservice.web.rendering import render
from formservice.web.services import services
from formservice.web.staff import auth


async def statistics_page(request: Request) -> Response:
    staff = await auth.require_staff(request)
    svc = services(request)
    notice = svc.notice()
    stats = await statistics(svc.store, notice, auth.poles_of(staff, notice))
    days = stats.per_day
    per_day_chart = bar_chart(
        "par-jour",
        "Inscriptions enregistrées et dossiers déposés par jour",
        [f"{d.day.day}/{d.day.month}" for d in days],
        [
            Series("Enregistrées", [d.saved for d in days], "chart__bar--a"),
            Series("Déposés", [d.deposited for d in days], "chart__bar--b"),
        ],
        every=max(1, len(days) // 10),
    )
    decision_chart = bar_chart(
        "delai",
        "Dossiers selon le nombre de jours entre le dépôt et la décision du pôle",
        [f"{n}+" if n == LONGEST else str(n) for n, _ in stats.decision_days],
        [Series("Dossiers", [count for _, count in stats.decision_days], "chart__bar--a")],
    )
    context = {
        "staff": staff,
        "stats": stats,
        "per_day_chart": per_day_chart,
        "decision_chart": decision_chart,
        "day_label": lambda d: date_fr(d),
        "longest": LONGEST,
    }
    return await render(request, "staff/statistics.html", context)
