"""/gestion/exports: the office takes its dossiers away (CSV for French Excel, XLSX, ZIP of the
pieces), within the pôles the member may see and the list's filters; the file is streamed as it
is made, and each export is audited by the use case (``reporting.exports``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from formservice.errors import AppError, NotFound
from formservice.reporting.columns import columns
from formservice.review.states import LABELS, State
from formservice.web.downloads import attachment
from formservice.web.forms import form_values
from formservice.web.rendering import render
from formservice.web.services import services
from formservice.web.staff import auth

FIELDS = ("format", "pole", "examen", "specialite", "etat")


async def exports(
    request: Request, *, problem: str | None = None, values: dict[str, str] | None = None
) -> Response:
    staff = await auth.require_staff(request)
    notice = services(request).notice()
    visible = auth.poles_of(staff, notice)
    context: dict[str, Any] = {
        "staff": staff,
        "poles": [p for p in notice.poles if p.id in visible],
        "specialities": [(e, s) for e in notice.exams for s in e.specialities if s.pole in visible],
        "states": [(s.value, LABELS[s]) for s in State],
        "columns": columns(notice),
        "values": values or {"format": "csv"},
        "problem": problem,
    }
    return await render(request, "staff/exports.html", context, status=400 if problem else 200)


async def download(request: Request) -> Response:
    """The export chosen in the form, as an attachment streamed while it is written."""
    staff = await auth.require_staff(request)
    svc = services(request)
    form = await form_values(request)
    values = {name: form.get(name, "").strip() for name in FIELDS}
    try:
        selection = svc.exports.selection(
            auth.poles_of(staff, svc.notice()),
            pole=values["pole"],
            exam=values["examen"],
            speciality=values["specialite"],
            state=values["etat"],
        )
        export = svc.exports.export(values["format"], selection, staff_id=staff["id"])
    except NotFound:
        raise
    except AppError as exc:
        return await exports(request, problem=exc.message, values=values)
    return attachment(await export.ready())
