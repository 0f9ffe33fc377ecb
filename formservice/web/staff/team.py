"""/gestion/equipe: the administrateurs' page to invite and disable the office's members (the
same use cases as ``formservice staff``, with the acting administrateur recorded)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.errors import AppError, NotFound
from formservice.staff.rules import is_admin
from formservice.web.forms import form_lists, form_values
from formservice.web.rendering import render
from formservice.web.services import services
from formservice.web.staff import auth

STATUS = {"invited": "invité (lien envoyé)", "active": "actif", "disabled": "désactivé"}
INFO = {
    "invite": "L'invitation est envoyée : le lien est valable 72 heures.",
    "disable": "Le membre est désactivé : ses sessions sont fermées.",
}


async def admin_only(request: Request) -> Any:
    staff = await auth.require_staff(request)
    if not is_admin(staff):
        raise NotFound()  # a gestionnaire does not learn the page exists
    return staff


async def team(
    request: Request, *, problem: str | None = None, values: dict[str, Any] | None = None
) -> Response:
    staff = await admin_only(request)
    svc = services(request)
    notice = svc.notice()
    names = {p.id: p.name for p in notice.poles}
    members = [
        {
            "email": m["email"],
            "role": m["role"],
            "poles": ", ".join(names.get(p, p) for p in m["poles"]) or "tous les pôles",
            "status": STATUS.get(m["status"], m["status"]),
            "active": m["status"] != "disabled",
            "self": m["id"] == staff["id"],
        }
        for m in sorted(await svc.staff.list(), key=lambda m: m["email"])
    ]
    context = {
        "staff": staff,
        "members": members,
        "poles": notice.poles,
        "info": None if problem else INFO.get(request.query_params.get("info", "")),
        "problem": problem,
        "values": values or {},
    }
    return await render(request, "staff/team.html", context, status=400 if problem else 200)


async def invite(request: Request) -> Response:
    staff = await admin_only(request)
    fields = await form_lists(request)
    values = {name: found[-1] for name, found in fields.items()}
    poles = fields.get("poles", [])
    role = values.get("role", "")
    try:
        await services(request).staff.invite(
            values.get("email", ""), role, poles if role == "gestionnaire" else [], staff["id"]
        )
    except AppError as exc:
        return await team(request, problem=exc.message, values={**values, "poles": poles})
    return RedirectResponse(f"{request.app.url_path_for('staff_team')}?info=invite", status_code=303)


async def disable(request: Request) -> Response:
    staff = await admin_only(request)
    values = await form_values(request)
    try:
        await services(request).staff.disable(values.get("email", ""), staff["id"])
    except AppError as exc:
        return await team(request, problem=exc.message)
    return RedirectResponse(f"{request.app.url_path_for('staff_team')}?info=disable", status_code=303)
