"""/espace: the candidate's home, only when logged in: where the enrolment stands, what is left
to do, the deadline and whom to call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.clock import from_iso
from formservice.enrolment import rules
from formservice.web.candidate.enrolment import space_context
from formservice.web.rendering import render

INFO = {"mot-de-passe": "Votre mot de passe a été modifié. Vos autres sessions ont été fermées."}


async def home(request: Request) -> Response:
    account, notice, _now, context = await space_context(request)
    enrolment = context["enrolment"]
    context.update(
        created_at=from_iso(account["created_at"]),
        info=INFO.get(request.query_params.get("info", "")),
        missing=rules.missing_documents(notice, enrolment) if enrolment and enrolment.get("version") else [],
    )
    return await render(request, "space/home.html", context)
