"""/gestion/courriels: the administrateurs' view of the mails the relay refused or could not
take for three days (``formservice mail status`` on the web), to send again or give up.

A mail's text is never shown: it may hold a candidate's single-use link. Every action is
audited."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from formservice.errors import BadRequest
from formservice.web.forms import form_values
from formservice.web.rendering import render
from formservice.web.services import services
from formservice.web.staff.team import admin_only

INFO = {
    "retry": "Le courriel est remis dans la file d'envoi.",
    "discard": "Le courriel est abandonné.",
    "gone": "Ce courriel n'est plus en échec (déjà renvoyé ou abandonné).",
}


async def mails(request: Request) -> Response:
    staff = await admin_only(request)
    pending, failed = await services(request).mail.status()
    context = {
        "staff": staff,
        "pending": len(pending),
        "failed": sorted(failed, key=lambda m: m["created_at"], reverse=True),
        "info": INFO.get(request.query_params.get("info", "")),
    }
    return await render(request, "staff/mails.html", context)


async def mail_action(request: Request) -> Response:
    staff = await admin_only(request)
    values = await form_values(request)
    action, mail_id = values.get("action", ""), values.get("mail", "")
    svc = services(request)
    if action == "retry":
        done = await svc.mail.retry(mail_id)
    elif action == "discard":
        done = await svc.mail.discard(mail_id)
    else:
        raise BadRequest("Action inconnue : revenez à la page des courriels et choisissez un bouton.")
    if done:
        svc.audit.event(f"staff.outbox_{action}", staff_id=staff["id"], outbox_id=mail_id)
    path = request.app.url_path_for("staff_mails")
    return RedirectResponse(f"{path}?info={action if done else 'gone'}", status_code=303)
