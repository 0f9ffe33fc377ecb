"""/espace: the candidate's home, only when logged in.

For now: the account and the session's dates. The enrolment issue adds its sections
(« M'inscrire », « Mes documents », « Mes justificatifs ») to ``space/home.html``'s
``sections`` block and its own routes under /espace/...
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from formservice.clock import from_iso
from formservice.rendering import render
from formservice.sessions import require_account

INFO = {"mot-de-passe": "Votre mot de passe a été modifié. Vos autres sessions ont été fermées."}


async def home(request: Request) -> Response:
    account = await require_account(request)
    return await render(
        request,
        "space/home.html",
        {
            "created_at": from_iso(account["created_at"]),
            "info": INFO.get(request.query_params.get("info", "")),
        },
    )
