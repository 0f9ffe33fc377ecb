"""/espace: the candidate's home, only when logged in: where the enrolment stands, what is left
to do, the deadline and whom to call."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.clock import from_iso
from formservice.enrolment import rules
from formservice.web.candidate.enrolment import space_of
from formservice.web.rendering import render

INFO = {"mot-de-passe": "Votre mot de passe a été modifié. Vos autres sessions ont été fermées."}


async def home(request: Request) -> Response:
    space = await space_of(request)
    notice, context, enrolment = space.notice, space.context, space.enrolment
    context.update(
        created_at=from_iso(space.account["created_at"]),
        info=INFO.get(request.query_params.get("info", "")),
        missing=rules.missing_documents(notice, enrolment) if enrolment and enrolment.get("version") else [],
    )
    return await render(request, "candidate/space/home.html", context)
